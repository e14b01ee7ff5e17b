package nn

import (
	"fmt"
	"math"

	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/internal/parallel"
)

// Conv2D is a 2-D convolution (groups = 1) with bias and an optional fused
// ReLU, on NHWC maps:
//
//	out[n, oy, ox, o] = Bias[o] + sum_{ky, kx, i} in[n, oy*sh - padTop + ky, ox*sw - padLeft + kx, i] * W[ky, kx, i, o]
//
// with zeros outside the input. It is computed as one GEMM per chunk of
// output pixels: the im2col matrix (pixels x KH*KW*Cin, gathered from the
// NHWC input) times Weight (KH*KW*Cin x Cout). A 1x1 stride-1 unpadded
// convolution skips the gather: the input itself is the left matrix. On
// the AVX-512 kernels the chunks are small blocks of pixels that the cores
// take one at a time, each multiplied and finished in cache, most of its
// rows read from the input where they lie rather than gathered
// (convblock.go); on BLAS they are large, each step on all cores.
type Conv2D struct {
	Window
	Cin, Cout int
	// Weight is the (KH*KW*Cin) x Cout matrix, rows ordered (ky, kx, i):
	// exactly a Keras/TensorFlow HWIO kernel as stored. The AVX-512 path
	// keeps a packed copy: after writing into Weight directly, call
	// WeightsChanged.
	Weight []float32
	// Bias has Cout entries.
	Bias []float32
	// ReLU applies max(0, .) to the output (after any residual add).
	ReLU bool

	bf16   *bf16Weights // set by SetPrecision(BF16)
	packed *packedCache // Weight packed for the AVX-512 kernels (NewConv2D makes it)
}

// NewConv2D returns a convolution with zero weights and bias.
func NewConv2D(cin, cout int, w Window) *Conv2D {
	w.check()
	return &Conv2D{Window: w, Cin: cin, Cout: cout,
		Weight: make([]float32, w.KH*w.KW*cin*cout), Bias: make([]float32, cout), packed: new(packedCache)}
}

// K is the inner GEMM dimension, KH*KW*Cin.
func (c *Conv2D) K() int { return c.KH * c.KW * c.Cin }

// SetWeightsOIHW copies a PyTorch weight (Cout x Cin x KH x KW) into Weight.
func (c *Conv2D) SetWeightsOIHW(w []float32) {
	if len(w) != len(c.Weight) {
		panic(fmt.Sprintf("nn: SetWeightsOIHW: %d values for a %dx%dx%dx%d kernel", len(w), c.Cout, c.Cin, c.KH, c.KW))
	}
	for o := 0; o < c.Cout; o++ {
		for i := 0; i < c.Cin; i++ {
			for ky := 0; ky < c.KH; ky++ {
				for kx := 0; kx < c.KW; kx++ {
					c.Weight[((ky*c.KW+kx)*c.Cin+i)*c.Cout+o] = w[((o*c.Cin+i)*c.KH+ky)*c.KW+kx]
				}
			}
		}
	}
	c.WeightsChanged()
}

// SetWeightsHWIO copies a Keras/TensorFlow kernel (KH x KW x Cin x Cout)
// into Weight.
func (c *Conv2D) SetWeightsHWIO(w []float32) {
	if len(w) != len(c.Weight) {
		panic(fmt.Sprintf("nn: SetWeightsHWIO: %d values for a %dx%dx%dx%d kernel", len(w), c.KH, c.KW, c.Cin, c.Cout))
	}
	copy(c.Weight, w)
	c.WeightsChanged()
}

// FoldBatchNorm folds an inference-mode batch norm that follows the
// convolution into its weights and bias:
//
//	s[o] = gamma[o] / sqrt(variance[o] + eps)
//	W[:, o] *= s[o];  Bias[o] = (Bias[o] - mean[o]) * s[o] + beta[o]
//
// gamma nil means no scale term (gamma = 1, Keras scale=False); beta nil
// means no offset. PyTorch uses eps = 1e-5, Keras 1e-3. Computed in float64.
func (c *Conv2D) FoldBatchNorm(gamma, beta, mean, variance []float32, eps float64) {
	if len(mean) != c.Cout || len(variance) != c.Cout || (gamma != nil && len(gamma) != c.Cout) || (beta != nil && len(beta) != c.Cout) {
		panic("nn: FoldBatchNorm: parameter length differs from Cout")
	}
	k := c.K()
	for o := 0; o < c.Cout; o++ {
		s := 1 / math.Sqrt(float64(variance[o])+eps)
		if gamma != nil {
			s *= float64(gamma[o])
		}
		for r := 0; r < k; r++ {
			c.Weight[r*c.Cout+o] = float32(float64(c.Weight[r*c.Cout+o]) * s)
		}
		b := (float64(c.Bias[o]) - float64(mean[o])) * s
		if beta != nil {
			b += float64(beta[o])
		}
		c.Bias[o] = float32(b)
	}
	c.WeightsChanged()
}

