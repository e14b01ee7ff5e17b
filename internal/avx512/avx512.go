// Package avx512 holds crd's own AVX-512 kernels, written in C with
// intrinsics (norms.c, gram.c, sgemm.c, pool.c; avx512.h documents each
// with the plain loop it computes). They do not depend on the kernels OpenBLAS picks
// for the CPU. Package kernels decides where they are used.
//
// Norms computes the column squared norms of T Y without forming T Y: the
// CRD patch scores of one image in a single pass over T. T is a dense or an
// upper-triangular d x d matrix; for an upper-triangular one the kernel
// skips the zero half, so it does d^2 p multiply-adds instead of the 2 d^2 p
// flops of the dense product. It keeps each 12 x 32 tile of T Y in
// registers over its inner product, squares it there and adds it to the
// scores, so the d x p product never reaches memory.
//
// GramUpper adds Y Y^T to a float64 Gram matrix (a dsyrk), from features
// packed by PackPanel.
//
// Sgemm is the float32 matrix product of the convolutions (lowered to
// im2col) and of the nearest-neighbour distances.
//
// PoolRows is the max and average pooling of NHWC maps, 16 channels to a
// vector.
//
// ConvPlanes is a direct convolution of an NCHW input into 32 NHWC output
// channels (a trunk's first convolution), reading the planes in place.
//
// They run on amd64 with cgo and an AVX-512 CPU (Supported); elsewhere
// Norms, GramUpper, Sgemm and PoolRows panic (PackPanel packs in Go), and
// callers use BLAS (sgemm, dsyrk) or Go loops (pooling) instead.
package avx512

import (
	"fmt"

	"golang.org/x/sys/cpu"

	"github.com/crd-ad/crd/internal/parallel"
)

// Supported reports whether the kernels run here: a cgo amd64 build, on a
// CPU with AVX-512F whose registers the OS saves.
func Supported() bool { return built && cpu.X86.HasAVX512F }

// errUnsupported is the panic of a kernel called where it does not run.
const errUnsupported = "avx512: no AVX-512 kernel in this build or on this CPU"

// MR is the number of rows of T per register tile; Pack pads d up to a
// multiple of it with zero rows.
const MR = 12

// Packed is a d x d row-major matrix T laid out for the kernel: tiles of MR
// rows, each stored k-major (the MR entries of column k together).
type Packed struct {
	d     int
	tiles int
	upper bool
	a     []float32

	free parallel.FreeList[scratch]
}

// Pack lays out the d x d row-major matrix m for Norms. With upper, m must
// be upper triangular (zero below the diagonal); Norms then skips, in each
// tile of MR rows, the columns left of the tile's first row.
func Pack(m []float32, d int, upper bool) *Packed {
	if len(m) != d*d {
		panic(fmt.Sprintf("avx512: Pack: %d values for %d x %d", len(m), d, d))
	}
	tiles := (d + MR - 1) / MR
	a := make([]float32, tiles*MR*d)
	for t := 0; t < tiles; t++ {
		blk := a[t*MR*d : (t+1)*MR*d]
		for r := 0; r < MR; r++ {
			i := t*MR + r
			if i >= d {
				break
			}
			row := m[i*d : (i+1)*d]
			for k, v := range row {
				blk[k*MR+r] = v
			}
		}
	}
	return &Packed{d: d, tiles: tiles, upper: upper, a: a}
}

// NR is the number of columns per register tile.
const NR = 32

// Norms sets out[j] = ||T y_j||^2 for the p columns of the d x p row-major
// y: float32 products, summed in float32 over blocks of 96 rows of T and in
// float64 across blocks. It panics unless Supported.
func (pk *Packed) Norms(y []float32, p int, out []float32) {
	if !Supported() {
		panic(errUnsupported)
	}
	if p < 0 || len(y) != pk.d*p || len(out) < p {
		panic(fmt.Sprintf("avx512: %d features for %d x %d, %d outputs", len(y), pk.d, p, len(out)))
	}
	if p == 0 {
		return
	}
	// Cut the column panels into parts that the cores take one at a time:
	// each part packs its own panels and scores them against all of T.
	panels := (p + NR - 1) / NR
	parts := parallel.Chunks(panels, parallel.Workers(panels, 0))
	if p*pk.d < 1<<16 {
		parts = 1
	}
	s := pk.scratch(parts, p)
	for w := 0; w < parts; w++ {
		c0, c1 := min(p, w*panels/parts*NR), min(p, (w+1)*panels/parts*NR)
		s.tasks[w] = task{pk: pk, y: y, p: p, c0: c0, c1: c1, buf: s.bufs[w], acc: s.acc[c0:c1]}
	}
	parallel.Run(s.tasks[:parts])
	for j, v := range s.acc[:p] {
		out[j] = float32(v)
	}
	pk.put(s)
}

// task is one part of a Norms call: columns [c0, c1).
type task struct {
	pk        *Packed
	y         []float32
	p, c0, c1 int
	buf       []float32
	acc       []float64
}

func (t *task) Run() {
	if t.c0 < t.c1 {
		clear(t.acc)
		normsKernel(t.pk.a, t.pk.d, t.pk.tiles, t.pk.upper, t.y, t.p, t.c0, t.c1, t.buf, t.acc)
	}
}

type scratch struct {
	acc   []float64
	bufs  [][]float32
	tasks []task
}

// scratch returns buffers for parts parts of p columns: each part's
// packed panels and the float64 sums. Buffers are reused across calls.
func (pk *Packed) scratch(parts, p int) *scratch {
	s := pk.free.Get()
	if cap(s.acc) < p {
		s.acc = make([]float64, p)
	}
	panels := (p + NR - 1) / NR
	for len(s.bufs) < parts {
		s.bufs = append(s.bufs, nil)
		s.tasks = append(s.tasks, task{})
	}
	for w := 0; w < parts; w++ {
		need := ((w+1)*panels/parts - w*panels/parts) * pk.d * NR
		if cap(s.bufs[w]) < need {
			s.bufs[w] = make([]float32, need)
		}
		s.bufs[w] = s.bufs[w][:cap(s.bufs[w])]
	}
	return s
}

func (pk *Packed) put(s *scratch) { pk.free.Put(s) }
