package avx512

import (
	"fmt"
	"math"

	"github.com/crd-ad/crd/internal/parallel"
)

// The register tile of Sgemm's kernel (avx512.h: SMR x SNR, parts of SKC
// inner indices).
const (
	// sgemmRowTile is the row tile: callers split rows at its multiples.
	sgemmRowTile = 12
	// sgemmPanel is the column width of a packed panel of B.
	sgemmPanel = 32
	// sgemmABuf is the length of the buffer crd_sgemm needs for a partial
	// tile of rows.
	sgemmABuf = sgemmRowTile * 256
)

// PackedB is a k x n float32 matrix laid out for Sgemm's kernel: column
// panels of 32, in parts of 256 inner indices. Packing B once serves any
// number of products by it (the nearest-neighbour distances multiply every
// chunk of the memory bank by the same image features).
type PackedB struct {
	k, n int
	buf  []float32
	// cuts are the boundaries of the parts of the inner dimension (0, ...,
	// k), nil for parts of 256.
	cuts []int32
}

// MaxPart is the longest part of the inner dimension that PackParts
// accepts.
const MaxPart = 256

// Pack lays out the k x n row-major b (row stride ldb) in pb, reusing pb's
// buffer, on all cores. It panics on a slice too short for the shape, or
// unless Supported.
func (pb *PackedB) Pack(k, n int, b []float32, ldb int) {
	pb.PackParts(k, n, b, ldb, nil)
}

// PackParts is Pack with the inner dimension cut into the given parts
// (their lengths, each 1 to MaxPart, summing to k; nil: parts of MaxPart,
// the last one shorter). The kernel stores and reloads C between parts,
// which does not change the values, so the parts matter only to MulConv:
// each part of a tile of A must lie in one piece. It panics on parts that
// do not fit.
func (pb *PackedB) PackParts(k, n int, b []float32, ldb int, parts []int) {
	if !Supported() {
		panic(errUnsupported)
	}
	if k < 0 || n < 0 || ldb < max(n, 1) || (k > 0 && n > 0 && len(b) < (k-1)*ldb+n) {
		panic(fmt.Sprintf("avx512: Pack: %d x %d with stride %d on %d values", k, n, ldb, len(b)))
	}
	pb.cuts = pb.cuts[:0]
	if parts != nil {
		pb.cuts = append(pb.cuts, 0)
		sum := 0
		for _, l := range parts {
			if l < 1 || l > MaxPart {
				panic(fmt.Sprintf("avx512: PackParts: a part of %d inner indices", l))
			}
			sum += l
			pb.cuts = append(pb.cuts, int32(sum))
		}
		if sum != k {
			panic(fmt.Sprintf("avx512: PackParts: parts of %d inner indices for %d", sum, k))
		}
	} else {
		pb.cuts = nil
	}
	panels := (n + sgemmPanel - 1) / sgemmPanel
	if need := k * panels * sgemmPanel; cap(pb.buf) < need {
		pb.buf = make([]float32, need)
	}
	pb.k, pb.n = k, n
	if k == 0 || n == 0 {
		return
	}
	parts0 := parallel.Chunks(panels, parallel.Workers(panels, 0))
	if k*n < 1<<16 {
		parts0 = 1
	}
	call := getSgemmCall(parts0)
	for w := 0; w < parts0; w++ {
		t := &call.tasks[w]
		*t = sgemmTask{pack: true, k: k, n: n, b: b, ldb: ldb, pb: pb.buf, cuts: pb.cuts,
			q0: w * panels / parts0, q1: (w + 1) * panels / parts0, abuf: t.abuf}
	}
	call.run(parts0)
}

