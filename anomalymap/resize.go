package anomalymap

import (
	"fmt"
	"math"

	"github.com/crd-ad/crd/nn"
)

// checkShape panics unless src holds an sh x sw image and the sizes are
// positive.
func checkShape(fn string, src int, sh, sw, dh, dw int) {
	if sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0 || src != sh*sw {
		panic(fmt.Sprintf("anomalymap.%s: %d values for a %dx%d source, destination %dx%d", fn, src, sh, sw, dh, dw))
	}
}

// grow returns dst resized to n values, reusing its memory when it is large
// enough.
func grow[T any](dst []T, n int) []T {
	if cap(dst) < n {
		return make([]T, n)
	}
	return dst[:n]
}

// ResizeBilinear resizes the sh x sw image src to dh x dw with bilinear
// interpolation, as PyTorch's F.interpolate(mode="bilinear",
// align_corners=False, antialias=False) with an output size does; this
// includes downscaling without antialiasing. The w x h result's values are
// written to dst, reallocated if its capacity is below w*h; dst must not
// overlap m.Pix. It is nn.ResizeBilinear of one plane: rows interpolated
// first, once per source row, on the AVX-512 kernel where it runs (the
// same values in Go elsewhere).
func ResizeBilinear(dst []float32, m Map, w, h int) Map {
	checkShape("ResizeBilinear", len(m.Pix), m.H, m.W, h, w)
	dst = grow(dst, h*w)
	nn.ResizeBilinearInto(&nn.Tensor{Data: dst}, &nn.Tensor{N: 1, C: 1, H: m.H, W: m.W, Data: m.Pix}, h, w)
	return Map{Pix: dst, W: w, H: h}
}

// Upsample returns the patch-score grid resized to w x h with
// ResizeBilinear.
func Upsample(grid Map, w, h int) Map {
	return ResizeBilinear(nil, grid, w, h)
}

// nearestIndex is PyTorch's nearest_idx (mode="nearest", the legacy
// asymmetric rule): output i takes source floor(i * in/out), with the scale
// and the product rounded to float32 as PyTorch computes them, clamped at
// in-1.
func nearestIndex(i, in, out int) int {
	switch {
	case in == out:
		return i
	case out == 2*in:
		return i >> 1
	}
	scale := float32(in) / float32(out)
	return min(int(math.Floor(float64(float32(float32(i)*scale)))), in-1)
}

// ResizeNearest resizes m to w x h by nearest-neighbour sampling, as
// PyTorch's F.interpolate(mode="nearest") does. The result's values are
// written to dst, reallocated if its capacity is below w*h; dst must not
// overlap m.Pix.
func ResizeNearest(dst []float32, m Map, w, h int) Map {
	return Map{Pix: resizeNearest(dst, m.Pix, m.H, m.W, h, w), W: w, H: h}
}

// resizeNearest is ResizeNearest on the sh x sw image src, for any value type.
func resizeNearest[T any](dst, src []T, sh, sw, dh, dw int) []T {
	checkShape("ResizeNearest", len(src), sh, sw, dh, dw)
	dst = grow(dst, dh*dw)
	xs := make([]int, dw)
	for x := range xs {
		xs[x] = nearestIndex(x, sw, dw)
	}
	for y := range dh {
		row := src[nearestIndex(y, sh, dh)*sw:][:sw]
		out := dst[y*dw:][:dw]
		for x, sx := range xs {
			out[x] = row[sx]
		}
	}
	return dst
}
