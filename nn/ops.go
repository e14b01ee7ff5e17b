package nn

import (
	"fmt"
	"math"

	"github.com/crd-ad/crd/internal/parallel"
)

// ReLU applies max(0, v) to every element of x in place.
func ReLU(x []float32) {
	parallel.For((len(x)+4095)/4096, 0, func(lo, hi int) {
		s := x[lo*4096 : min(hi*4096, len(x))]
		for i, v := range s {
			u := math.Float32bits(v)
			s[i] = math.Float32frombits(u &^ uint32(int32(u)>>31))
		}
	})
}

// Add computes dst[i] = a[i] + b[i]; dst may alias a or b.
func Add(dst, a, b []float32) {
	if len(a) != len(b) || len(dst) != len(a) {
		panic("nn: Add of slices with different lengths")
	}
	parallel.For((len(a)+4095)/4096, 0, func(lo, hi int) {
		e := min(hi*4096, len(a))
		d, x, y := dst[lo*4096:e], a[lo*4096:e], b[lo*4096:e]
		for i := range d {
			d[i] = x[i] + y[i]
		}
	})
}

// ConcatNHWC concatenates maps along channels into dst (reshaped), in
// argument order. All inputs must share N, H and W.
func ConcatNHWC(dst *NHWC, xs ...*NHWC) {
	c := 0
	for _, x := range xs {
		if x.N != xs[0].N || x.H != xs[0].H || x.W != xs[0].W {
			panic(fmt.Sprintf("nn: concat of %v and %v", xs[0], x))
		}
		c += x.C
	}
	dst.Reshape(xs[0].N, xs[0].H, xs[0].W, c)
	parallel.For(dst.Rows(), 0, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o := dst.Data[r*c:]
			for _, x := range xs {
				copy(o, x.Data[r*x.C:(r+1)*x.C])
				o = o[x.C:]
			}
		}
	})
}

// Concat concatenates NCHW tensors along channels into dst (reused when
// large enough, allocated when nil) and returns it. All inputs must share N,
// H and W.
func Concat(dst *Tensor, xs ...*Tensor) *Tensor {
	c := 0
	for _, x := range xs {
		if x.N != xs[0].N || x.H != xs[0].H || x.W != xs[0].W {
			panic(fmt.Sprintf("nn: concat of %dx%dx%dx%d and %dx%dx%dx%d", xs[0].N, xs[0].C, xs[0].H, xs[0].W, x.N, x.C, x.H, x.W))
		}
		c += x.C
	}
	if dst == nil {
		dst = &Tensor{}
	}
	n, h, w := xs[0].N, xs[0].H, xs[0].W
	dst.Reshape(n, c, h, w)
	hw := h * w
	for i := 0; i < n; i++ {
		o := dst.Data[i*c*hw:]
		for _, x := range xs {
			copy(o, x.Data[i*x.C*hw:(i+1)*x.C*hw])
			o = o[x.C*hw:]
		}
	}
	return dst
}
