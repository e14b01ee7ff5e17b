package nn_test

import (
	"fmt"

	"github.com/crd-ad/crd/nn"
)

// A 3x3 convolution with a folded batch norm and ReLU on an NHWC batch, then
// the patch-feature pooling of the pipeline on the NCHW result.
func Example() {
	x := nn.NewTensor(1, 2, 4, 4) // N x C x H x W
	for i := range x.Data {
		x.Data[i] = float32(i%5) - 1
	}
	conv := nn.NewConv2D(2, 3, nn.Square(3, 1, 1)) // PyTorch Conv2d(2, 3, 3, padding=1)
	w := make([]float32, 3*2*3*3)                  // OIHW, as in a PyTorch state dict
	for i := range w {
		w[i] = 0.1
	}
	conv.SetWeightsOIHW(w)
	conv.FoldBatchNorm(nil, nil, []float32{0, 0, 0}, []float32{1, 1, 1}, 1e-5)
	conv.ReLU = true

	var ws nn.Workspace // scratch memory, reused across calls
	var y nn.NHWC
	conv.Forward(&y, nn.FromNCHW(nil, x), &ws)
	feat := y.ToNCHW(nil)
	pooled := nn.AvgPool2D(feat, 3, 1, 1, true)
	up := nn.ResizeBilinear(pooled, 8, 8)
	fmt.Println(feat.C, feat.H, feat.W, up.H, up.W)
	fmt.Printf("%.3f\n", feat.Data[5])
	// Output:
	// 3 4 4 8 8
	// 1.100
}
