package anomalymap_test

import (
	"fmt"

	"github.com/crd-ad/crd/anomalymap"
)

func ExampleGenerator() {
	// A 2 x 2 patch-score grid with one hot patch, turned into a 16 x 16 map:
	// bilinear upsampling, then a Gaussian blur with sigma 2 (kernel 17).
	g := anomalymap.NewGenerator(16, 16, anomalymap.Options{Sigma: 2, Interp: anomalymap.Bilinear})
	grid := anomalymap.Map{Pix: []float32{0, 0, 0, 4}, W: 2, H: 2}
	m := g.Map(nil, grid)
	fmt.Printf("kernel %d, corners %.2g and %.3f\n", anomalymap.KernelSize(2), m.At(0, 0), m.At(15, 15))
	// Output: kernel 17, corners 0.00029 and 3.932
}
