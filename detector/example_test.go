package detector

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/synth"
	"github.com/crd-ad/crd/weights"
)

// Train a detector on normal images, save it, load it back and score an
// image, as a Go service would. The example uses the package tests' tiny
// weight-free backbone; real code passes "inception_v3" (the default) or
// another registered backbone.
func Example() {
	tmp, err := os.MkdirTemp("", "crd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	// The tiny backbone's (empty) weight file in a private cache.
	os.Setenv(weights.CacheEnv, tmp)
	defer os.Unsetenv(weights.CacheEnv)
	wpath, _ := weights.CachePath(tinyName)
	os.MkdirAll(filepath.Dir(wpath), 0o755)
	weights.WriteVerified(wpath, weights.Tensors{"unused": {Shape: []int{1}, Data: []float32{0}}}, nil)

	data := filepath.Join(tmp, "surface")
	if err := synth.Generate(data, synth.Options{Seed: 3, Size: 64, NumTrain: 12, NumTestGood: 4, NumPerDefect: 3}); err != nil {
		log.Fatal(err)
	}
	cat, err := dataset.OpenCategory(data)
	if err != nil {
		log.Fatal(err)
	}

	opts := DefaultTrainOptions()
	opts.Backbone = tinyName
	opts.Holdout = 0.25         // 3 of the 12 normal images set the thresholds
	ctx := context.Background() // a server passes its request's context
	d, err := Train(ctx, cat.Train, opts)
	if err != nil {
		log.Fatal(err)
	}
	model := filepath.Join(tmp, "surface.crd")
	if err := d.Save(model, true); err != nil {
		log.Fatal(err)
	}

	// In the service: load once, then score images as they come.
	det, err := Load(model)
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(data, "test", "missing", "000.png")
	res, err := det.Predict(ctx, path)
	if err != nil {
		log.Fatal(err)
	}
	images, _ := det.Method.Counts()
	fmt.Printf("model: %s on %d images, %d held out\n", det.Method.Name(), images, det.Calibration.HeldOut)
	fmt.Printf("map: %d x %d, score above threshold: %v\n", res.Map.W, res.Map.H, res.Defect)

	// Images already decoded (a request body, say) are scored as one
	// backbone batch; PredictImages may be called from many goroutines.
	img, err := dataset.LoadImage(path)
	if err != nil {
		log.Fatal(err)
	}
	batch, err := det.PredictImages(ctx, []*dataset.RGB{img, img})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("batch of %d: same score as the file: %v\n", len(batch), batch[1].Score == res.Score)
	// Output:
	// model: crd on 9 images, 3 held out
	// map: 64 x 64, score above threshold: true
	// batch of 2: same score as the file: true
}