// OutSize returns the output height and width for an h x w input.
func (c *Conv2D) OutSize(h, w int) (int, int) {
	g := c.Apply(h, w)
	return g.OutH, g.OutW
}

// MACs is the number of multiply-accumulates for one h x w input image.
func (c *Conv2D) MACs(h, w int) int64 {
	oh, ow := c.OutSize(h, w)
	return int64(oh) * int64(ow) * int64(c.K()) * int64(c.Cout)
}

// Forward computes dst = conv(x) (+ ReLU), reshaping dst.
func (c *Conv2D) Forward(dst, x *NHWC, ws *Workspace) {
	oh, ow := c.OutSize(x.H, x.W)
	dst.Reshape(x.N, oh, ow, c.Cout)
	c.run(dst, 0, x, nil, ws)
}

// ForwardAdd computes dst = conv(x) + res (then ReLU when set): the
// residual connection. res must have dst's shape; dst may not alias x but
// may alias res.
func (c *Conv2D) ForwardAdd(dst, x, res *NHWC, ws *Workspace) {
	oh, ow := c.OutSize(x.H, x.W)
	if res.N != x.N || res.H != oh || res.W != ow || res.C != c.Cout {
		panic(fmt.Sprintf("nn: residual %v does not match conv output [%d %d %d %d]", res, x.N, oh, ow, c.Cout))
	}
	if dst != res {
		dst.Reshape(x.N, oh, ow, c.Cout)
	}
	c.run(dst, 0, x, res, ws)
}

// ForwardAt writes conv(x) into channels [c0, c0+Cout) of dst, which must
// already have the output's N, H and W: a channel concatenation for free.
func (c *Conv2D) ForwardAt(dst *NHWC, c0 int, x *NHWC, ws *Workspace) {
	oh, ow := c.OutSize(x.H, x.W)
	if dst.N != x.N || dst.H != oh || dst.W != ow || c0 < 0 || c0+c.Cout > dst.C {
		panic(fmt.Sprintf("nn: ForwardAt: destination %v cannot hold [%d %d %d %d] at channel %d", dst, x.N, oh, ow, c.Cout, c0))
	}
	c.run(dst, c0, x, nil, ws)
}

// ConvOut is one convolution of a ForwardGroup call and where its output
// goes: channels [C0, C0+Conv.Cout) of Dst.
type ConvOut struct {
	Conv *Conv2D
	Dst  *NHWC
	C0   int
}

// ForwardGroup computes several convolutions of the same input x, each as
// ForwardAt(out.Dst, out.C0, x) would, bit for bit: the Dst must already
// have the output's N, H and W. The convolutions must have the same window
// and input channels (an Inception block's 1x1 branch heads). On the
// AVX-512 kernels each block of output pixels runs all of them in turn,
// while its input rows are in cache, and the cores synchronise once for the
// group; on BLAS, or when one of them is in bf16 or runs by Winograd
// (winograd.go), they run one after the other.
func ForwardGroup(x *NHWC, ws *Workspace, outs ...ConvOut) {
	if len(outs) == 0 {
		return
	}
	c := outs[0].Conv
	for _, o := range outs {
		if o.Conv.Window != c.Window || o.Conv.Cin != c.Cin {
			panic(fmt.Sprintf("nn: ForwardGroup: a %dx%d convolution of %d channels with a %dx%d one of %d", o.Conv.KH, o.Conv.KW, o.Conv.Cin, c.KH, c.KW, c.Cin))
		}
		oh, ow := o.Conv.OutSize(x.H, x.W)
		if d := o.Dst; d.N != x.N || d.H != oh || d.W != ow || o.C0 < 0 || o.C0+o.Conv.Cout > d.C {
			panic(fmt.Sprintf("nn: ForwardGroup: destination %v cannot hold [%d %d %d %d] at channel %d", d, x.N, oh, ow, o.Conv.Cout, o.C0))
		}
	}
	kern, ws := ws.kernels()
	g := c.Apply(x.H, x.W)
	alone := x.C != c.Cin || !kern.UsesAVX512(kernels.Conv) || g.OutH <= 0 || g.OutW <= 0
	for _, o := range outs {
		alone = alone || o.Conv.bf16 != nil || o.Conv.useWinograd(kern, x.N, g)
	}
	if alone {
		for _, o := range outs {
			o.Conv.run(o.Dst, o.C0, x, nil, ws)
		}
		return
	}
	runBlocks(outs, x, nil, g, c.direct(g), ws)
}

