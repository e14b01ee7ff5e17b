package metrics_test

import (
	"fmt"

	"github.com/crd-ad/crd/metrics"
)

func ExampleAUROC() {
	// Image scores of two normal and two defective images.
	auc, err := metrics.AUROC([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true})
	fmt.Println(auc, err)
	// Output: 0.75 <nil>
}

func ExamplePixelSet() {
	// Accumulate the anomaly map and mask of every test image (here one 2 x 4
	// image with two defect regions), then compute the pixel metrics.
	var s metrics.PixelSet
	s.Add(
		[]float32{0.9, 0.5, 0.6, 0.1, 0.2, 0.3, 0.4, 0.8},
		[]bool{true, true, false, false, false, false, false, true},
		4)
	auroc, _ := s.AUROC()
	f1, thr, _ := s.F1Max()
	aupro, _ := s.AUPRO(0.3)
	fmt.Printf("regions %d, pixel AUROC %.4f, F1-max %.4f at %g, AUPRO %.4f\n", s.Regions(), auroc, f1, thr, aupro)
	// Output: regions 2, pixel AUROC 0.9333, F1-max 0.8571 at 0.5, AUPRO 0.8333
}
