package nn

import (
	"fmt"
	"math"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/internal/parallel"
)

type poolKind = avx512.PoolKind

const (
	poolMax        = avx512.PoolMax
	poolAvgInclude = avx512.PoolAvgInclude
	poolAvgExclude = avx512.PoolAvgExclude
)

// MaxPool computes a max pooling of x into dst (reshaped). Padded cells never
// win (PyTorch pads with -inf; TensorFlow "same" ignores them).
func MaxPool(dst, x *NHWC, w Window) { pool(dst, x, w, poolMax, kernels.Set{}) }

// AvgPool computes an average pooling of x into dst (reshaped).
//
// With countIncludePad the divisor counts the padded cells inside the
// padded input (PyTorch count_include_pad=True: k*k for a window that lies in
// the padded input); without, only the cells inside the image (PyTorch
// count_include_pad=False, and TensorFlow/Keras "same" average pooling).
func AvgPool(dst, x *NHWC, w Window, countIncludePad bool) {
	AvgPoolKernels(dst, x, w, countIncludePad, kernels.Set{})
}

// AvgPoolKernels is AvgPool with the implementation chosen by kern
// (kernels.Pool: the AVX-512 kernel, else the loops in Go; the zero Set is
// kernels.Detected, as for AvgPool). Both give the same values bit for bit.
func AvgPoolKernels(dst, x *NHWC, w Window, countIncludePad bool, kern kernels.Set) {
	if countIncludePad {
		pool(dst, x, w, poolAvgInclude, kern)
	} else {
		pool(dst, x, w, poolAvgExclude, kern)
	}
}

// MaxPoolAt is MaxPool, with the implementation chosen by kern (as
// AvgPoolKernels), into channels [c0, c0+x.C) of dst, which must already
// have the output's N, H and W: a pooling written where a concatenation
// wants it. The values are MaxPool's bit for bit.
func MaxPoolAt(dst *NHWC, c0 int, x *NHWC, w Window, kern kernels.Set) {
	if c0 < 0 {
		panic(fmt.Sprintf("nn: MaxPoolAt: channel %d", c0))
	}
	poolAt(dst, c0, x, w, poolMax, kern, nil, false)
}

// AvgPoolAt is AvgPoolKernels into channels [c0, c0+x.C) of dst, which
// must already have the output's N, H and W, with an epilogue: bias (x.C
// values; nil: none) added to each output pixel, then, with relu, the ReLU
// of the convolutions (max(v, 0), -0 made +0). It is the tail of
// relu(conv1x1(x) + bias) computed as relu(avgpool(conv1x1(x)) + bias) (the
// pooling moved after the convolution, without its bias): one pass over
// the pooled map, written where the concatenation wants it. The values are
// AvgPoolKernels's plus the epilogue in float32, bit for bit.
func AvgPoolAt(dst *NHWC, c0 int, x *NHWC, w Window, countIncludePad bool, bias []float32, relu bool, kern kernels.Set) {
	kind := poolAvgExclude
	if countIncludePad {
		kind = poolAvgInclude
	}
	if bias != nil && len(bias) != x.C || c0 < 0 {
		panic(fmt.Sprintf("nn: AvgPoolAt: %d biases for %d channels, at channel %d", len(bias), x.C, c0))
	}
	poolAt(dst, c0, x, w, kind, kern, bias, relu)
}

// pool is MaxPool and AvgPool, run by avx512.PoolRows where kern says so
// (and the map has several channels), else by poolRows or poolPlanes: the
// same values either way.
func pool(dst, x *NHWC, w Window, kind poolKind, kern kernels.Set) {
	poolAt(dst, -1, x, w, kind, kern, nil, false)
}

// poolAt is pool into dst, reshaped, with c0 < 0, else into channels [c0,
// c0+x.C) of dst (of the output's N, H and W), adding bias (unless nil) and
// applying the ReLU with relu.
func poolAt(dst *NHWC, c0 int, x *NHWC, w Window, kind poolKind, kern kernels.Set, bias []float32, relu bool) {
	w.check()
	if dst == x {
		panic("nn: pooling in place")
	}
	g := w.Apply(x.H, x.W)
	if g.OutH <= 0 || g.OutW <= 0 {
		panic(fmt.Sprintf("nn: pooling window %dx%d does not fit input %v", w.KH, w.KW, x))
	}
	if c0 < 0 {
		dst.Reshape(x.N, g.OutH, g.OutW, x.C)
		c0 = 0
	} else if dst.N != x.N || dst.H != g.OutH || dst.W != g.OutW || c0+x.C > dst.C {
		panic(fmt.Sprintf("nn: pooling: destination %v cannot hold [%d %d %d %d] at channel %d", dst, x.N, g.OutH, g.OutW, x.C, c0))
	}
	epilogue := bias != nil || relu
	if x.C == 1 && dst.C == 1 && !epilogue {
		poolPlanes(dst, x, w, g, kind)
		return
	}
	if kern.UsesAVX512(kernels.Pool) {
		s := avx512.PoolShape{H: x.H, W: x.W, C: x.C, OutH: g.OutH, OutW: g.OutW,
			KH: w.KH, KW: w.KW, StrideH: w.StrideH, StrideW: w.StrideW,
			PadTop: g.PadTop, PadLeft: g.PadLeft, PadBottom: g.PadBottom, PadRight: g.PadRight, Kind: kind,
			OutStride: dst.C, Bias: bias, ReLU: relu}
		parallel.For(x.N*g.OutH, 0, func(lo, hi int) { avx512.PoolRows(&s, x.Data, dst.Data[c0:], lo, hi) })
		return
	}
	parallel.For(x.N*g.OutH, 0, func(lo, hi int) { poolRows(dst, c0, x, w, g, kind, bias, relu, lo, hi) })
}

