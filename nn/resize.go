package nn

import (
	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/internal/parallel"
)

// ResizeBilinear is PyTorch's F.interpolate(x, size=(h, w), mode="bilinear",
// align_corners=False) without antialiasing, on an NCHW tensor, returning a
// new tensor. Output pixel i samples the input at (i + 0.5) * in/out - 0.5,
// clamped below at 0, interpolating the two neighbours (the upper one
// clamped to the last row/column).
func ResizeBilinear(x *Tensor, h, w int) *Tensor {
	return ResizeBilinearInto(nil, x, h, w)
}

// ResizeBilinearInto is ResizeBilinear writing into dst, which is reused when
// large enough (allocated when nil). dst must not alias x. It runs the
// kernels of kernels.Detected (see ResizeBilinearIntoKernels).
func ResizeBilinearInto(dst, x *Tensor, h, w int) *Tensor {
	return ResizeBilinearIntoKernels(dst, x, h, w, kernels.Set{})
}

// ResizeBilinearIntoKernels is ResizeBilinearInto with the implementation
// chosen by kern (kernels.Pool: avx512.ResizeBilinear, else loops in Go),
// the same values bit for bit.
func ResizeBilinearIntoKernels(dst, x *Tensor, h, w int, kern kernels.Set) *Tensor {
	var d NHWC
	if dst != nil {
		d.Data = dst.Data
	}
	resizeBilinearNHWC(&d, planes(x), h, w, kern)
	return fromPlanes(dst, x.N, x.C, &d)
}

// BilinearTaps are ResizeBilinear's taps along one axis of in values
// resized to out: output index i is w0[i] x[i0[i]] + w1[i] x[i1[i]], i1[i]
// being i0[i] + 1 or, at the last input, i0[i]. A scorer that resizes
// products of features instead of the features (crd.Model.ScoreLayers)
// weighs with these.
func BilinearTaps(in, out int) (i0, i1 []int, w0, w1 []float32) {
	t := bilinearTaps(in, out)
	return t.i0, t.i1, t.l0, t.l1
}

// interp holds, for each output index, the two source indices and weights.
type interp struct {
	i0, i1 []int
	l0, l1 []float32
}

// int32s is t for avx512.ResizeBilinear.
func (t interp) int32s() *avx512.Bilinear {
	b := &avx512.Bilinear{I0: make([]int32, len(t.i0)), I1: make([]int32, len(t.i1)), W0: t.l0, W1: t.l1}
	for i := range t.i0 {
		b.I0[i], b.I1[i] = int32(t.i0[i]), int32(t.i1[i])
	}
	return b
}

func bilinearTaps(in, out int) interp {
	t := interp{make([]int, out), make([]int, out), make([]float32, out), make([]float32, out)}
	scale := float32(in) / float32(out)
	for i := 0; i < out; i++ {
		src := scale*(float32(i)+0.5) - 0.5
		if src < 0 {
			src = 0
		}
		i0 := int(src)
		if i0 > in-1 {
			i0 = in - 1
		}
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		l1 := src - float32(i0)
		t.i0[i], t.i1[i], t.l0[i], t.l1[i] = i0, i1, 1-l1, l1
	}
	return t
}

// ResizeBilinearNHWC is ResizeBilinear on an NHWC map, into dst (reshaped).
func ResizeBilinearNHWC(dst, x *NHWC, h, w int) { resizeBilinearNHWC(dst, x, h, w, kernels.Set{}) }

// resizeBilinearNHWC is ResizeBilinearNHWC on the kernels where kern
// says so: single-channel maps (the planes of an NCHW tensor) as planes,
// others as rows of channels (resizeRows).
func resizeBilinearNHWC(dst, x *NHWC, h, w int, kern kernels.Set) {
	if h <= 0 || w <= 0 || x.H <= 0 || x.W <= 0 {
		panic("nn: ResizeBilinear to or from an empty size")
	}
	dst.Reshape(x.N, h, w, x.C)
	ty, tx := bilinearTaps(x.H, h), bilinearTaps(x.W, w)
	C := x.C
	if C == 1 {
		resizePlanes(dst, x, ty, tx, kern)
		return
	}
	for n := range x.N {
		resizeRows(x.Data[n*x.H*x.W*C:], C, x.H, x.W, C, ty, tx, w, dst.Data[n*h*w*C:], C, false, kern)
	}
}