// Mul computes C = alpha A B, or C = alpha A B + C when beta1, for the
// packed B (k x n) and row-major A (m x k) and C (m x n) with row strides
// lda and ldc. The rows are cut into parallel.Chunks blocks of whole tiles
// that GOMAXPROCS goroutines take one at a time (parallel.Run); each
// element of C is computed by one of them in the same order however the
// rows are cut, so the result does not depend on the number of cores. It
// panics on slices too short for the shapes.
func (pb *PackedB) Mul(m int, alpha float32, a []float32, lda int, beta1 bool, c []float32, ldc int) {
	if !pb.check("Mul", m, a, lda, beta1, c, ldc) {
		return
	}
	k, n := pb.k, pb.n
	// Row ranges in whole tiles; small products stay on one core.
	tiles := (m + sgemmRowTile - 1) / sgemmRowTile
	parts := parallel.Chunks(tiles, parallel.Workers(tiles, 0))
	if m*n*k < 1<<18 {
		parts = 1
	}
	call := getSgemmCall(parts)
	for w := 0; w < parts; w++ {
		r0 := w * tiles / parts * sgemmRowTile
		r1 := min(m, (w+1)*tiles/parts*sgemmRowTile)
		t := &call.tasks[w]
		abuf := t.abuf
		if cap(abuf) < sgemmABuf {
			abuf = make([]float32, sgemmABuf)
		}
		*t = sgemmTask{m: r1 - r0, n: n, k: k, alpha: alpha, beta1: beta1, a: a[r0*lda:], lda: lda,
			pb: pb.buf, cuts: pb.cuts, c: c[r0*ldc:], ldc: ldc, abuf: abuf}
	}
	call.run(parts)
}

// MulScratch is the length of the scratch slice MulRows needs.
const MulScratch = sgemmABuf

// MulRows is Mul on the calling goroutine alone, for a caller that hands
// blocks of rows to goroutines itself (nn's convolutions gather each block
// of rows just before multiplying it). scratch holds MulScratch floats.
// The values are Mul's.
func (pb *PackedB) MulRows(m int, alpha float32, a []float32, lda int, beta1 bool, c []float32, ldc int, scratch []float32) {
	if len(scratch) < MulScratch {
		panic(fmt.Sprintf("avx512: MulRows: %d floats of scratch, want %d", len(scratch), MulScratch))
	}
	if pb.check("MulRows", m, a, lda, beta1, c, ldc) {
		sgemmKernel(m, pb.n, pb.k, alpha, a, lda, pb.buf, pb.cuts, beta1, c, ldc, scratch)
	}
}

// MulRowsEpilogue is MulRows (alpha = 1, on the calling goroutine) with
// the epilogue of a convolution fused into the kernel's last pass over C:
//
//	C = A B + res, then + bias[j] on column j, then the ReLU when relu
//
// res (row stride ldr) may be nil (nothing added) or alias C with ldr =
// ldc; bias may be nil. The ReLU clears every value with the sign bit set
// (negatives, -0 and NaNs with the sign bit), as nn's addBiasReLU does. The
// values are bit for bit those of copying res into C, MulRows with beta1
// (or without, when res is nil), then adding the bias and applying the
// ReLU in float32; C is stored once. It panics on slices too short for the
// shapes.
func (pb *PackedB) MulRowsEpilogue(m int, a []float32, lda int, res []float32, ldr int, bias []float32, relu bool, c []float32, ldc int, scratch []float32) {
	pb.MulRowsEpiloguePanels(0, pb.Panels(), m, a, lda, res, ldr, bias, relu, c, ldc, scratch)
}

// Panels is the number of column panels of pb, ceil(n / 32): panel q is
// columns [32q, min(32q + 32, n)).
func (pb *PackedB) Panels() int { return (pb.n + sgemmPanel - 1) / sgemmPanel }

