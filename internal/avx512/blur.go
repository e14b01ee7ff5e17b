package avx512

import "fmt"

// BlurSum is one row of a separable blur with the symmetric kernel g (odd
// length 2r+1), its taps r-k and r+k paired, on rows of src that start
// lo[k] and hi[k] values into it (lo[0]: the centre row; hi[0] unused):
// for 0 <= x < len(out),
//
//	s := g[r] * src[lo[0]+x]
//	for k := 1; k <= r; k++ {
//		s += float32(g[r+k] * (src[lo[k]+x] + src[hi[k]+x]))
//	}
//	out[x] = s
//
// every product and sum rounded to float32 as that loop in Go rounds them
// (no fused multiply-add), 16 outputs at a time: the same values bit for
// bit. It panics on an even kernel, too few offsets, a row past the end of
// src, or unless Supported.
func BlurSum(src []float32, lo, hi []int64, g, out []float32) {
	if !Supported() {
		panic(errUnsupported)
	}
	r, n := len(g)/2, len(out)
	if len(g)%2 != 1 || len(lo) <= r || len(hi) <= r || n == 0 {
		panic(fmt.Sprintf("avx512: BlurSum: %d taps, %d and %d offsets, %d outputs", len(g), len(lo), len(hi), n))
	}
	for k := 0; k <= r; k++ {
		if lo[k] < 0 || lo[k]+int64(n) > int64(len(src)) || (k > 0 && (hi[k] < 0 || hi[k]+int64(n) > int64(len(src)))) {
			panic(fmt.Sprintf("avx512: BlurSum: rows %d and %d of tap %d past the %d values", lo[k], hi[k], k, len(src)))
		}
	}
	blurKernel(src, lo, hi, g, out)
}
