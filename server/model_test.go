package server

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/internal/testenv"
	"github.com/crd-ad/crd/synth"
	"github.com/crd-ad/crd/weights"
)

// testData is a small synthetic category and two tiny models trained on it
// with the default backbone at a 75-pixel input, made once per test binary.
type testData struct {
	dir           string // the category
	model, model2 string // two models of the same data, different seeds
	good, defect  string // a test image of each kind
	imgSize       int
	err           error
	missing       error // the default backbone, when it cannot be loaded
}

var (
	testOnce sync.Once
	shared   testData
)

// fixture returns the shared test data, skipping the test when the default
// backbone's weights are missing (except in CI, where that fails).
func fixture(t testing.TB) *testData {
	t.Helper()
	testOnce.Do(func() { shared = makeTestData() })
	testenv.Require(t, shared.missing, "scripts/setup.sh fetches it")
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return &shared
}

func makeTestData() (td testData) {
	if _, err := weights.CachePath("inception_v3"); err == nil {
		if _, err := backbone.Load("inception_v3"); err != nil {
			return testData{missing: err}
		}
	}
	dir, err := os.MkdirTemp("", "crd-server-test-")
	if err != nil {
		return testData{err: err}
	}
	td = testData{dir: filepath.Join(dir, "cat"), imgSize: 96}
	if err := synth.Generate(td.dir, synth.Options{Seed: 7, Size: td.imgSize, NumTrain: 8, NumTestGood: 2, NumPerDefect: 1}); err != nil {
		return testData{err: err}
	}
	train, err := filepath.Glob(filepath.Join(td.dir, "train", "good", "*.png"))
	if err != nil {
		return testData{err: err}
	}
	td.good = filepath.Join(td.dir, "test", "good", "000.png")
	td.defect = filepath.Join(td.dir, "test", "spot", "000.png")
	for i, out := range []*string{&td.model, &td.model2} {
		o := detector.DefaultTrainOptions()
		o.Preprocess = backbone.InceptionInfo().Preprocess
		o.Preprocess.Resize, o.Preprocess.Crop = 75, 75
		o.Holdout, o.Seed = 0.25, uint64(i+1)
		d, err := detector.Train(context.Background(), train, o)
		if err != nil {
			return testData{err: err}
		}
		*out = filepath.Join(dir, []string{"a.crd", "b.crd"}[i])
		if err := d.Save(*out, false); err != nil {
			return testData{err: err}
		}
	}
	return td
}

// directScores scores image files with the detector itself: the reference
// the server's answers are checked against.
func directScores(t testing.TB, model string, paths ...string) []float64 {
	t.Helper()
	d, err := detector.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	if err := d.PredictFiles(context.Background(), paths, false, nil, func(r *detector.Result) error {
		out = append(out, r.Score)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
