package anomalymap_test

import (
	"fmt"

	"github.com/crd-ad/crd/anomalymap"
)

func ExampleGenerator() {
	// A 2 x 2 patch-score grid with one hot patch, turned into a 16 x 16 map:
	// bilinear upsampling, then a Gaussian blur with sigma 2 (kernel 17).
	g := anomalymap.NewGenerator(16, 16, anomalymap.Options{Sigma: 2, Interp: anomalymap.Bilinear})
	m := g.Map(nil, []float32{0, 0, 0, 4}, 2, 2)
	fmt.Printf("kernel %d, corners %.2g and %.3f\n", anomalymap.KernelSize(2), m[0], m[len(m)-1])
	// Output: kernel 17, corners 0.00029 and 3.932
}
