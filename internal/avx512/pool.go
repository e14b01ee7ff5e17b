package avx512

import "fmt"

// PoolKind is the reduction of a pooling.
type PoolKind int

// The poolings of PoolRows.
const (
	// PoolMax is the maximum of the window's cells inside the map.
	PoolMax PoolKind = iota
	// PoolAvgInclude is the mean over the window's cells inside the padded
	// map (PyTorch count_include_pad=True).
	PoolAvgInclude
	// PoolAvgExclude is the mean over the window's cells inside the map
	// (PyTorch count_include_pad=False, Keras "same").
	PoolAvgExclude
)

// PoolShape is one pooling of an N x H x W x C NHWC map into an
// N x OutH x OutW x C one: windows of KH x KW cells, strides StrideH and
// StrideW, and padding on each side.
type PoolShape struct {
	H, W, C, OutH, OutW                  int
	KH, KW, StrideH, StrideW             int
	PadTop, PadLeft, PadBottom, PadRight int
	Kind                                 PoolKind
	// OutStride is the number of floats from one output pixel to the
	// next in dst (0: C): at least C, the pooling written into C channels
	// of a wider map.
	OutStride int
	// Bias, unless nil, holds C values added to the outputs' channels;
	// with ReLU, outputs with the sign bit set are then cleared (nn's
	// addBiasReLU): the epilogue of a convolution whose output was pooled.
	Bias []float32
	ReLU bool
}

// outStride returns OutStride, or C where it is 0.
func (s *PoolShape) outStride() int {
	if s.OutStride == 0 {
		return s.C
	}
	return s.OutStride
}

// PoolRows computes rows [r0, r1) of the pooling s of x into dst (row r is
// output row r % OutH of image r / OutH), each output pixel as
//
//	acc := -Inf (max) or 0 (average)
//	for y := max(ys, 0); y < min(ys+KH, H); y++ {
//		for x := max(xs, 0); x < min(xs+KW, W); x++ {
//			acc = max(acc, v) or acc + v
//		}
//	}
//	out = acc, or acc * (1 / float32(count))
//	out += Bias[ch] (unless Bias is nil), then the ReLU (with ReLU)
//
// for each channel, with ys = oy StrideH - PadTop and xs = ox StrideW -
// PadLeft, and count the number of cells the average counts (see
// PoolKind): the same values as that loop in Go, 16 channels at a time.
// It panics on slices too short for the shape, or unless Supported.
func PoolRows(s *PoolShape, x, dst []float32, r0, r1 int) {
	if !Supported() {
		panic(errUnsupported)
	}
	if r0 < 0 || r1 <= r0 || s.OutH <= 0 || s.OutW <= 0 || s.C <= 0 || s.outStride() < s.C || (s.Bias != nil && len(s.Bias) < s.C) ||
		len(x) < ((r1-1)/s.OutH+1)*s.H*s.W*s.C || len(dst) < (r1*s.OutW-1)*s.outStride()+s.C {
		panic(fmt.Sprintf("avx512: PoolRows: rows [%d, %d) of %+v on %d, %d values", r0, r1, *s, len(x), len(dst)))
	}
	poolKernel(s, x, dst, r0, r1)
}
