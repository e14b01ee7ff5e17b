package dataset_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/synth"
)

// Open an MVTec AD category and load its first defective test image with its mask.
func ExampleOpenCategory() {
	dir := filepath.Join(os.TempDir(), "crd-example-dataset")
	defer os.RemoveAll(dir)
	if err := synth.Generate(dir, synth.Options{Size: 64, NumTrain: 2, NumTestGood: 1, NumPerDefect: 1}); err != nil {
		log.Fatal(err)
	}
	cat, err := dataset.OpenCategory(dir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(cat.Train), "training images; defect types", cat.Defects)
	for _, s := range cat.Test {
		if !s.Anomalous() {
			continue
		}
		img, mask, err := dataset.LoadPair(s.Path, s.MaskPath)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s/%s: %dx%d, mask has defect pixels: %v\n", s.Defect, filepath.Base(s.Path), img.W, img.H, mask.Count() > 0)
		break
	}
	// Output:
	// 2 training images; defect types [missing scratch spot]
	// missing/000.png: 64x64, mask has defect pixels: true
}
