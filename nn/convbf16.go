package nn

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/internal/parallel"
)

// Precision is the arithmetic of a convolution's products: Float32 (the
// zero value) or BF16.
type Precision uint8

const (
	// Float32 multiplies and sums in float32.
	Float32 Precision = iota
	// BF16 rounds the weights and the input to bfloat16 (8 bits of
	// mantissa, round to nearest even, as avx512.ToBF16) and sums their
	// exact products in float32: on a CPU with AVX512_BF16 with
	// vdpbf16ps (avx512.PackedBF16), elsewhere by rounding both operands
	// and running the float32 product (kernels.ConvBF16 decides). The two
	// differ only in the order of the sums.
	BF16
)

// precisionNames are the precisions' names, as String gives them.
var precisionNames = [...]string{Float32: "float32", BF16: "bf16"}

// String is the precision's name: "float32" or "bf16".
func (p Precision) String() string {
	if int(p) < len(precisionNames) {
		return precisionNames[p]
	}
	return fmt.Sprintf("Precision(%d)", uint8(p))
}

// ParsePrecision reads a precision's name ("float32" or "bf16"); the
// error for any other lists both.
func ParsePrecision(s string) (Precision, error) {
	for p, name := range precisionNames {
		if s == name {
			return Precision(p), nil
		}
	}
	return 0, fmt.Errorf("unknown precision %q (want float32 or bf16)", s)
}

// bf16Weights is a bf16 convolution's weights, made from Weight on first
// use by each path: rounded to bf16 as float32s (the emulation) and packed
// for the bf16 kernel.
type bf16Weights struct {
	roundOnce sync.Once
	rounded   []float32
	packOnce  sync.Once
	packed    avx512.PackedBF16
}

// SetPrecision sets the arithmetic of the convolution's products. With
// BF16 the weights are rounded (and packed for the kernel) on the first
// Forward of each path, from Weight as it is then: set the weights, fold
// the batch norm, then run. Setting a precision again starts anew.
func (c *Conv2D) SetPrecision(p Precision) {
	c.bf16 = nil
	if p == BF16 {
		c.bf16 = new(bf16Weights)
	}
}

// Precision is the convolution's precision (SetPrecision).
func (c *Conv2D) Precision() Precision {
	if c.bf16 != nil {
		return BF16
	}
	return Float32
}

// runBF16 is run for a bf16 convolution: the bf16 kernel, block by block,
// where kern runs ConvBF16 on it, else the emulation.
func (c *Conv2D) runBF16(dst *NHWC, c0 int, x, res *NHWC, g Geometry, direct bool, ws *Workspace, kern kernels.Set) {
	if kern.UsesAVX512(kernels.ConvBF16) {
		c.runBF16Blocks(dst, c0, x, res, g, direct, ws)
		return
	}
	w := c.bf16
	w.roundOnce.Do(func() {
		w.rounded = make([]float32, len(c.Weight))
		roundBF16(w.rounded, c.Weight)
	})
	xr := &ws.bf16In
	xr.Reshape(x.N, x.H, x.W, x.C)
	parallel.For(len(x.Data), 0, func(lo, hi int) { roundBF16(xr.Data[lo:hi], x.Data[lo:hi]) })
	e := *c
	e.Weight, e.bf16 = w.rounded, nil
	e.run(dst, c0, xr, res, ws)
}

// roundBF16 sets dst[i] = avx512.RoundBF16(src[i]).
func roundBF16(dst, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = avx512.RoundBF16(v)
	}
}

// bf16Blocks is the scratch of the bf16 kernel's block path, kept in a
// Workspace.
type bf16Blocks struct {
	call   bf16Call
	blocks []bf16Block
	// bufs holds one buffer per goroutine that may run a block at once:
	// the block's im2col rows in float32, and in bf16 followed by
	// avx512.BF16Scratch values.
	bufs    chan bf16Buf
	fLen    int
	hLen    int
	bufProc int
}

type bf16Buf struct {
	f []float32
	h []uint16
}

// bf16Call is what the blocks of one bf16 convolution call share.
type bf16Call struct {
	c      *Conv2D
	dst    *NHWC
	c0     int
	x, res *NHWC
	g      Geometry
	direct bool
	bufs   chan bf16Buf
}

// bf16Block is output pixels [r0, r1) of a bf16 convolution call.
type bf16Block struct {
	call   *bf16Call
	r0, r1 int
}

// Run computes the block: gather, convert to bf16, multiply, bias and
// ReLU.
func (b *bf16Block) Run() {
	c, dst, c0 := b.call.c, b.call.dst, b.call.c0
	buf := <-b.call.bufs
	k, n := c.K(), b.r1-b.r0
	kp := (k + 1) &^ 1
	a := buf.h[:n*kp]
	avx512.BF16Rows(n, k, b.call.im2col(b.r0, b.r1, buf.f), k, a, kp)
	copyResidual(dst, c0, b.call.res, b.r0, b.r1)
	c.bf16.packed.MulRows(n, a, kp, b.call.res != nil, dst.Data[b.r0*dst.C+c0:], dst.C, buf.h[len(buf.h)-avx512.BF16Scratch:])
	c.epilogueRows(dst, c0, b.r0, b.r1)
	b.call.bufs <- buf
}

// im2col returns the im2col rows of output pixels [r0, r1): the input
// itself for a direct (1x1) convolution, else gathered into buf.
func (cc *bf16Call) im2col(r0, r1 int, buf []float32) []float32 {
	k := cc.c.K()
	if cc.direct {
		return cc.x.Data[r0*k : r1*k]
	}
	buf = buf[:(r1-r0)*k]
	cc.c.im2colRows(buf, cc.x, cc.g, r0, r0, r1)
	return buf
}

// runBF16Blocks is run on the bf16 kernel, block by block as runBlocks
// does on the float32 one.
func (c *Conv2D) runBF16Blocks(dst *NHWC, c0 int, x, res *NHWC, g Geometry, direct bool, ws *Workspace) {
	w := c.bf16
	w.packOnce.Do(func() { w.packed.Pack(c.K(), c.Cout, c.Weight, c.Cout) })
	s := &ws.bf16
	rows := x.N * g.OutH * g.OutW
	k := c.K()
	procs := runtime.GOMAXPROCS(0)
	br := blockRows(rows, k, c.Cout, procs)
	fNeed := 0
	if !direct {
		fNeed = br * k
	}
	hNeed := br*((k+1)&^1) + avx512.BF16Scratch
	if s.bufs == nil || s.fLen < fNeed || s.hLen < hNeed || s.bufProc != procs {
		s.fLen, s.hLen, s.bufProc = max(fNeed, s.fLen), max(hNeed, s.hLen), procs
		s.bufs = make(chan bf16Buf, procs)
		for range procs {
			s.bufs <- bf16Buf{f: make([]float32, s.fLen), h: make([]uint16, s.hLen)}
		}
	}
	s.call = bf16Call{c: c, dst: dst, c0: c0, x: x, res: res, g: g, direct: direct, bufs: s.bufs}
	s.blocks = s.blocks[:0]
	for r0 := 0; r0 < rows; r0 += br {
		s.blocks = append(s.blocks, bf16Block{&s.call, r0, min(r0+br, rows)})
	}
	parallel.Run(s.blocks)
	s.call = bf16Call{} // no references to the caller's maps
}

// SetKernels makes ws run the convolutions with the kernels of s instead
// of the detected ones (tests force a path with it).
func (ws *Workspace) SetKernels(s kernels.Set) { ws.kern = s }