// MulRowsEpiloguePanels is MulRowsEpilogue on the columns of panels [q0,
// q1) only (0 <= q0 <= q1 <= Panels()): the other columns of C are not
// touched. Each value computed is MulRowsEpilogue's, bit for bit, so that
// callers may cut a product over panels as well as over rows (a small
// left matrix times large weights: each core streams only its panels).
func (pb *PackedB) MulRowsEpiloguePanels(q0, q1, m int, a []float32, lda int, res []float32, ldr int, bias []float32, relu bool, c []float32, ldc int, scratch []float32) {
	if q0 < 0 || q1 < q0 || q1 > pb.Panels() {
		panic(fmt.Sprintf("avx512: MulRowsEpiloguePanels: panels [%d, %d) of %d", q0, q1, pb.Panels()))
	}
	if len(scratch) < MulScratch {
		panic(fmt.Sprintf("avx512: MulRowsEpilogue: %d floats of scratch, want %d", len(scratch), MulScratch))
	}
	n := pb.n
	if res != nil && m > 0 && n > 0 && (ldr < n || len(res) < (m-1)*ldr+n) {
		panic(fmt.Sprintf("avx512: MulRowsEpilogue: residual of %d values with stride %d for %d x %d", len(res), ldr, m, n))
	}
	if bias != nil && len(bias) < n {
		panic(fmt.Sprintf("avx512: MulRowsEpilogue: %d bias values for %d columns", len(bias), n))
	}
	if m == 0 || n == 0 || q0 == q1 {
		return
	}
	if pb.k == 0 {
		// No product: C = res + bias, ReLU, as the kernel would.
		j0, j1 := q0*sgemmPanel, min(q1*sgemmPanel, n)
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := j0; j < j1; j++ {
				var v float32
				if res != nil {
					v = res[i*ldr+j]
				}
				if bias != nil {
					v += bias[j]
				}
				if relu && math.Signbit(float64(v)) {
					v = 0
				}
				row[j] = v
			}
		}
		return
	}
	pb.check("MulRowsEpilogue", m, a, lda, res != nil, c, ldc)
	sgemmEpiKernel(m, n, pb.k, a, lda, pb.buf, pb.cuts, res, ldr, bias, relu, c, ldc, scratch, q0, q1)
}

// MulConv is MulRowsEpilogue (C = A B + res, + bias, ReLU; res not
// aliasing C unless ldr = ldc) for m rows of a convolution whose left
// matrix A is read where it lies, a tile of 12 rows at a time, instead of
// being gathered first: tile t (rows [12t, 12t+12)) is tiles[t]. A value d
// >= 0 says that row r of the tile holds, in part p of the inner dimension
// (the parts given to PackParts), the values x[d + xoff[p] + r*xstride :]
// (one for each index of the part); d < 0 says that it is row -1-d+r of
// g (row stride ldg, a full row of k values), all 12 rows of it, also for
// a last tile that m cuts short (its extra rows are computed, not stored).
// The values are MulRowsEpilogue's on the matrix that the tiles describe.
// It panics on slices too short for the shapes or on a tile reading past
// its slice.
func (pb *PackedB) MulConv(m int, x []float32, xstride int, xoff []int64, g []float32, ldg int, tiles []int64,
	res []float32, ldr int, bias []float32, relu bool, c []float32, ldc int) {
	pb.MulConvPanels(0, pb.Panels(), m, x, xstride, xoff, g, ldg, tiles, res, ldr, bias, relu, c, ldc)
}

// MulConvPanels is MulConv on the columns of panels [q0, q1) only (0 <= q0
// <= q1 <= Panels()), as MulRowsEpiloguePanels is MulRowsEpilogue: the
// other columns of C are not touched and each value computed is MulConv's,
// bit for bit.
func (pb *PackedB) MulConvPanels(q0, q1, m int, x []float32, xstride int, xoff []int64, g []float32, ldg int, tiles []int64,
	res []float32, ldr int, bias []float32, relu bool, c []float32, ldc int) {
	k := pb.k
	nt := (m + sgemmRowTile - 1) / sgemmRowTile
	cuts := pb.convCuts("MulConvPanels", q0, q1, m, xoff, len(tiles) >= nt, res, ldr, bias, c, ldc)
	if cuts == nil {
		return
	}
	last := sgemmRowTile - 1
	for t, d := range tiles[:nt] {
		if d < 0 {
			row := -1 - d
			if ldg < k || (row+int64(last))*int64(ldg)+int64(k) > int64(len(g)) {
				panic(fmt.Sprintf("avx512: MulConv: tile %d reads rows %d to %d of %d gathered values with stride %d", t, row, row+int64(last), len(g), ldg))
			}
			continue
		}
		for p, off := range xoff {
			lo := d + off
			hi := lo + int64(last)*int64(xstride) + int64(cuts[p+1]-cuts[p])
			if xstride < 0 || lo < 0 || hi > int64(len(x)) {
				panic(fmt.Sprintf("avx512: MulConv: tile %d reads values %d to %d of %d in part %d", t, lo, hi, len(x), p))
			}
		}
	}
	convKernel(m, pb.n, pb.buf, cuts, x, xstride, xoff, g, ldg, tiles, res, ldr, bias, relu, c, ldc, q0, q1)
}

