// Package nn is a small inference-only CNN engine in float32, enough to run
// the backbones' trunks. The engine works on NHWC maps (NHWC): a convolution
// (Conv2D, batch norm folded in at load, optional fused ReLU and residual add)
// is an im2col gather plus one GEMM per chunk of output pixels, through the
// project's AVX-512 kernels where the CPU has them and OpenBLAS otherwise;
// scratch memory comes from a reusable Workspace. Max and average pooling
// follow PyTorch's and Keras's padding rules (Window, Geometry); Add, ReLU,
// ConcatNHWC and ResizeBilinearNHWC complete the set.
//
// Tensor is the NCHW layout in which feature layers leave the engine (FromNCHW
// and NHWC.ToNCHW convert); the NCHW pooling, Concat and ResizeBilinear
// functions serve the patch-feature aggregation (package patchfeat) and tests.
package nn

// Tensor is a dense float32 tensor in NCHW layout: element (n, c, y, x) is
// Data[((n*C+c)*H+y)*W+x]. For one image (N = 1) the tensor read as a matrix
// is C x (H*W), row-major: the d x P patch-feature matrix of the method.
type Tensor struct {
	N, C, H, W int
	Data       []float32
}

// NewTensor allocates a zeroed N x C x H x W tensor.
func NewTensor(n, c, h, w int) *Tensor {
	return &Tensor{N: n, C: c, H: h, W: w, Data: make([]float32, n*c*h*w)}
}

// Len is the number of elements, N*C*H*W.
func (t *Tensor) Len() int { return t.N * t.C * t.H * t.W }

// Image returns the n-th image of the batch as a 1 x C x H x W tensor that
// shares t's memory.
func (t *Tensor) Image(n int) *Tensor {
	s := t.C * t.H * t.W
	return &Tensor{N: 1, C: t.C, H: t.H, W: t.W, Data: t.Data[n*s : (n+1)*s : (n+1)*s]}
}
