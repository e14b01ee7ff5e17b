package detector

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crd-ad/crd/modelfile"
)

// rawGrids scores paths with d's scorer alone: no calibration involved.
func rawGrids(t *testing.T, d *Detector, paths []string) [][]float32 {
	t.Helper()
	raw := d.Raw()
	var out [][]float32
	err := raw.PredictFiles(context.Background(), paths, false, nil, func(r *Result) error {
		out = append(out, slices.Clone(r.Grid.Pix))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPositionNormalisation: training stores the float64 mean of the raw
// held-out grids per position, and a prediction's grid, image score and
// threshold are on the raw grid divided by it.
func TestPositionNormalisation(t *testing.T) {
	cat := setup(t)
	o := tinyOptions()
	o.Holdout = 0.25
	// Normalisation on and lambda as given: no selection, so that the raw
	// model below is the same model.
	o.Norm, o.LambdaFactors = NormOn, []float64{1}
	o.Threshold = ThresholdRule{Quantile: 1}
	d, err := Train(context.Background(), cat.Train, o)
	if err != nil {
		t.Fatal(err)
	}
	c := d.Calibration
	if c.GridH != 16 || c.GridW != 16 || len(c.PositionMean) != 256 {
		t.Fatalf("position means %d for grid %dx%d, want 256 for 16x16", len(c.PositionMean), c.GridH, c.GridW)
	}
	_, held := SplitHoldout(cat.Train, o.Holdout, o.Seed)
	grids := rawGrids(t, d, held)
	distinct := map[float32]bool{}
	for j := 0; j < 256; j++ {
		var s float64
		for _, g := range grids {
			s += float64(g[j])
		}
		want := s / float64(len(grids))
		if got := float64(c.PositionMean[j]); math.Abs(got-want) > 1e-6*want {
			t.Fatalf("position %d: mean %g, direct %g", j, got, want)
		}
		distinct[c.PositionMean[j]] = true
	}
	if len(distinct) < 10 {
		t.Fatalf("only %d distinct position means: not per position", len(distinct))
	}
	// The threshold is the largest held-out score, each image normalised
	// by the direct mean of the other held-out images.
	maxNorm := looMax(grids)
	if math.Abs(c.ImageThreshold-maxNorm) > 1e-5*maxNorm {
		t.Fatalf("threshold %g, largest leave-one-out normalised held-out score %g", c.ImageThreshold, maxNorm)
	}
	test := []string{cat.Test[0].Path, cat.Test[len(cat.Test)-1].Path}
	raw := rawGrids(t, d, test)
	i := 0
	err = d.PredictFiles(context.Background(), test, false, nil, func(r *Result) error {
		var want float64
		for j, v := range raw[i] {
			q := v / c.PositionMean[j]
			if r.Grid.Pix[j] != q {
				t.Fatalf("%s position %d: grid %g, raw / mean %g", r.Path, j, r.Grid.Pix[j], q)
			}
			want = math.Max(want, float64(q))
		}
		if r.Score != want || r.Defect != (want > c.ImageThreshold) {
			t.Fatalf("%s: score %g defect %v, want %g against threshold %g", r.Path, r.Score, r.Defect, want, c.ImageThreshold)
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// RawScores: no normalisation, thresholds on raw scores.
	o.RawScores = true
	r, err := Train(context.Background(), cat.Train, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Calibration.PositionMean != nil {
		t.Fatal("RawScores still stored position means")
	}
	var maxRaw float64
	for _, g := range grids {
		maxRaw = math.Max(maxRaw, float64(slices.Max(g)))
	}
	if r.Calibration.ImageThreshold != maxRaw {
		t.Fatalf("raw threshold %g, largest raw held-out score %g", r.Calibration.ImageThreshold, maxRaw)
	}
}

func TestPositionMeanFallbacks(t *testing.T) {
	grids := [][]float32{{1, 0, 3, -2}, {3, 0, 5, -2}}
	got := PositionMean(grids, 4)
	// Positions 1 and 3 have no positive mean: they get the mean of 2 and 4.
	if want := []float32{2, 3, 4, 3}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if PositionMean([][]float32{{0, 0}}, 2) != nil || PositionMean(nil, 2) != nil {
		t.Fatal("no usable mean should give nil")
	}
}

// TestLoadRejectsBadPositionMean: a model file whose normalisation has the
// wrong length or a non-positive value fails to load with ErrMalformed.
func TestLoadRejectsBadPositionMean(t *testing.T) {
	cat := setup(t)
	d, err := Train(context.Background(), cat.Train, tinyOptions())
	if err != nil {
		t.Fatal(err)
	}
	good := d.Calibration
	for name, edit := range map[string]func(c *Calibration){
		"short":    func(c *Calibration) { c.PositionMean = c.PositionMean[:10] },
		"negative": func(c *Calibration) { c.PositionMean = slices.Clone(c.PositionMean); c.PositionMean[5] = -1 },
		"grid":     func(c *Calibration) { c.GridW = 0 },
	} {
		c := good
		edit(&c)
		d.Calibration = c
		path := filepath.Join(t.TempDir(), name+".crd")
		if err := d.Save(path, false); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if !errors.Is(err, modelfile.ErrMalformed) {
			t.Fatalf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

// TestGridMismatchIsAnError: a stored normalisation for another grid (a
// consistent but foreign header) must not be skipped in silence, which
// would judge raw scores against a normalised threshold.
func TestGridMismatchIsAnError(t *testing.T) {
	cat := setup(t)
	d, err := Train(context.Background(), cat.Train, tinyOptions())
	if err != nil {
		t.Fatal(err)
	}
	if d.Calibration.PositionMean == nil {
		t.Fatal("tiny model has no normalisation to test with")
	}
	c := d.Calibration
	c.GridH, c.GridW = c.GridW*2, c.GridH/2
	d.Calibration = c
	path := filepath.Join(t.TempDir(), "foreign.crd")
	if err := d.Save(path, false); err != nil {
		t.Fatal(err)
	}
	d2, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d2.Predict(context.Background(), cat.Test[0].Path)
	if err == nil || !strings.Contains(err.Error(), "grid") || !strings.Contains(err.Error(), path) {
		t.Fatalf("predict with a foreign grid: %v", err)
	}
}

// looMax is the largest held-out score with each grid divided, position by
// position, by the direct mean of the other grids: the threshold the rule
// max gives under NormOn, computed independently of CalibrateGrids.
func looMax(grids [][]float32) float64 {
	best := math.Inf(-1)
	for i, g := range grids {
		for j, v := range g {
			var s float64
			for k, h := range grids {
				if k != i {
					s += float64(h[j])
				}
			}
			best = math.Max(best, float64(v)/(s/float64(len(grids)-1)))
		}
	}
	return best
}
