package avx512

import "fmt"

// PlanesOut is the number of output channels of ConvPlanes.
const PlanesOut = 32

// PlanesShape is an unpadded convolution of N images of C planes of H x W
// (an NCHW tensor) with KH x KW windows and the same stride on both axes,
// whose output is OutH x OutW pixels an image.
type PlanesShape struct {
	C, H, W, KH, KW, Stride, OutH, OutW int
}

// ConvPlanes computes output rows [r0, r1) of the convolution s of x (NCHW)
// into out (NHWC, ldc floats a pixel, PlanesOut channels from out[0]): row
// r is output row r % OutH of image r / OutH. w holds KH*KW*C rows of
// weights ldw values apart (ldw >= PlanesOut), ordered (ky, kx, c), of which
// the first PlanesOut of each are read: PlanesOut columns of a Keras HWIO
// kernel of ldw outputs. Each output is
//
//	s := float32(0)
//	for ky, kx, c (in that order) {
//		s = fma(x[n, c, oy*Stride+ky, ox*Stride+kx], w[((ky*KW+kx)*C+c)*ldw+o], s)
//	}
//	s += bias[o]
//	out = s, or its ReLU when relu (values with the sign bit set cleared)
//
// which are, bit for bit, the values of Sgemm's epilogue kernels on the
// im2col rows (one part of the inner dimension). It reads each input
// value where it lies, with no layout conversion and no gathered rows. It
// panics on slices too short for the shape, or unless Supported.
func ConvPlanes(s *PlanesShape, x, w []float32, ldw int, bias []float32, relu bool, out []float32, ldc, r0, r1 int) {
	if !Supported() {
		panic(errUnsupported)
	}
	if s.C <= 0 || s.KH <= 0 || s.KW <= 0 || s.Stride <= 0 || s.OutH <= 0 || s.OutW <= 0 ||
		(s.OutH-1)*s.Stride+s.KH > s.H || (s.OutW-1)*s.Stride+s.KW > s.W || ldc < PlanesOut ||
		r0 < 0 || r1 <= r0 || len(x) < ((r1-1)/s.OutH+1)*s.C*s.H*s.W ||
		ldw < PlanesOut || len(w) < (s.KH*s.KW*s.C-1)*ldw+PlanesOut || len(bias) < PlanesOut || len(out) < ((r1-1)*s.OutW+s.OutW-1)*ldc+PlanesOut {
		panic(fmt.Sprintf("avx512: ConvPlanes: rows [%d, %d) of %+v on %d inputs, %d weights (ldw %d), %d biases, %d outputs (ldc %d)",
			r0, r1, *s, len(x), len(w), ldw, len(bias), len(out), ldc))
	}
	convPlanesKernel(s, x, w, ldw, bias, relu, out, ldc, r0, r1)
}