// MulConvRowsPanels is MulConvPanels with the left matrix A given row by
// row rather than tile by tile: row i (0 <= i < m) holds, in part p of the
// inner dimension (the parts given to PackParts), the values
// x[rowoff[i] + xoff[p] :] (one for each index of the part) when rowoff[i]
// >= 0, else it is row -1-rowoff[i] of g (row stride ldg, a full row of k
// values). A convolution's rows are its output pixels, rowoff[i] where
// pixel i's window starts in the input, or a pixel whose window reaches
// the padding gathered into g: tiles of 12 pixels that cross an output row
// or whose windows are not evenly spaced are read in place too. The values
// are MulRowsEpilogue's on the matrix that the rows describe, bit for bit,
// on the columns of panels [q0, q1) only. It panics on slices too short
// for the shapes or on a row reading past x or g.
func (pb *PackedB) MulConvRowsPanels(q0, q1, m int, x []float32, xoff, rowoff []int64, g []float32, ldg int,
	res []float32, ldr int, bias []float32, relu bool, c []float32, ldc int) {
	k := pb.k
	cuts := pb.convCuts("MulConvRowsPanels", q0, q1, m, xoff, len(rowoff) >= m, res, ldr, bias, c, ldc)
	if cuts == nil {
		return
	}
	// A row in place reads [rowoff[i] + lo, rowoff[i] + hi) of x.
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for p, off := range xoff {
		lo, hi = min(lo, off), max(hi, off+int64(cuts[p+1]-cuts[p]))
	}
	for i, d := range rowoff[:m] {
		if d >= 0 && d+hi > int64(len(x)) || d >= 0 && d+lo < 0 ||
			d < 0 && (ldg < k || (-1-d)*int64(ldg)+int64(k) > int64(len(g))) {
			panic(fmt.Sprintf("avx512: MulConvRows: row %d (offset %d) reads past x (%d values, parts at %d to %d) or g (%d, stride %d)",
				i, d, len(x), lo, hi, len(g), ldg))
		}
	}
	convRowsKernel(m, pb.n, pb.buf, cuts, x, xoff, rowoff, g, ldg, res, ldr, bias, relu, c, ldc, q0, q1)
}

// convCuts checks the shapes common to MulConvPanels and
// MulConvRowsPanels (name) on m rows, A's description of the rows being
// long enough when rowsOK, and returns the boundaries of the parts of the
// inner dimension (0, ..., k), or nil when there is nothing to compute.
func (pb *PackedB) convCuts(name string, q0, q1, m int, xoff []int64, rowsOK bool, res []float32, ldr int, bias []float32, c []float32, ldc int) []int32 {
	k, n := pb.k, pb.n
	if q0 < 0 || q1 < q0 || q1 > pb.Panels() {
		panic(fmt.Sprintf("avx512: %s: panels [%d, %d) of %d", name, q0, q1, pb.Panels()))
	}
	if m <= 0 || n == 0 || q0 == q1 {
		return nil
	}
	cuts := pb.cuts
	if cuts == nil {
		for pc := 0; pc < k; pc += MaxPart {
			cuts = append(cuts, int32(pc))
		}
		cuts = append(cuts, int32(k))
	}
	nparts := len(cuts) - 1
	if k == 0 || len(xoff) != nparts || !rowsOK || ldc < n || len(c) < (m-1)*ldc+n ||
		(res != nil && (ldr < n || len(res) < (m-1)*ldr+n)) || (bias != nil && len(bias) < n) {
		panic(fmt.Sprintf("avx512: %s: %d x %d x %d with %d parts, %d offsets (rows described: %v), C %d (stride %d)",
			name, m, n, k, nparts, len(xoff), rowsOK, len(c), ldc))
	}
	return cuts
}

