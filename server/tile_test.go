package server

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/tile"
)

// TestTiledModel: a tiled model loads (its warm-up image has the training
// size), scores as the detector does, and an image of another size is
// refused with 422 before it reaches a batch.
func TestTiledModel(t *testing.T) {
	td := fixture(t)
	train, err := filepath.Glob(filepath.Join(td.dir, "train", "good", "*.png"))
	if err != nil {
		t.Fatal(err)
	}
	o := detector.DefaultTrainOptions()
	o.Tiling = &tile.Spec{Size: 75, Overlap: 16, Scale: 1} // 96 x 96 in 2 x 2 tiles
	o.Holdout = 0.25
	d, err := detector.Train(context.Background(), train, o)
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(t.TempDir(), "tiled.crd")
	if err := d.Save(model, false); err != nil {
		t.Fatal(err)
	}
	s := New(Options{Logger: quiet()})
	if err := s.AddModel("tiled", model); err != nil {
		t.Fatal(err)
	}
	ts := start(t, s)
	want := directScores(t, model, td.defect)
	code, p, _ := call(t, "POST", ts.URL+"/v1/predict?heatmap=1", "image/png", read(t, td.defect))
	if code != 200 || math.Abs(p["score"].(float64)-want[0]) > 1e-4*math.Abs(want[0]) {
		t.Fatalf("predict: %d %v, want score %g", code, p, want[0])
	}
	var small bytes.Buffer
	if err := png.Encode(&small, image.NewGray(image.Rect(0, 0, 80, 60))); err != nil {
		t.Fatal(err)
	}
	code, p, _ = call(t, "POST", ts.URL+"/v1/predict", "image/png", small.Bytes())
	if msg, _ := p["error"].(string); code != 422 || !strings.Contains(msg, "80 x 60") {
		t.Fatalf("another size: %d %v", code, p)
	}
}
