package detector

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/modelfile"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/patchfeat"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/tile"
)

// cropCategory cuts every image and mask of cat to its top h rows, in
// place, so that the demo's square images become w x h.
func cropCategory(t *testing.T, cat *dataset.Category, h int) {
	t.Helper()
	paths := slices.Clone(cat.Train)
	for _, s := range cat.Test {
		paths = append(paths, s.Path)
		if s.MaskPath != "" {
			paths = append(paths, s.MaskPath)
		}
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b := img.Bounds()
		sub := img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(image.Rect(b.Min.X, b.Min.Y, b.Max.X, b.Min.Y+h))
		out, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(out, sub); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
}

// tiledOptions train the tiny backbone on 32 x 32 tiles overlapping by at
// least 8 pixels, the short side scaled to 32: a 64 x 40 image becomes
// 51 x 32, two tiles at x = 0 and 19.
func tiledOptions() TrainOptions {
	o := tinyOptions()
	o.Tiling = &tile.Spec{Size: 32, Overlap: 8}
	o.Norm = NormOn
	return o
}

// referenceResult scores img with d the long way, tile by tile: each tile
// preprocessed, through the backbone and patch features alone, scored,
// divided by the position means of its tile, mapped, and the maps averaged
// where they overlap, computed here pixel by pixel.
func referenceResult(t *testing.T, d *Detector, img *dataset.RGB) (score float64, m anomalymap.Map) {
	t.Helper()
	l, err := d.Tiling.Layout()
	if err != nil {
		t.Fatal(err)
	}
	c := d.Preprocess.Crop
	sum := make([]float64, l.W*l.H)
	n := make([]float64, l.W*l.H)
	score = math.Inf(-1)
	for k := 0; k < l.Tiles(); k++ {
		x0, y0 := l.Origin(k)
		x := nn.NewTensor(1, 3, c, c)
		preprocess.Tile(img, l.W, l.H, x0, y0, c, d.Preprocess, x.Data)
		outs, err := tiny{}.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		f, err := patchfeat.Features(outs)
		if err != nil {
			t.Fatal(err)
		}
		p := f.H * f.W
		g := make([]float32, p)
		d.Method.Score(f.Data, p, g)
		for j := range g {
			g[j] /= d.Calibration.PositionMean[k*p+j]
			score = math.Max(score, float64(g[j]))
		}
		tm := anomalymap.FromGrid(anomalymap.Map{Pix: g, W: f.W, H: f.H}, c, c, Sigma)
		for y := 0; y < c; y++ {
			for xx := 0; xx < c; xx++ {
				sum[(y0+y)*l.W+x0+xx] += float64(tm.At(xx, y))
				n[(y0+y)*l.W+x0+xx]++
			}
		}
	}
	m = anomalymap.NewMap(l.W, l.H)
	for i := range sum {
		m.Pix[i] = float32(sum[i] / n[i])
	}
	return score, m
}

// TestTiledTrainScoreSaveLoad: a tiled model of the demo data trains,
// scores as the direct tile-by-tile reference does, evaluates in the scaled
// image's space, and round-trips through its file.
func TestTiledTrainScoreSaveLoad(t *testing.T) {
	cat := setup(t)
	cropCategory(t, cat, 40)
	d, err := Train(context.Background(), cat.Train, tiledOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := tile.Spec{Size: 32, Overlap: 8, ImageW: 64, ImageH: 40}
	if d.Tiling == nil || *d.Tiling != want || d.Preprocess.Crop != 32 || d.Preprocess.Resize != 0 {
		t.Fatalf("tiling %+v, preprocess %+v", d.Tiling, d.Preprocess)
	}
	if w, h := d.InputSize(); w != 51 || h != 32 {
		t.Fatalf("input space %d x %d, want 51 x 32", w, h)
	}
	// Two tiles of 8 x 8 patches (stride 4), stacked.
	if c := d.Calibration; c.GridH != 16 || c.GridW != 8 || len(c.PositionMean) != 128 {
		t.Fatalf("position means %d for %d x %d", len(c.PositionMean), c.GridH, c.GridW)
	}
	img, err := dataset.LoadImage(cat.Test[len(cat.Test)-1].Path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.Predict(context.Background(), cat.Test[len(cat.Test)-1].Path)
	if err != nil {
		t.Fatal(err)
	}
	score, ref := referenceResult(t, d, img)
	if math.Abs(r.Score-score) > 1e-5*score || r.Score != float64(slices.Max(r.Grid.Pix)) {
		t.Fatalf("score %g, reference %g", r.Score, score)
	}
	if r.Map.W != ref.W || r.Map.H != ref.H {
		t.Fatalf("map %d x %d, reference %d x %d", r.Map.W, r.Map.H, ref.W, ref.H)
	}
	for i := range ref.Pix {
		if math.Abs(float64(r.Map.Pix[i]-ref.Pix[i])) > 1e-5*math.Max(1, float64(ref.Pix[i])) {
			t.Fatalf("map pixel %d: %g, reference %g", i, r.Map.Pix[i], ref.Pix[i])
		}
	}
	if o := d.PixelMapOriginal(r); o.W != 64 || o.H != 40 {
		t.Fatalf("original map %d x %d", o.W, o.H)
	}
	// PredictImages (the server's path) agrees with Predict.
	rs, err := d.PredictImages(context.Background(), []*dataset.RGB{img})
	if err != nil || rs[0].Score != r.Score {
		t.Fatalf("PredictImages: %v, %v", rs, err)
	}

	ev, err := d.Evaluate(context.Background(), cat, EvalOptions{OnImage: func(r *Result, s dataset.Sample, mask []bool) error {
		if mask != nil && len(mask) != 51*32 {
			t.Fatalf("%s: mask of %d values", s.Path, len(mask))
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float64{ev.Overall.ImageAUROC, ev.Overall.PixelAUROC, ev.Overall.AUPRO} {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("metric out of [0, 1]: %+v", ev.Overall)
		}
	}
	if ev.PerDefect["missing"].ImageAUROC < 0.9 {
		t.Fatalf("missing-part image AUROC %g", ev.PerDefect["missing"].ImageAUROC)
	}

	path := filepath.Join(t.TempDir(), "tiled.crd")
	if err := d.Save(path, true); err != nil {
		t.Fatal(err)
	}
	f, err := modelfile.Read(path)
	if err != nil || f.Version != modelfile.Version {
		t.Fatalf("read back: version %v, %v", f, err)
	}
	if h := headerObject(t, path); !reflect.DeepEqual(h["tiling"], map[string]any{"size": 32.0, "overlap": 8.0, "scale": 0.0, "image_w": 64.0, "image_h": 40.0}) {
		t.Fatalf("header tiling %v", h["tiling"])
	}
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if *l.Tiling != *d.Tiling || !reflect.DeepEqual(l.Calibration, d.Calibration) {
		t.Fatalf("tiling %+v, calibration not kept", l.Tiling)
	}
	r2, err := l.Predict(context.Background(), cat.Test[len(cat.Test)-1].Path)
	if err != nil || r2.Score != r.Score || !slices.Equal(r2.Map.Pix, r.Map.Pix) {
		t.Fatalf("loaded model scores %v (%v), want %g", r2, err, r.Score)
	}
	// New normal images go in tile by tile (the model counts backbone
	// inputs: 2 tiles per image).
	before := nImages(l)
	o := tiledOptions()
	o.Holdout = 0
	if err := l.AddNormals(context.Background(), cat.Train[:4], o); err != nil || nImages(l) != before+8 {
		t.Fatalf("add normals: %v, %d inputs after %d", err, nImages(l), before)
	}
	// Merged, it keeps its tiling.
	if m, err := Merge([]*Detector{l, l}); err != nil || m.Tiling == nil || *m.Tiling != *d.Tiling {
		t.Fatalf("merge: %v", err)
	}
	// An untiled model is incompatible with it.
	u := l.Raw()
	u.Tiling = nil
	if err := Compatible(l, u); !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "tiling") {
		t.Fatalf("Compatible: %v", err)
	}
}

// TestTiledWrongSize: an image of another size than the training images is
// an error naming it, in training, prediction and PredictImages.
func TestTiledWrongSize(t *testing.T) {
	cat := setup(t)
	square := cat.Test[0].Path // 64 x 64
	cropCategory(t, &dataset.Category{Train: cat.Train}, 40)
	o := tiledOptions()
	o.Holdout = 0
	if _, err := Train(context.Background(), append(slices.Clone(cat.Train), square), o); err == nil || !strings.Contains(err.Error(), square) || !strings.Contains(err.Error(), "64 x 64") {
		t.Fatalf("train on mixed sizes: %v", err)
	}
	d, err := Train(context.Background(), cat.Train, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Predict(context.Background(), square); err == nil || !strings.Contains(err.Error(), square) {
		t.Fatalf("predict: %v", err)
	}
	if _, err := d.PredictImages(context.Background(), []*dataset.RGB{dataset.NewRGB(10, 10)}); err == nil || !strings.Contains(err.Error(), "image 0") {
		t.Fatalf("PredictImages: %v", err)
	}
	// Tiles larger than the scaled image: a clear error before any work.
	o.Tiling = &tile.Spec{Size: 48, Scale: 0.5}
	if _, err := Train(context.Background(), cat.Train, o); err == nil || !strings.Contains(err.Error(), "smaller than one 48 x 48 tile") {
		t.Fatalf("train with too small a scale: %v", err)
	}
}

// TestLoadChecksTiling: a header whose tiling cannot be laid out, or does
// not match the input side or the stored normalisation, is malformed.
func TestLoadChecksTiling(t *testing.T) {
	f, err := modelfile.Read("testdata/crd_v2.crd")
	if err != nil {
		t.Fatal(err)
	}
	var base map[string]any
	if err := json.Unmarshal(f.Header, &base); err != nil {
		t.Fatal(err)
	}
	crop := base["preprocess"].(map[string]any)["crop"].(float64)
	for name, tiling := range map[string]map[string]any{
		"side":      {"size": crop + 1, "overlap": 0, "scale": 0, "image_w": 100, "image_h": 100},
		"no size":   {"size": crop, "overlap": 0, "scale": 0},
		"too many":  {"size": crop, "overlap": 0, "scale": 100, "image_w": 100, "image_h": 100},
		"position":  {"size": crop, "overlap": 0, "scale": 0, "image_w": int(3 * crop), "image_h": int(crop)}, // 3 tiles, grid for 1
		"overlap":   {"size": crop, "overlap": crop, "scale": 0, "image_w": 100, "image_h": 100},
		"neg scale": {"size": crop, "overlap": 0, "scale": -1, "image_w": 100, "image_h": 100},
	} {
		h := map[string]any{}
		for k, v := range base {
			h[k] = v
		}
		h["tiling"] = tiling
		b, _ := json.Marshal(h)
		path := filepath.Join(t.TempDir(), "bad.crd")
		if err := modelfile.Write(path, &modelfile.File{Header: b, Arrays: f.Arrays}); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); !errors.Is(err, modelfile.ErrMalformed) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got %v, want a malformed-header error naming the file", name, err)
		}
	}
}
