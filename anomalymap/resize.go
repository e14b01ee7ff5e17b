package anomalymap

import (
	"fmt"
	"math"
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

// linearTaps are the source positions and weights of a bilinear resize along
// one axis: output i interpolates between i0[i] and i1[i] with weight l[i] on
// i1[i].
type linearTaps struct {
	i0, i1 []int
	l      []float32
}

// newLinearTaps follows PyTorch's area_pixel_compute_source_index with
// align_corners=False and no explicit scale factor: the source coordinate of
// output i is (i + 0.5) * in/out - 0.5, clamped at 0, and the upper neighbour
// is clamped at in-1.
func newLinearTaps(in, out int) linearTaps {
	t := linearTaps{make([]int, out), make([]int, out), make([]float32, out)}
	scale := float64(in) / float64(out)
	for i := range out {
		src := max((float64(i)+0.5)*scale-0.5, 0)
		i0 := min(int(src), in-1)
		i1 := min(i0+1, in-1)
		t.i0[i], t.i1[i], t.l[i] = i0, i1, float32(src-float64(i0))
	}
	return t
}

// ResizeBilinear resizes the sh x sw image src to dh x dw with bilinear
// interpolation, as PyTorch's F.interpolate(mode="bilinear",
// align_corners=False, antialias=False) with an output size does; this
// includes downscaling without antialiasing. The w x h result's values are
// written to dst, reallocated if its capacity is below w*h; dst must not
// overlap m.Pix.
func ResizeBilinear(dst []float32, m Map, w, h int) Map {
	src, sh, sw, dh, dw := m.Pix, m.H, m.W, h, w
	checkShape("ResizeBilinear", len(src), sh, sw, dh, dw)
	dst = grow(dst, dh*dw)
	ty, tx := newLinearTaps(sh, dh), newLinearTaps(sw, dw)
	rows(dh, dh*dw, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			r0, r1 := src[ty.i0[y]*sw:][:sw], src[ty.i1[y]*sw:][:sw]
			ly := ty.l[y]
			out := dst[y*dw:][:dw]
			for x := range out {
				a, b, lx := tx.i0[x], tx.i1[x], tx.l[x]
				top := r0[a] + lx*(r0[b]-r0[a])
				bot := r1[a] + lx*(r1[b]-r1[a])
				out[x] = top + ly*(bot-top)
			}
		}
	})
	return Map{Pix: dst, W: dw, H: dh}
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
