package avx512

import "fmt"

// The patch-major helpers of crd.Model.ScoreLayers: matrices whose rows
// are patches (positions of a grid, row-major) and whose columns are
// features, each row's first n values used, rows ld floats apart.

// RowNorms adds to acc[j] the squared norm of the first n values of row j
// of the p rows of z (stride ldz), products and sums in float64. It panics
// on slices too short for the shapes, or unless Supported.
func RowNorms(z []float32, ldz, n, p int, acc []float64) {
	if !Supported() {
		panic(errUnsupported)
	}
	if n < 0 || p < 0 || ldz < n || len(acc) < p || (n > 0 && p > 0 && len(z) < (p-1)*ldz+n) {
		panic(fmt.Sprintf("avx512: RowNorms: %d rows of %d (stride %d) from %d values into %d", p, n, ldz, len(z), len(acc)))
	}
	if n == 0 || p == 0 {
		return
	}
	rowNormsKernel(z, ldz, n, p, acc)
}

// NeighbourDots adds to g (5 pc float64s: five runs of pc) the inner
// products of the first n values of each row k of z (stride ldz; pc rows,
// the positions of a grid wc wide) with row k itself and with rows k+1,
// k+wc-1, k+wc and k+wc+1 where they are below pc: what the squared norms
// of the rows after a bilinear resize need (crd.Model.ScoreLayers).
// Products and sums are float64. It panics on slices too short for the
// shapes, or unless Supported.
func NeighbourDots(z []float32, ldz, n, pc, wc int, g []float64) {
	if !Supported() {
		panic(errUnsupported)
	}
	if n < 0 || pc < 0 || wc < 1 || ldz < n || len(g) < 5*pc || (n > 0 && pc > 0 && len(z) < (pc-1)*ldz+n) {
		panic(fmt.Sprintf("avx512: NeighbourDots: %d rows of %d (stride %d) from %d values, %d sums", pc, n, ldz, len(z), len(g)))
	}
	if n == 0 || pc == 0 {
		return
	}
	neighbourDotsKernel(z, ldz, n, pc, wc, g)
}

// ResizeRows resizes the first n values of the rows of src (stride lds;
// the positions of an hc x wc grid) bilinearly to an h x w grid with the
// taps ty (rows) and tx (columns), into the rows of dst (stride ldd), or
// adds the result to them when add. Each value is
//
//	ty.W0*(tx.W0*a + tx.W1*b) + ty.W1*(tx.W0*c + tx.W1*e)
//
// for its four source values, every product and sum rounded to float32 as
// Go rounds them (no fused multiply-add): nn's NHWC resize of n channels.
// It panics on taps outside the grid, short slices, or unless Supported.
func ResizeRows(src []float32, lds, hc, wc, n int, ty, tx *Bilinear, h, w int, dst []float32, ldd int, add bool) {
	if !Supported() {
		panic(errUnsupported)
	}
	if n < 0 || hc <= 0 || wc <= 0 || h <= 0 || w <= 0 || lds < n || ldd < n ||
		len(src) < (hc*wc-1)*lds+n || len(dst) < (h*w-1)*ldd+n {
		panic(fmt.Sprintf("avx512: ResizeRows: %d x %d rows of %d (stride %d) from %d values to %d x %d (stride %d) into %d",
			hc, wc, n, lds, len(src), h, w, ldd, len(dst)))
	}
	ty.check(hc, h)
	tx.check(wc, w)
	if n == 0 {
		return
	}
	resizeRowsKernel(src, lds, wc, n, ty, tx, h, w, dst, ldd, add)
}
