package report_test

import (
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/report"
)

// Stream scored test images into a gallery, then write the HTML report.
func ExampleWriteHTML() {
	dir := filepath.Join(os.TempDir(), "crd-example-report")
	defer os.RemoveAll(dir)
	const threshold = 1.0
	g := report.NewGallery(dir, report.GalleryOptions{Max: 10})
	for i, score := range []float64{0.4, 0.7, 1.6, 0.9} {
		img := dataset.NewRGB(32, 32) // in the pipeline: the preprocessed image, its anomaly map and its mask
		amap := anomalymap.NewMap(32, 32)
		defect := dataset.Good
		var mask *dataset.Mask
		if i >= 2 {
			defect = "scratch"
			mask = &dataset.Mask{Pix: make([]bool, 32*32), W: 32, H: 32}
			mask.Pix[16*32+16] = true
		}
		err := g.Add(report.Item{
			Outcome: report.Outcome{Name: fmt.Sprintf("%s/%03d.png", defect, i), Defect: defect,
				Score: score, NormScore: score / threshold, Threshold: threshold, Predicted: score > threshold},
			Image: img, Map: amap, Mask: mask,
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	for _, e := range g.Entries() {
		fmt.Printf("%-16s score %.1f correct %-5v picture %s\n", e.Name, e.Score, e.Correct, e.Image)
	}
	all := detector.NewMetrics() // in the pipeline: Detector.Evaluate's result, with EvalReport
	all.NImages, all.NDefect, all.ImageAUROC = 4, 2, 1
	r := &report.Report{
		Title:      "Example",
		Model:      report.Model{Method: "CRD", Lambda: math.NaN(), Threshold: threshold, TrainImages: 10},
		Evaluation: &detector.Evaluation{Overall: all},
		Gallery:    g,
	}
	if err := report.WriteHTML(dir, r); err != nil {
		log.Fatal(err)
	}
	_, err := os.Stat(filepath.Join(dir, "index.html"))
	fmt.Println("index.html written:", err == nil)
	// Output:
	// scratch/003.png  score 0.9 correct false picture images/0003_scratch_003.png
	// good/001.png     score 0.7 correct true  picture images/0001_good_001.png
	// good/000.png     score 0.4 correct true  picture images/0000_good_000.png
	// scratch/002.png  score 1.6 correct true  picture images/0002_scratch_002.png
	// index.html written: true
}