// ResizeRowsKernels resizes the first n values of the rows of src (row
// stride lds), the positions of an hc x wc grid, to an h x w grid by
// ResizeBilinear's taps and arithmetic, into the rows of dst (stride ldd),
// or adds the result to them when add: ResizeBilinearNHWC of n channels
// whose rows are wider than n. A scorer that resizes products of features
// (crd.Model.ScoreLayers) resizes their rows with it. kern's kernels.Pool
// runs it on avx512.ResizeRows, else in Go (the same values); output rows
// are shared among the cores.
func ResizeRowsKernels(src []float32, lds, hc, wc, n, h, w int, dst []float32, ldd int, add bool, kern kernels.Set) {
	if h <= 0 || w <= 0 || hc <= 0 || wc <= 0 {
		panic("nn: ResizeBilinear to or from an empty size")
	}
	resizeRows(src, lds, hc, wc, n, bilinearTaps(hc, h), bilinearTaps(wc, w), w, dst, ldd, add, kern)
}

// resizeRows is ResizeRowsKernels with the taps given (ty's length is the
// output height).
func resizeRows(src []float32, lds, hc, wc, n int, ty, tx interp, w int, dst []float32, ldd int, add bool, kern kernels.Set) {
	h := len(ty.i0)
	if kern.UsesAVX512(kernels.Pool) {
		by, bx := ty.int32s(), tx.int32s()
		parallel.For(h, 0, func(lo, hi int) {
			rows := &avx512.Bilinear{I0: by.I0[lo:hi], I1: by.I1[lo:hi], W0: by.W0[lo:hi], W1: by.W1[lo:hi]}
			avx512.ResizeRows(src, lds, hc, wc, n, rows, bx, hi-lo, w, dst[lo*w*ldd:], ldd, add)
		})
		return
	}
	parallel.For(h, 0, func(lo, hi int) {
		for oy := lo; oy < hi; oy++ {
			row0, row1 := src[ty.i0[oy]*wc*lds:], src[ty.i1[oy]*wc*lds:]
			wy0, wy1 := ty.l0[oy], ty.l1[oy]
			for ox := 0; ox < w; ox++ {
				a, b := tx.i0[ox]*lds, tx.i1[ox]*lds
				wx0, wx1 := tx.l0[ox], tx.l1[ox]
				o := dst[(oy*w+ox)*ldd:][:n]
				p00, p01 := row0[a:a+n], row0[b:b+n]
				p10, p11 := row1[a:a+n], row1[b:b+n]
				for c := range o {
					v := wy0*(wx0*p00[c]+wx1*p01[c]) + wy1*(wx0*p10[c]+wx1*p11[c])
					if add {
						v += o[c]
					}
					o[c] = v
				}
			}
		}
	})
}

// resizePlanes is ResizeBilinearNHWC for single-channel maps (C == 1: the
// planes of an NCHW tensor), with the same arithmetic per output value:
// each plane's source rows are first interpolated horizontally (the inner
// sums wx0*p[a] + wx1*p[b]), once per source row instead of once per output
// row that reads them, then blended vertically. kern's kernels.Pool runs
// it on avx512.ResizeBilinear, the same arithmetic.
func resizePlanes(dst, x *NHWC, ty, tx interp, kern kernels.Set) {
	h, w := dst.H, dst.W
	if kern.UsesAVX512(kernels.Pool) {
		by, bx := ty.int32s(), tx.int32s()
		parallel.For(x.N, 0, func(lo, hi int) {
			rows := make([]float32, x.H*w)
			avx512.ResizeBilinear(x.Data[lo*x.H*x.W:hi*x.H*x.W], hi-lo, x.H, x.W, h, w, by, bx, rows, dst.Data[lo*h*w:hi*h*w])
		})
		return
	}
	parallel.For(x.N, 0, func(lo, hi int) {
		rows := make([]float32, x.H*w)
		for n := lo; n < hi; n++ {
			for sy := range x.H {
				src := x.Data[(n*x.H+sy)*x.W:][:x.W]
				o := rows[sy*w:][:w]
				i0, i1, l0, l1 := tx.i0[:w], tx.i1[:w], tx.l0[:w], tx.l1[:w]
				for ox := range o {
					o[ox] = l0[ox]*src[i0[ox]] + l1[ox]*src[i1[ox]]
				}
			}
			for oy := range h {
				r0, r1 := rows[ty.i0[oy]*w:][:w], rows[ty.i1[oy]*w:][:w]
				wy0, wy1 := ty.l0[oy], ty.l1[oy]
				o := dst.Data[(n*h+oy)*w:][:w]
				for ox := range o {
					o[ox] = wy0*r0[ox] + wy1*r1[ox]
				}
			}
		}
	})
}
