package avx512

import "fmt"

// Bilinear are the taps of a bilinear resize along one axis: output i is
// W0[i] x[I0[i]] + W1[i] x[I1[i]].
type Bilinear struct {
	I0, I1 []int32
	W0, W1 []float32
}

// check panics unless b has out taps, all inside [0, in).
func (b *Bilinear) check(in, out int) {
	if len(b.I0) != out || len(b.I1) != out || len(b.W0) != out || len(b.W1) != out {
		panic(fmt.Sprintf("avx512: ResizeBilinear: %d, %d, %d and %d taps for %d outputs", len(b.I0), len(b.I1), len(b.W0), len(b.W1), out))
	}
	for i := range out {
		if b.I0[i] < 0 || int(b.I0[i]) >= in || b.I1[i] < 0 || int(b.I1[i]) >= in {
			panic(fmt.Sprintf("avx512: ResizeBilinear: output %d reads %d and %d of %d", i, b.I0[i], b.I1[i], in))
		}
	}
}

// ResizeBilinear resizes the n planes of x (each sh x sw, one after the
// other) to h x w into dst with the taps ty (rows) and tx (columns): for
// each plane, with rows (sh x w values of scratch),
//
//	rows[sy*w+ox] = tx.W0[ox]*src[sy*sw+tx.I0[ox]] + tx.W1[ox]*src[sy*sw+tx.I1[ox]]
//	out[oy*w+ox] = ty.W0[oy]*rows[ty.I0[oy]*w+ox] + ty.W1[oy]*rows[ty.I1[oy]*w+ox]
//
// with every product and sum rounded to float32 as Go rounds them (no
// fused multiply-add), 16 outputs at a time: the same values bit for bit.
// It panics on taps outside the planes, short slices, or unless Supported.
func ResizeBilinear(x []float32, n, sh, sw, h, w int, ty, tx *Bilinear, rows, dst []float32) {
	if !Supported() {
		panic(errUnsupported)
	}
	if n <= 0 || sh <= 0 || sw <= 0 || h <= 0 || w <= 0 || len(x) < n*sh*sw || len(rows) < sh*w || len(dst) < n*h*w {
		panic(fmt.Sprintf("avx512: ResizeBilinear: %d planes %d x %d to %d x %d from %d values into %d, %d of scratch",
			n, sh, sw, h, w, len(x), len(dst), len(rows)))
	}
	ty.check(sh, h)
	tx.check(sw, w)
	bilinearKernel(x, n, sh, sw, h, w, ty, tx, rows, dst)
}
