package avx512

import "fmt"

// TransposeChannels converts channels [c0, c1) of one image's p x c NHWC
// map src (pixel q's c channels at src[q*c:]) to NCHW rows of dst, ldd
// values apart:
//
//	dst[ch*ldd+q] = src[q*c+ch] for c0 <= ch < c1, 0 <= q < p
//
// (dst[0] is channel 0's row, whether or not c0 is 0). Nothing else of
// dst is written. It copies values, so the result is that loop's bit for
// bit. It panics on slices too short for the shape, or unless Supported.
func TransposeChannels(src []float32, p, c, c0, c1 int, dst []float32, ldd int) {
	if !Supported() {
		panic(errUnsupported)
	}
	if p <= 0 || c0 < 0 || c1 <= c0 || c1 > c || ldd < p || len(src) < p*c || len(dst) < (c1-1)*ldd+p {
		panic(fmt.Sprintf("avx512: TransposeChannels: channels [%d, %d) of %d x %d from %d values into %d, ld %d",
			c0, c1, p, c, len(src), len(dst), ldd))
	}
	transposeKernel(src, p, c, c0, c1, dst, ldd)
}
