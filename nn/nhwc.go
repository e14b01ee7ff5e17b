package nn

import (
	"fmt"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/internal/parallel"
)

// NHWC is a batch of feature maps in NHWC layout: element (n, y, x, c) is
// Data[((n*H+y)*W+x)*C+c]. Read as a matrix it is (N*H*W) x C, row-major:
// one row per pixel. The convolution engine works in this layout because a
// 1x1 convolution over a whole batch is then a single GEMM, and the Keras
// (HWIO) kernel layout is its weight matrix as stored.
type NHWC struct {
	N, H, W, C int
	Data       []float32
}

// Len is the number of elements, N*H*W*C.
func (m *NHWC) Len() int { return m.N * m.H * m.W * m.C }

// Reshape sets the shape, reusing Data when its capacity suffices (the
// contents are then unspecified) and allocating otherwise.
func (m *NHWC) Reshape(n, h, w, c int) {
	m.N, m.H, m.W, m.C = n, h, w, c
	m.Data = grow(m.Data, n*h*w*c)
}

// Image returns image n of the batch as a 1 x H x W x C view of m's data.
func (m *NHWC) Image(n int) *NHWC {
	s := m.H * m.W * m.C
	return &NHWC{N: 1, H: m.H, W: m.W, C: m.C, Data: m.Data[n*s : (n+1)*s : (n+1)*s]}
}

// Rows is the number of pixels, N*H*W.
func (m *NHWC) Rows() int { return m.N * m.H * m.W }

// grow returns s resized to n elements, reusing its memory when possible.
func grow(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float32, n)
}

// Reshape sets t's shape, reusing Data when its capacity suffices (the
// contents are then unspecified) and allocating otherwise.
func (t *Tensor) Reshape(n, c, h, w int) {
	t.N, t.C, t.H, t.W = n, c, h, w
	t.Data = grow(t.Data, n*c*h*w)
}

// FromNCHW stores the NCHW tensor x into dst in NHWC layout and returns dst
// (allocated when nil).
func FromNCHW(dst *NHWC, x *Tensor) *NHWC {
	if dst == nil {
		dst = &NHWC{}
	}
	dst.Reshape(x.N, x.H, x.W, x.C)
	hw := x.H * x.W
	parallel.For(x.N*x.H, 0, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, y := r/x.H, r%x.H
			for xx := 0; xx < x.W; xx++ {
				o := dst.Data[((n*x.H+y)*x.W+xx)*x.C:]
				src := x.Data[n*x.C*hw+y*x.W+xx:]
				for c := 0; c < x.C; c++ {
					o[c] = src[c*hw]
				}
			}
		}
	})
	return dst
}

// ToNCHW stores m into dst in NCHW layout and returns dst (allocated when
// nil).
func (m *NHWC) ToNCHW(dst *Tensor) *Tensor {
	if dst == nil {
		dst = &Tensor{}
	}
	dst.Reshape(m.N, m.C, m.H, m.W)
	m.ToNCHWAt(dst, 0)
	return dst
}

// ToNCHWAt stores m in NCHW layout into channels [c0, c0+m.C) of dst, an
// NCHW tensor with m's N, H and W and at least c0+m.C channels (the layers
// of a concatenation); the other channels are left as they are. It panics
// when dst does not fit. It runs the kernels of kernels.Detected (see
// ToNCHWAtKernels).
func (m *NHWC) ToNCHWAt(dst *Tensor, c0 int) { m.ToNCHWAtKernels(dst, c0, kernels.Set{}) }

// ToNCHWAtKernels is ToNCHWAt with the implementation chosen by kern
// (kernels.Pool: avx512.TransposeChannels, else a loop in Go). Both copy
// the values, so they give the same tensor bit for bit.
func (m *NHWC) ToNCHWAtKernels(dst *Tensor, c0 int, kern kernels.Set) {
	if dst.N != m.N || dst.H != m.H || dst.W != m.W || c0 < 0 || c0+m.C > dst.C || len(dst.Data) < dst.Len() {
		panic(fmt.Sprintf("nn: cannot store %v at channel %d of a %dx%dx%dx%d tensor", m, c0, dst.N, dst.C, dst.H, dst.W))
	}
	hw := m.H * m.W
	if hw == 0 || m.C == 0 {
		return
	}
	if kern.UsesAVX512(kernels.Pool) {
		// Each image's channels in blocks of 64, the work items of the cores.
		const blk = 64
		nb := (m.C + blk - 1) / blk
		parallel.For(m.N*nb, 0, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				n, c0b := t/nb, (t%nb)*blk
				avx512.TransposeChannels(m.Data[n*hw*m.C:(n+1)*hw*m.C], hw, m.C, c0b, min(c0b+blk, m.C),
					dst.Data[(n*dst.C+c0)*hw:(n*dst.C+c0+m.C)*hw], hw)
			}
		})
		return
	}
	// Transpose each image's HW x C matrix to C x HW in cache-sized blocks.
	const blk = 32
	nb := (m.C + blk - 1) / blk
	parallel.For(m.N*nb, 0, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			n, c0b := t/nb, (t%nb)*blk
			c1 := min(c0b+blk, m.C)
			src := m.Data[n*hw*m.C:]
			out := dst.Data[(n*dst.C+c0)*hw:]
			for p0 := 0; p0 < hw; p0 += blk {
				p1 := min(p0+blk, hw)
				for c := c0b; c < c1; c++ {
					o := out[c*hw:]
					for p := p0; p < p1; p++ {
						o[p] = src[p*m.C+c]
					}
				}
			}
		}
	})
}

// String describes the shape.
func (m *NHWC) String() string { return fmt.Sprintf("NHWC[%d %d %d %d]", m.N, m.H, m.W, m.C) }
