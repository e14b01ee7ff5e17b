package nn

import (
	"fmt"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/internal/parallel"
)

// ForwardNCHW computes dst = conv(x) (+ ReLU) for an NCHW input x (a
// preprocessed batch), reshaping dst: Forward of x converted to NHWC by
// FromNCHW, the same values bit for bit. On the AVX-512 kernels
// (kernels.Conv) an unpadded convolution with the same stride on both axes,
// avx512.PlanesOut outputs and a window of at most avx512.MaxPart values (a
// trunk's first convolution: inception_v3's 3x3 stride 2 of 3 channels
// into 32) reads x where it lies (avx512.ConvPlanes), with no layout
// conversion and no gathered rows; otherwise x is converted into ws's
// scratch first and Forward runs on it.
func (c *Conv2D) ForwardNCHW(dst *NHWC, x *Tensor, ws *Workspace) {
	if x.C != c.Cin {
		panic(fmt.Sprintf("nn: conv with %d input channels applied to %dx%dx%dx%d", c.Cin, x.N, x.C, x.H, x.W))
	}
	kern, ws := ws.kernels()
	g := c.Apply(x.H, x.W)
	if g.OutH <= 0 || g.OutW <= 0 {
		panic(fmt.Sprintf("nn: conv window %dx%d does not fit input %dx%dx%dx%d", c.KH, c.KW, x.N, x.C, x.H, x.W))
	}
	if !c.readsPlanes(kern, x.N, g) {
		FromNCHW(&ws.planesIn, x)
		c.Forward(dst, &ws.planesIn, ws)
		return
	}
	dst.Reshape(x.N, g.OutH, g.OutW, c.Cout)
	s := avx512.PlanesShape{C: c.Cin, H: x.H, W: x.W, KH: c.KH, KW: c.KW, Stride: c.StrideH, OutH: g.OutH, OutW: g.OutW}
	parallel.For(x.N*g.OutH, 0, func(lo, hi int) {
		avx512.ConvPlanes(&s, x.Data, c.Weight, c.Bias, c.ReLU, dst.Data, c.Cout, lo, hi)
	})
}

// readsPlanes reports whether ForwardNCHW runs c on avx512.ConvPlanes for
// n images of geometry g: on the float32 AVX-512 path (not bf16, not
// Winograd), with the kernel's shape, and an inner dimension of one part
// of the packed weights, so that the values are Forward's.
func (c *Conv2D) readsPlanes(kern kernels.Set, n int, g Geometry) bool {
	return kern.UsesAVX512(kernels.Conv) && c.bf16 == nil && c.winoTile(kern, n, g) == 0 &&
		c.Cout == avx512.PlanesOut && c.StrideH == c.StrideW && c.K() <= avx512.MaxPart &&
		g.PadTop == 0 && g.PadLeft == 0 && g.PadBottom == 0 && g.PadRight == 0
}
