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
// (kernels.Conv) a convolution with the same stride on both axes, a
// multiple of avx512.PlanesOut outputs and a window of at most
// avx512.MaxPart values (a trunk's first convolution: inception_v3's 3x3
// stride 2 of 3 channels into 32, the ResNets' 7x7 stride 2 of 3 into 64)
// reads x where it lies (avx512.ConvPlanes, PlanesOut outputs a call), or
// a copy of x with its zero padding around it when the convolution pads,
// with no layout conversion and no gathered rows; otherwise x is converted
// into ws's scratch first and Forward runs on it.
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
	in, h, w := x.Data, x.H, x.W
	if g.PadTop != 0 || g.PadLeft != 0 || g.PadBottom != 0 || g.PadRight != 0 {
		h, w = x.H+g.PadTop+g.PadBottom, x.W+g.PadLeft+g.PadRight
		in = padPlanes(ws.get(x.N*x.C*h*w), x, g.PadTop, g.PadLeft, h, w)
	}
	s := avx512.PlanesShape{C: c.Cin, H: h, W: w, KH: c.KH, KW: c.KW, Stride: c.StrideH, OutH: g.OutH, OutW: g.OutW}
	parallel.For(x.N*g.OutH, 0, func(lo, hi int) {
		for o := 0; o < c.Cout; o += avx512.PlanesOut {
			avx512.ConvPlanes(&s, in, c.Weight[o:], c.Cout, c.Bias[o:], c.ReLU, dst.Data[o:], c.Cout, lo, hi)
		}
	})
}

// padPlanes writes the planes of x into dst as h x w planes, each plane's
// values at rows top.. and columns left.. with zeros around them, and
// returns dst[:N*C*h*w].
func padPlanes(dst []float32, x *Tensor, top, left, h, w int) []float32 {
	dst = dst[:x.N*x.C*h*w]
	clear(dst)
	for p := 0; p < x.N*x.C; p++ {
		src, out := x.Data[p*x.H*x.W:], dst[p*h*w:]
		for y := 0; y < x.H; y++ {
			copy(out[(y+top)*w+left:][:x.W], src[y*x.W:][:x.W])
		}
	}
	return dst
}

// readsPlanes reports whether ForwardNCHW runs c on avx512.ConvPlanes for
// n images of geometry g: on the float32 AVX-512 path (not bf16, not
// Winograd), with the kernel's shape, and an inner dimension of one part
// of the packed weights, so that the values are Forward's.
func (c *Conv2D) readsPlanes(kern kernels.Set, n int, g Geometry) bool {
	return kern.UsesAVX512(kernels.Conv) && c.bf16 == nil && c.winoTile(kern, n, g) == 0 &&
		c.Cout%avx512.PlanesOut == 0 && c.StrideH == c.StrideW && c.K() <= avx512.MaxPart
}
