package nn

import (
	"math/rand/v2"
	"testing"
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