// poolRows computes output rows [lo, hi) of an NHWC pooling (row r is output
// row r % OutH of image r / OutH) into channels [c0, c0+x.C) of dst, one
// output pixel at a time, each window cell's channels added (or maxed) into
// the pixel's in one loop, then the bias (unless nil) added and, with
// relu, the ReLU applied.
func poolRows(dst *NHWC, c0 int, x *NHWC, w Window, g Geometry, kind poolKind, bias []float32, relu bool, lo, hi int) {
	C := x.C
	for r := lo; r < hi; r++ {
		n, oy := r/g.OutH, r%g.OutH
		ys := oy*w.StrideH - g.PadTop
		ye := ys + w.KH
		y0, y1 := max(ys, 0), min(ye, x.H)
		for ox := 0; ox < g.OutW; ox++ {
			xs := ox*w.StrideW - g.PadLeft
			xe := xs + w.KW
			x0, x1 := max(xs, 0), min(xe, x.W)
			o := dst.Data[((n*g.OutH+oy)*g.OutW+ox)*dst.C+c0:][:C]
			if kind == poolMax {
				for c := range o {
					o[c] = float32(math.Inf(-1))
				}
				for y := y0; y < y1; y++ {
					for xx := x0; xx < x1; xx++ {
						in := x.Data[((n*x.H+y)*x.W+xx)*C:][:C]
						for c, v := range in {
							o[c] = max(o[c], v)
						}
					}
				}
				poolEpilogue(o, bias, relu)
				continue
			}
			clear(o)
			for y := y0; y < y1; y++ {
				for xx := x0; xx < x1; xx++ {
					in := x.Data[((n*x.H+y)*x.W+xx)*C:][:C]
					for c, v := range in {
						o[c] += v
					}
				}
			}
			var cnt int
			if kind == poolAvgInclude {
				cnt = (min(ye, x.H+g.PadBottom) - ys) * (min(xe, x.W+g.PadRight) - xs)
			} else {
				cnt = (y1 - y0) * (x1 - x0)
			}
			if cnt > 0 {
				inv := 1 / float32(cnt)
				for c := range o {
					o[c] *= inv
				}
			}
			poolEpilogue(o, bias, relu)
		}
	}
}

// poolEpilogue adds bias (unless nil) to o and applies the ReLU with relu,
// as the convolutions' epilogue does.
func poolEpilogue(o, bias []float32, relu bool) {
	switch {
	case bias != nil && relu:
		addBiasReLU(o, bias)
	case bias != nil:
		addBias(o, bias)
	case relu:
		for j, v := range o {
			u := math.Float32bits(v)
			o[j] = math.Float32frombits(u &^ uint32(int32(u)>>31))
		}
	}
}

