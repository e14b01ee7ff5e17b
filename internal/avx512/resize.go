package avx512

import "fmt"

// MaxResizeTaps is the most taps per output column ResizePlane takes
// (xstep): the resize of a downscale by up to 31.
const MaxResizeTaps = 64

// ResizePlane is package preprocess's separable resize of one w x h plane
// src to a cw x ch window, cw = len(xs) and ch = len(ys), normalised:
//
//	tmp[y*cw+x] = float32(0) + xw[0*cw+x]*src[y*w+xs[x]] + xw[1*cw+x]*src[y*w+xs[x]+1] + ... (xn[x] taps)
//	v := float32(0) + yw[y*ystep]*tmp[ys[y]*cw+x] + yw[y*ystep+1]*tmp[(ys[y]+1)*cw+x] + ...  (yn[y] taps)
//	out[y*cw+x] = (v - mean) * inv
//
// with every product and sum rounded to float32 as Go rounds them (no
// fused multiply-add), 16 columns at a time: the same values bit for bit.
// The horizontal weights are laid out tap by tap (xw[k*cw+x], k < xn[x] <=
// xstep <= MaxResizeTaps), the vertical ones row by row (yw[y*ystep+k]).
// tmp holds h*cw values of scratch. It panics on taps outside the plane,
// short slices, or unless Supported.
func ResizePlane(src []float32, w, h int, xs, xn []int32, xw []float32, xstep int,
	ys, yn []int32, yw []float32, ystep int, mean, inv float32, tmp, out []float32) {
	if !Supported() {
		panic(errUnsupported)
	}
	cw, ch := len(xs), len(ys)
	if w <= 0 || h <= 0 || cw == 0 || ch == 0 || xstep < 1 || xstep > MaxResizeTaps || ystep < 1 ||
		len(xn) != cw || len(yn) != ch || len(xw) < xstep*cw || len(yw) < ystep*ch ||
		len(src) < w*h || len(tmp) < h*cw || len(out) < ch*cw {
		panic(fmt.Sprintf("avx512: ResizePlane: %d x %d to %d x %d, steps %d and %d, slices %d %d %d %d %d %d",
			w, h, cw, ch, xstep, ystep, len(xn), len(yn), len(xw), len(yw), len(tmp), len(out)))
	}
	checkTaps("column", xs, xn, xstep, w)
	checkTaps("row", ys, yn, ystep, h)
	resizeKernel(src, w, h, xs, xn, xw, xstep, ys, yn, yw, ystep, mean, inv, tmp, out)
}

// checkTaps panics unless every output's taps [s[i], s[i]+n[i]) lie in
// [0, size) and number at most step.
func checkTaps(what string, s, n []int32, step, size int) {
	for i := range s {
		if s[i] < 0 || n[i] < 0 || int(n[i]) > step || int(s[i])+int(n[i]) > size {
			panic(fmt.Sprintf("avx512: ResizePlane: output %s %d takes %d taps from %d of %d", what, i, n[i], s[i], size))
		}
	}
}