// check panics unless the shapes of a Mul or MulRows call fit the slices,
// handles the products with nothing to multiply (C cleared unless beta1),
// and reports whether the kernel has work left.
func (pb *PackedB) check(name string, m int, a []float32, lda int, beta1 bool, c []float32, ldc int) bool {
	k, n := pb.k, pb.n
	if m < 0 || lda < max(k, 1) || ldc < max(n, 1) ||
		(m > 0 && k > 0 && len(a) < (m-1)*lda+k) || (m > 0 && n > 0 && len(c) < (m-1)*ldc+n) {
		panic(fmt.Sprintf("avx512: %s: %d x %d x %d with strides %d, %d on %d, %d values", name, m, n, k, lda, ldc, len(a), len(c)))
	}
	if m == 0 || n == 0 {
		return false
	}
	if k == 0 {
		if !beta1 {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return false
	}
	return true
}

// Sgemm computes C = alpha A B, or C = alpha A B + C when beta1, in
// float32: A is m x k, B is k x n, C is m x n, all row-major with row
// strides lda, ldb and ldc (OpenBLAS's cblas_sgemm with no transposes and
// beta 0 or 1: what a convolution lowered to a matrix product needs). It
// packs B (PackedB) on all cores, then multiplies with 12 x 32 register
// tiles, reading A in place, with blocks of rows taken by GOMAXPROCS
// goroutines one at a time. It panics on slices too short for the shapes, or unless
// Supported.
func Sgemm(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta1 bool, c []float32, ldc int) {
	if !Supported() {
		panic(errUnsupported)
	}
	if m < 0 || n < 0 || k < 0 || lda < max(k, 1) || ldb < max(n, 1) || ldc < max(n, 1) ||
		(m > 0 && k > 0 && len(a) < (m-1)*lda+k) || (k > 0 && n > 0 && len(b) < (k-1)*ldb+n) ||
		(m > 0 && n > 0 && len(c) < (m-1)*ldc+n) {
		panic(fmt.Sprintf("avx512: Sgemm: %d x %d x %d with strides %d, %d, %d on %d, %d, %d values",
			m, n, k, lda, ldb, ldc, len(a), len(b), len(c)))
	}
	if m == 0 || n == 0 {
		return
	}
	pb := packedBs.Get()
	pb.Pack(k, n, b, ldb)
	pb.Mul(m, alpha, a, lda, beta1, c, ldc)
	packedBs.Put(pb)
}

// sgemmTask is one part of a Pack (panels [q0, q1)) or of a Mul (a block
// of rows).
type sgemmTask struct {
	pack          bool
	m, n, k       int
	alpha         float32
	beta1         bool
	a, b, c, pb   []float32
	lda, ldb, ldc int
	q0, q1        int
	abuf          []float32
	cuts          []int32
}

func (t *sgemmTask) Run() {
	if t.pack {
		packBKernel(t.k, t.n, t.b, t.ldb, t.pb, t.q0, t.q1, t.cuts)
		return
	}
	sgemmKernel(t.m, t.n, t.k, t.alpha, t.a, t.lda, t.pb, t.cuts, t.beta1, t.c, t.ldc, t.abuf)
}

// sgemmCall is the state of one Pack or Mul call, reused through a free
// list so that a call does not allocate.
type sgemmCall struct {
	tasks []sgemmTask
}

// run runs tasks [0, parts) with parallel.Run. It then drops the tasks'
// references to the caller's matrices and returns the call to the free
// list.
func (call *sgemmCall) run(parts int) {
	parallel.Run(call.tasks[:parts])
	for w := range call.tasks[:parts] {
		t := &call.tasks[w]
		t.a, t.b, t.c, t.pb, t.cuts = nil, nil, nil, nil, nil
	}
	calls.Put(call)
}

// calls and packedBs are the scratch of Mul, Pack and Sgemm calls.
var (
	calls    parallel.FreeList[sgemmCall]
	packedBs parallel.FreeList[PackedB]
)

func getSgemmCall(parts int) *sgemmCall {
	c := calls.Get()
	for len(c.tasks) < parts {
		c.tasks = append(c.tasks, sgemmTask{})
	}
	return c
}