// im2colFloats is the target size of the im2col buffer (in float32s, 2 MB)
// per GEMM chunk on BLAS, so that the gathered rows are still in cache when the
// GEMM reads them; a chunk has at least minChunkRows rows so that the
// weights are not repacked by the GEMM too often. Measured on the ResNet
// trunks: 2 MB is as fast or faster than 16 MB.
const (
	im2colFloats = 1 << 19
	minChunkRows = 1024
	// directChunkRows is the GEMM chunk of a 1x1 stride-1 convolution.
	directChunkRows = 4096
)

func (c *Conv2D) run(dst *NHWC, c0 int, x *NHWC, res *NHWC, ws *Workspace) {
	if x.C != c.Cin {
		panic(fmt.Sprintf("nn: conv with %d input channels applied to %v", c.Cin, x))
	}
	g := c.Apply(x.H, x.W)
	if g.OutH <= 0 || g.OutW <= 0 {
		panic(fmt.Sprintf("nn: conv window %dx%d does not fit input %v", c.KH, c.KW, x))
	}
	rows := x.N * g.OutH * g.OutW
	k := c.K()
	kern, ws := ws.kernels() // the detected choice, unless ws says otherwise
	direct := c.direct(g)
	if c.bf16 != nil {
		c.runBF16(dst, c0, x, res, g, direct, ws, kern)
		return
	}
	if m := c.winoTile(kern, x.N, g); m > 0 {
		c.runWinograd(dst, c0, x, res, g, m, ws)
		return
	}
	if kern.UsesAVX512(kernels.Conv) {
		ws.blocks.one[0] = ConvOut{Conv: c, Dst: dst, C0: c0}
		runBlocks(ws.blocks.one[:], x, res, g, direct, ws)
		return
	}
	// A residual is copied into the output first and accumulated by the
	// GEMM (beta = 1), so dst may alias res.
	var beta float32
	if res != nil {
		beta = 1
	}
	if direct {
		// Chunks of rows keep the output in cache for the epilogue.
		for r0 := 0; r0 < rows; r0 += directChunkRows {
			r1 := min(r0+directChunkRows, rows)
			copyResidual(dst, c0, res, r0, r1)
			kern.Sgemm(kernels.Conv, r1-r0, c.Cout, k, 1, x.Data[r0*k:], k, c.Weight, c.Cout, beta, dst.Data[r0*dst.C+c0:], dst.C)
			c.epilogue(dst, c0, r0, r1)
		}
		return
	}
	chunk := max(im2colFloats/k, minChunkRows)
	chunk = min(chunk, rows)
	col := ws.get(chunk * k)
	for r0 := 0; r0 < rows; r0 += chunk {
		r1 := min(r0+chunk, rows)
		c.im2col(col, x, g, r0, r1)
		copyResidual(dst, c0, res, r0, r1)
		kern.Sgemm(kernels.Conv, r1-r0, c.Cout, k, 1, col, k, c.Weight, c.Cout, beta, dst.Data[r0*dst.C+c0:], dst.C)
		c.epilogue(dst, c0, r0, r1)
	}
}

// direct reports whether c reads its input as it is as the left matrix (a
// 1x1 stride-1 unpadded convolution).
func (c *Conv2D) direct(g Geometry) bool {
	return c.KH == 1 && c.KW == 1 && c.StrideH == 1 && c.StrideW == 1 && g.PadTop == 0 && g.PadLeft == 0
}

