package crd_test

import (
	"fmt"
	"log"

	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/modelfile"
)

// Two-dimensional features for the examples. Normal patches vary along the
// first axis only, so that G = diag(9, 0) + ... and with lambda = 1 the model
// is M = -diag(1/(9+1), 1): a patch along the first axis scores little, one
// off it scores fully.
var (
	// A d x p matrix (d = 2, p = 2): patches (1, 0) and (2, 0).
	imageA = []float32{
		1, 2, // first coordinate of patches 0 and 1
		0, 0, // second coordinate
	}
	// Patches (-2, 0) and (0, 0).
	imageB = []float32{
		-2, 0,
		0, 0,
	}
	// Query: patches (1, 0), (0, 1) and (3, 0).
	query = []float32{
		1, 0, 3,
		0, 1, 0,
	}
)

var opts = crd.SolveOptions{Lambda: 1, Mode: crd.Absolute, Score: crd.Residual}

func Example() {
	acc := crd.NewAccumulator(2)
	acc.Add(imageA, 2)
	acc.Add(imageB, 2)
	model, err := acc.Solve(opts)
	if err != nil {
		log.Fatal(err)
	}
	scores := make([]float32, 3)
	model.Score(query, 3, scores)
	fmt.Printf("G = %v, diag(M) = [%.2f %.2f]\n", acc.Gram(), model.M[0], model.M[3])
	fmt.Printf("scores %.4f\n", scores)
	// Output:
	// G = [9 0 0 0], diag(M) = [-0.10 -1.00]
	// scores [0.0100 1.0000 0.0900]
}

func ExampleAccumulator_Solve() {
	acc := crd.NewAccumulator(2)
	acc.Add(imageA, 2)
	acc.Add(imageB, 2)
	// The default lambda is relative: 1e-2 * trace(G)/d = 1e-2 * 9/2.
	model, err := acc.Solve(crd.DefaultSolveOptions())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("lambda = %.6g (%s %g), score %s\n", model.Lambda, model.Options.Mode, model.Options.Lambda, model.Options.Score)
	// Output: lambda = 0.045 (relative 0.01), score residual
}

func ExampleModel_Score() {
	acc := crd.NewAccumulator(2)
	acc.Add(imageA, 2)
	acc.Add(imageB, 2)
	o := opts
	o.Score = crd.Objective // lambda y^T (G + lambda I)^-1 y
	model, err := acc.Solve(o)
	if err != nil {
		log.Fatal(err)
	}
	scores := make([]float32, 3)
	model.Score(query, 3, scores)
	fmt.Printf("%.4f\n", scores)
	// Output: [0.1000 1.0000 0.9000]
}

func ExampleFromFile() {
	acc := crd.NewAccumulator(2)
	acc.Add(imageA, 2)
	model, err := acc.Solve(opts)
	if err != nil {
		log.Fatal(err)
	}
	// A model file holds the model's arrays (true: keep G for later merges);
	// package detector writes its Params into the file's header beside the
	// backbone and calibration, and reads them back on load.
	b, err := modelfile.Encode(&modelfile.File{Arrays: model.Arrays(true)})
	if err != nil {
		log.Fatal(err)
	}
	f, err := modelfile.Decode(b)
	if err != nil {
		log.Fatal(err)
	}
	p := model.Params().(crd.Params)
	loaded, err := crd.FromFile(p, f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s model, d = %d, %d images, %d patches, lambda %g, has G: %v\n",
		loaded.Name(), p.D, p.NumImages, p.NumPatches, p.LambdaAbs, loaded.Acc != nil)
	// Output: crd model, d = 2, 1 images, 2 patches, lambda 1, has G: true
}

func ExampleMergeModels() {
	// Two shards trained separately (on different machines, say).
	accA := crd.NewAccumulator(2)
	accA.Add(imageA, 2)
	modelA, err := accA.Solve(opts)
	if err != nil {
		log.Fatal(err)
	}
	accB := crd.NewAccumulator(2)
	accB.Add(imageB, 2)
	modelB, err := accB.Solve(opts)
	if err != nil {
		log.Fatal(err)
	}
	merged, err := crd.MergeModels([]*crd.Model{modelA, modelB})
	if err != nil {
		log.Fatal(err)
	}
	scores := make([]float32, 3)
	merged.Score(query, 3, scores)
	fmt.Printf("%d images, scores %.4f\n", merged.NumImages, scores)
	// Output: 2 images, scores [0.0100 1.0000 0.0900]
}