// poolPlanes is pool for single-channel maps (C == 1: the planes of an NCHW
// tensor). It adds (or takes the maximum of) the same values in the same
// order as the general path, so the results are bit-identical, but it walks
// each input row once per window column across all the output columns whose
// windows lie inside the row, instead of one window at a time.
func poolPlanes(dst, x *NHWC, w Window, g Geometry, kind poolKind) {
	sw := w.StrideW
	// Output columns [lo, hi) have their whole window inside the row.
	lo := min((g.PadLeft+sw-1)/sw, g.OutW)
	hi := max(min(floorDiv(x.W+g.PadLeft-w.KW, sw)+1, g.OutW), lo)
	// cntX[ox] is the number of window columns counted by the average.
	cntX := make([]int, g.OutW)
	for ox := range cntX {
		xs := ox*sw - g.PadLeft
		xe := xs + w.KW
		if kind == poolAvgInclude {
			cntX[ox] = min(xe, x.W+g.PadRight) - xs
		} else {
			cntX[ox] = min(xe, x.W) - max(xs, 0)
		}
	}
	parallel.For(x.N*g.OutH, 0, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			n, oy := r/g.OutH, r%g.OutH
			ys := oy*w.StrideH - g.PadTop
			ye := ys + w.KH
			y0, y1 := max(ys, 0), min(ye, x.H)
			o := dst.Data[r*g.OutW:][:g.OutW]
			if kind == poolMax {
				for i := range o {
					o[i] = float32(math.Inf(-1))
				}
			} else {
				clear(o)
			}
			for y := y0; y < y1; y++ {
				row := x.Data[(n*x.H+y)*x.W:][:x.W]
				for ox := 0; ox < len(o); ox++ {
					if ox == lo && hi > lo {
						ox = hi // skip the inner columns: they follow
						if ox >= len(o) {
							break
						}
					}
					xs := ox*sw - g.PadLeft
					for xx := max(xs, 0); xx < min(xs+w.KW, x.W); xx++ {
						if kind == poolMax {
							o[ox] = max(o[ox], row[xx])
						} else {
							o[ox] += row[xx]
						}
					}
				}
				in := o[lo:hi]
				if kind != poolMax && sw == 1 && w.KW == 3 && len(in) > 0 {
					// The three passes below in one.
					add3(in, row[lo-g.PadLeft:][:len(in)+2])
					continue
				}
				for k := 0; k < w.KW && len(in) > 0; k++ {
					off := lo*sw - g.PadLeft + k
					switch {
					case kind == poolMax && sw == 1:
						for i, v := range row[off : off+len(in)] {
							in[i] = max(in[i], v)
						}
					case kind == poolMax:
						for i := range in {
							in[i] = max(in[i], row[off+i*sw])
						}
					case sw == 1:
						for i, v := range row[off : off+len(in)] {
							in[i] += v
						}
					default:
						for i := range in {
							in[i] += row[off+i*sw]
						}
					}
				}
			}
			if kind == poolMax {
				continue
			}
			cntY := y1 - y0
			if kind == poolAvgInclude {
				cntY = min(ye, x.H+g.PadBottom) - ys
			}
			// Runs of equal counts (the inner columns) share one reciprocal.
			last, inv := -1, float32(0)
			for ox := range o {
				if cnt := cntY * cntX[ox]; cnt > 0 {
					if cnt != last {
						last, inv = cnt, 1/float32(cnt)
					}
					o[ox] *= inv
				}
			}
		}
	})
}

// planes views an NCHW tensor as an NHWC map with one channel per plane
// (N*C planes of H x W), so the NHWC kernels serve both layouts.
func planes(t *Tensor) *NHWC {
	return &NHWC{N: t.N * t.C, H: t.H, W: t.W, C: 1, Data: t.Data[:t.Len()]}
}

// fromPlanes writes the shape of a planes view back into an NCHW tensor.
func fromPlanes(dst *Tensor, n, c int, p *NHWC) *Tensor {
	if dst == nil {
		dst = &Tensor{}
	}
	dst.N, dst.C, dst.H, dst.W = n, c, p.H, p.W
	dst.Data = p.Data
	return dst
}

// AvgPool2D is PyTorch's F.avg_pool2d(x, k, stride, pad, count_include_pad)
// (ceil_mode False) on an NCHW tensor, returning a new tensor.
func AvgPool2D(x *Tensor, k, stride, pad int, countIncludePad bool) *Tensor {
	return AvgPool2DInto(nil, x, Square(k, stride, pad), countIncludePad)
}

// AvgPool2DInto is AvgPool2D with any window (including TensorFlow "same")
// writing into dst, which is reused when large enough (allocated when nil).
// dst must not alias x.
func AvgPool2DInto(dst, x *Tensor, w Window, countIncludePad bool) *Tensor {
	var d NHWC
	if dst != nil {
		d.Data = dst.Data
	}
	AvgPool(&d, planes(x), w, countIncludePad)
	return fromPlanes(dst, x.N, x.C, &d)
}

// MaxPool2D is PyTorch's F.max_pool2d(x, k, stride, pad) on an NCHW tensor.
func MaxPool2D(x *Tensor, k, stride, pad int) *Tensor {
	return MaxPool2DInto(nil, x, Square(k, stride, pad))
}

// MaxPool2DInto is MaxPool2D with any window, writing into dst (reused when
// large enough, allocated when nil). dst must not alias x.
func MaxPool2DInto(dst, x *Tensor, w Window) *Tensor {
	var d NHWC
	if dst != nil {
		d.Data = dst.Data
	}
	MaxPool(&d, planes(x), w)
	return fromPlanes(dst, x.N, x.C, &d)
}

// add3 adds r[i], r[i+1] and r[i+2] to each o[i], one at a time: the
// three column passes of poolPlanes' 3-wide, stride-1 sums in one, with the
// same additions in the same order. r holds len(o)+2 values.
func add3(o, r []float32) {
	n := len(o)
	r0, r1, r2 := r[:n], r[1:n+1], r[2:n+2]
	for i := range o {
		s := o[i]
		s += r0[i]
		s += r1[i]
		s += r2[i]
		o[i] = s
	}
}