// copyResidual copies rows [r0, r1) of res into dst (nothing when res is
// nil or is dst).
func copyResidual(dst *NHWC, c0 int, res *NHWC, r0, r1 int) {
	if res == nil || res == dst {
		return
	}
	if c0 == 0 && dst.C == res.C {
		copy(dst.Data[r0*dst.C:r1*dst.C], res.Data[r0*res.C:r1*res.C])
		return
	}
	for r := r0; r < r1; r++ {
		copy(dst.Data[r*dst.C+c0:r*dst.C+c0+res.C], res.Data[r*res.C:(r+1)*res.C])
	}
}

// im2col gathers output pixels [r0, r1) into col, one row of KH*KW*Cin
// values each, ordered (ky, kx, i); padding reads as zero.
func (c *Conv2D) im2col(col []float32, x *NHWC, g Geometry, r0, r1 int) {
	parallel.For(r1-r0, 0, func(lo, hi int) { c.im2colRows(col, x, g, r0, r0+lo, r0+hi) })
}

// im2colRows is im2col of output pixels [lo, hi) on the calling goroutine,
// pixel r going to row r - r0 of col.
func (c *Conv2D) im2colRows(col []float32, x *NHWC, g Geometry, r0, lo, hi int) {
	k := c.K()
	cin := c.Cin
	ohw := g.OutH * g.OutW
	for r := lo; r < hi; r++ {
		n, p := r/ohw, r%ohw
		oy, ox := p/g.OutW, p%g.OutW
		row := col[(r-r0)*k : (r-r0+1)*k]
		ix0 := ox*c.StrideW - g.PadLeft
		// kx in [kx0, kx1) reads inside the image: one contiguous copy.
		kx0 := max(0, -ix0)
		kx1 := min(c.KW, x.W-ix0)
		for ky := 0; ky < c.KH; ky++ {
			iy := oy*c.StrideH - g.PadTop + ky
			seg := row[ky*c.KW*cin : (ky+1)*c.KW*cin]
			if iy < 0 || iy >= x.H || kx0 >= kx1 {
				clear(seg)
				continue
			}
			clear(seg[:kx0*cin])
			src := x.Data[((n*x.H+iy)*x.W+ix0+kx0)*cin:]
			copy(seg[kx0*cin:kx1*cin], src[:(kx1-kx0)*cin])
			clear(seg[kx1*cin:])
		}
	}
}

// epilogue adds the bias and applies the ReLU to output rows [r0, r1).
func (c *Conv2D) epilogue(dst *NHWC, c0 int, r0, r1 int) {
	parallel.For(r1-r0, 0, func(lo, hi int) { c.epilogueRows(dst, c0, r0+lo, r0+hi) })
}

// epilogueRows is epilogue on the calling goroutine.
func (c *Conv2D) epilogueRows(dst *NHWC, c0 int, r0, r1 int) {
	cout := c.Cout
	b := c.Bias[:cout]
	for r := r0; r < r1; r++ {
		o := dst.Data[r*dst.C+c0 : r*dst.C+c0+cout]
		if c.ReLU {
			addBiasReLU(o, b)
		} else {
			addBias(o, b)
		}
	}
}

// addBiasReLU computes o[j] = max(o[j] + b[j], 0) without branches: the
// sign bit of the sum, spread to a mask, clears negative values (and turns
// -0 into +0). Unrolled by 4; about twice as fast as the max builtin on
// data of random sign.
func addBiasReLU(o, b []float32) {
	b = b[:len(o)]
	j := 0
	for ; j+4 <= len(o); j += 4 {
		o4 := o[j : j+4 : j+4]
		b4 := b[j : j+4 : j+4]
		u0 := math.Float32bits(o4[0] + b4[0])
		u1 := math.Float32bits(o4[1] + b4[1])
		u2 := math.Float32bits(o4[2] + b4[2])
		u3 := math.Float32bits(o4[3] + b4[3])
		o4[0] = math.Float32frombits(u0 &^ uint32(int32(u0)>>31))
		o4[1] = math.Float32frombits(u1 &^ uint32(int32(u1)>>31))
		o4[2] = math.Float32frombits(u2 &^ uint32(int32(u2)>>31))
		o4[3] = math.Float32frombits(u3 &^ uint32(int32(u3)>>31))
	}
	for ; j < len(o); j++ {
		u := math.Float32bits(o[j] + b[j])
		o[j] = math.Float32frombits(u &^ uint32(int32(u)>>31))
	}
}

// addBias computes o[j] += b[j].
func addBias(o, b []float32) {
	b = b[:len(o)]
	for j := range o {
		o[j] += b[j]
	}
}
