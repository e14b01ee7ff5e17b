package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/crd-ad/crd/internal/kernels"
)

// BenchmarkMaxPool is the ResNet stem's 3x3/2 max pooling at batch 8.
func BenchmarkMaxPool(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := FromNCHW(nil, randTensor(r, 8, 64, 112, 112))
	var d NHWC
	for i := 0; i < b.N; i++ {
		MaxPool(&d, x, Square(3, 2, 1))
	}
}

// BenchmarkAvgPoolPlanes is patchfeat's 3x3/1 average pooling (padding 1,
// padded zeros counted) of inception_v3's mixed2 layer at batch 8, NCHW,
// into a reused tensor.
func BenchmarkAvgPoolPlanes(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := randTensor(r, 8, 288, 35, 35)
	var d Tensor
	for b.Loop() {
		AvgPool2DInto(&d, x, Square(3, 1, 1), true)
	}
}

// BenchmarkResizePlanes is patchfeat's bilinear resize of the pooled mixed5
// layer (17x17) to mixed2's 35x35 grid at batch 8, NCHW, into a reused
// tensor, in Go and, where it runs, on the AVX-512 kernel.
func BenchmarkResizePlanes(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := randTensor(r, 8, 768, 17, 17)
	sets := map[string]kernels.Set{"go": kernels.BLAS()}
	if kernels.AVX512Supported() {
		sets["avx512"] = kernels.AVX512(kernels.Pool)
	}
	for name, kern := range sets {
		b.Run(name, func(b *testing.B) {
			var d Tensor
			for b.Loop() {
				ResizeBilinearIntoKernels(&d, x, 35, 35, kern)
			}
		})
	}
}
