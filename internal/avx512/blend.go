package avx512

import "fmt"

// Blend blends a heat map over len(m) pixels of an image whose channels are
// r, g and b, into dst, step bytes a pixel (3: red, green, blue; 4: and
// an opaque alpha byte 255), as package report's blend does it in Go for
// the linear colour scale [lo, hi]; for each pixel i, in float64:
//
//	v := float64(m[i])
//	u := min(max((v-lo)/(hi-lo), 0), 1) // hi <= lo: 1 when v > lo, else 0
//	j := 0 // the colour: 0 for u <= 0 and NaN
//	if u > 0 {
//		j = min(int(min(u, 1)*256), 255)
//	}
//	for k, c := range [3]float32{r[i], g[i], b[i]} {
//		x := keep*(255*min(max(float64(c), 0), 1)) + heat[j][k]
//		dst[i*step+k] = uint8(t), t = x rounded half away from zero
//	}
//
// with every product and sum rounded to float64 as Go rounds them (no
// fused multiply-add): the same bytes, for x in [0, 256) or NaN (0). It
// panics on short slices, a step other than 3 or 4, or unless Supported.
func Blend(r, g, b, m []float32, lo, hi, keep float64, heat *[256][3]float64, dst []byte, step int) {
	if !Supported() {
		panic(errUnsupported)
	}
	n := len(m)
	if (step != 3 && step != 4) || len(r) < n || len(g) < n || len(b) < n || (n > 0 && len(dst) < step*(n-1)+3) {
		panic(fmt.Sprintf("avx512: Blend: %d pixels from %d, %d, %d values into %d bytes, step %d", n, len(r), len(g), len(b), len(dst), step))
	}
	if n == 0 {
		return
	}
	blendKernel(r, g, b, m, lo, hi, keep, heat, dst, step)
}
