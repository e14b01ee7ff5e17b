package detector

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/crd-ad/crd/dataset"
)

// concatOnly hides a method's ScoreLayers: a detector with it scores the
// concatenated features, as before layered scoring.
type concatOnly struct{ Method }

// TestLayeredMatchesConcatenated: a CRD detector predicts through
// ScoreLayers (the pooled layers, no concatenated features), squashed and
// tiled, from files and from decoded images; its raw grids, image scores
// and verdicts are those of the same detector scoring the concatenated
// features, up to float32 rounding: 1e-5 of the largest score of the grid
// (crd's TestScoreLayersAgainstFloat64 checks the rounding bound itself).
func TestLayeredMatchesConcatenated(t *testing.T) {
	ctx := context.Background()
	for _, tiled := range []bool{false, true} {
		cat := setup(t)
		o := tinyOptions()
		if tiled {
			cropCategory(t, cat, 40)
			o = tiledOptions()
		}
		o.Holdout = 0.25
		d, err := Train(ctx, cat.Train, o)
		if err != nil {
			t.Fatal(err)
		}
		if !scoreLayers(d.Method) {
			t.Fatalf("tiled %v: %T is not a LayeredScorer", tiled, d.Method)
		}
		c := &Detector{Method: concatOnly{d.Method}, Backbone: d.Backbone, Layers: d.Layers, Preprocess: d.Preprocess,
			Tiling: d.Tiling, Calibration: d.Calibration}
		if scoreLayers(c.Method) {
			t.Fatal("concatOnly is a LayeredScorer")
		}
		var paths []string
		for _, s := range cat.Test {
			paths = append(paths, s.Path)
		}
		collect := func(d *Detector, cal *Calibration) []*Result {
			var rs []*Result
			err := d.predictFiles(ctx, paths, badImages{}, cal, func(r *Result) error {
				rs = append(rs, r)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return rs
		}
		imgs := loadImages(t, paths)
		fromImages := func(d *Detector) []*Result {
			rs, err := d.PredictImages(ctx, imgs)
			if err != nil {
				t.Fatal(err)
			}
			return rs
		}
		for _, pair := range []struct {
			name      string
			got, want []*Result
		}{
			{"raw", collect(d, nil), collect(c, nil)},
			{"calibrated", collect(d, &d.Calibration), collect(c, &c.Calibration)},
			{"images", fromImages(d), fromImages(c)},
		} {
			if len(pair.got) != len(paths) || len(pair.want) != len(paths) {
				t.Fatalf("tiled %v, %s: %d and %d results for %d images", tiled, pair.name, len(pair.got), len(pair.want), len(paths))
			}
			for i, g := range pair.got {
				w := pair.want[i]
				if g.Grid.W != w.Grid.W || g.Grid.H != w.Grid.H {
					t.Fatalf("tiled %v, %s, image %d: grid %d x %d, concatenated %d x %d", tiled, pair.name, i, g.Grid.W, g.Grid.H, w.Grid.W, w.Grid.H)
				}
				tol := 1e-5 * float64(slices.Max(w.Grid.Pix))
				for j, v := range w.Grid.Pix {
					if math.Abs(float64(g.Grid.Pix[j]-v)) > tol {
						t.Fatalf("tiled %v, %s, image %d, patch %d: %g, concatenated %g", tiled, pair.name, i, j, g.Grid.Pix[j], v)
					}
				}
				if math.Abs(g.Score-w.Score) > 1e-5*math.Abs(w.Score) || g.Defect != w.Defect {
					t.Fatalf("tiled %v, %s, image %d: score %g defect %v, concatenated %g %v", tiled, pair.name, i, g.Score, g.Defect, w.Score, w.Defect)
				}
			}
		}
	}
}

// loadImages decodes the images at paths.
func loadImages(t *testing.T, paths []string) []*dataset.RGB {
	t.Helper()
	var imgs []*dataset.RGB
	for _, p := range paths {
		img, err := dataset.LoadImage(p)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	return imgs
}
