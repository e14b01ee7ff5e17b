package detector

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/knn"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/synth"
	"github.com/crd-ad/crd/weights"
)

// tiny is a deterministic weight-free backbone for pipeline tests: layer "a"
// holds, per 4x4 block, the means of the three channels, of their squares
// and of their horizontal gradients (9 channels); layer "b" the same over 8x8
// blocks (9 channels).
type tiny struct{}

const tinyName = "test_tiny"

var tinyInfo = backbone.Info{
	Name: tinyName, Layers: []string{"a", "b"}, Strides: []int{4, 8}, Channels: []int{9, 9},
	Preprocess: preprocess.Params{Resize: 64, Crop: 64, Mean: [3]float64{0.5, 0.5, 0.5}, Std: [3]float64{0.25, 0.25, 0.25}},
	MinInput:   16, Weights: "none (test backbone)",
}

func (tiny) Info() backbone.Info { return tinyInfo }

func (tiny) Forward(x *nn.Tensor) ([]*nn.Tensor, error) {
	if x.H < 16 || x.W < 16 {
		return nil, errors.New("input too small")
	}
	var outs []*nn.Tensor
	for _, s := range []int{4, 8} {
		o := nn.NewTensor(x.N, 9, x.H/s, x.W/s)
		for n := 0; n < x.N; n++ {
			for c := 0; c < 3; c++ {
				plane := x.Data[(n*3+c)*x.H*x.W:]
				for by := 0; by < o.H; by++ {
					for bx := 0; bx < o.W; bx++ {
						var m, sq, g float32
						for y := by * s; y < (by+1)*s; y++ {
							for xx := bx * s; xx < (bx+1)*s; xx++ {
								v := plane[y*x.W+xx]
								m += v
								sq += v * v
								if xx+1 < x.W {
									g += float32(math.Abs(float64(plane[y*x.W+xx+1] - v)))
								}
							}
						}
						k := float32(s * s)
						for j, v := range []float32{m / k, sq / k, g / k} {
							o.Data[((n*9+c*3+j)*o.H+by)*o.W+bx] = v
						}
					}
				}
			}
		}
		outs = append(outs, o)
	}
	return outs, nil
}

func init() {
	backbone.Register(tinyInfo, func(weights.Tensors) (backbone.Backbone, error) { return tiny{}, nil })
}

// setup points the weight cache at a temporary folder holding the tiny
// backbone's (empty) weight file and generates a small demo category.
func setup(t *testing.T) *dataset.Category {
	t.Helper()
	cache := t.TempDir()
	t.Setenv("CRD_CACHE", cache)
	path, err := weights.CachePath(tinyName)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := weights.WriteVerified(path, weights.Tensors{"unused": {Shape: []int{1}, Data: []float32{0}}}, nil); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cat")
	if err := synth.Generate(dir, synth.Options{Seed: 3, Size: 64, NumTrain: 12, NumTestGood: 4, NumPerDefect: 3}); err != nil {
		t.Fatal(err)
	}
	cat, err := dataset.OpenCategory(dir)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func tinyOptions() TrainOptions {
	o := DefaultTrainOptions()
	o.Backbone = tinyName
	o.Batch = 3
	return o
}

func scoresOf(t *testing.T, d *Detector, paths []string) []float64 {
	t.Helper()
	var s []float64
	err := d.PredictFiles(context.Background(), paths, false, nil, func(r *Result) error {
		if r.Score != float64(slices.Max(r.Grid.Pix)) {
			t.Fatalf("image score %g is not the grid maximum %g", r.Score, slices.Max(r.Grid.Pix))
		}
		if len(r.Map.Pix) != r.Map.W*r.Map.H || r.Map.W != 64 || r.Map.H != 64 || r.Grid.W != 16 || r.Grid.H != 16 || len(r.Grid.Pix) != 256 {
			t.Fatalf("map %d values of size %dx%d, grid %dx%d", len(r.Map.Pix), r.Map.W, r.Map.H, r.Grid.W, r.Grid.H)
		}
		s = append(s, r.Score)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// nImages is the number of training images in d's model.
func nImages(d *Detector) int64 {
	n, _ := d.Method.Counts()
	return n
}

func near(a, b []float64, rel float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > rel*math.Max(math.Abs(a[i]), math.Abs(b[i]))+1e-12 {
			return false
		}
	}
	return true
}

func TestTrainCalibrateSaveLoad(t *testing.T) {
	cat := setup(t)
	o := tinyOptions()
	o.Holdout = 0.25
	// Raw scores: the threshold is then the largest held-out image score
	// as predicted (TestPositionNormalisation covers the normalised rule).
	o.RawScores = true
	o.Threshold = ThresholdRule{Quantile: 1}
	d, err := Train(context.Background(), cat.Train, o)
	if err != nil {
		t.Fatal(err)
	}
	if nImages(d) != 9 || d.Calibration.HeldOut != 3 || !d.Calibrated() {
		t.Fatalf("images %d, held out %d, calibrated %v", nImages(d), d.Calibration.HeldOut, d.Calibrated())
	}
	// The threshold is the largest held-out score ("max" rule).
	_, held := SplitHoldout(cat.Train, 0.25, o.Seed)
	if got, want := d.Calibration.ImageThreshold, slices.Max(scoresOf(t, d, held)); got != want {
		t.Fatalf("threshold %g, largest held-out score %g", got, want)
	}
	path := filepath.Join(t.TempDir(), "m.crd")
	if err := d.Save(path, true); err != nil {
		t.Fatal(err)
	}
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{cat.Test[0].Path, cat.Test[len(cat.Test)-1].Path}
	if a, b := scoresOf(t, d, paths), scoresOf(t, l, paths); !slices.Equal(a, b) {
		t.Fatalf("scores before and after save/load differ: %v %v", a, b)
	}
	if !reflect.DeepEqual(l.Calibration, d.Calibration) || l.Backbone != tinyName || l.Preprocess != d.Preprocess ||
		!reflect.DeepEqual(l.Method.Params(), d.Method.Params()) {
		t.Fatalf("header not kept: %+v", l)
	}
}

func TestEvaluate(t *testing.T) {
	cat := setup(t)
	d, err := Train(context.Background(), cat.Train, tinyOptions())
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	ev, err := d.Evaluate(context.Background(), cat, EvalOptions{OnImage: func(r *Result, s dataset.Sample, mask []bool) error {
		seen++
		if s.Anomalous() != (mask != nil) || (mask != nil && len(mask) != 64*64) {
			t.Fatalf("%s: mask %d values for defect type %s", s.Path, len(mask), s.Defect)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 13 || ev.Overall.NImages != 13 || ev.Overall.NDefect != 9 || len(ev.PerDefect) != 3 {
		t.Fatalf("seen %d, overall %+v, %d defect types", seen, ev.Overall, len(ev.PerDefect))
	}
	for name, m := range ev.PerDefect {
		if m.NImages != 7 || m.NDefect != 3 {
			t.Fatalf("%s: %d images, %d defective; want 4 good + 3", name, m.NImages, m.NDefect)
		}
	}
	for _, v := range []float64{ev.Overall.ImageAUROC, ev.Overall.PixelAUROC, ev.Overall.AUPRO, ev.Overall.F1Max, ev.Overall.Accuracy} {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("metric out of [0, 1]: %+v", ev.Overall)
		}
	}
	// Spots and missing parts change the block means strongly: even this
	// weight-free backbone must rank them above the normal images.
	if ev.PerDefect["missing"].ImageAUROC < 0.9 {
		t.Fatalf("missing-part image AUROC %g", ev.PerDefect["missing"].ImageAUROC)
	}
}

// TestEvaluateOneDefectType: with one defect type, its row is the overall
// row, and it is what the general path (a row per type, each with its own
// pixel set) computes for it: the same category with a second, empty,
// defect type listed takes that path.
func TestEvaluateOneDefectType(t *testing.T) {
	cat := setup(t)
	d, err := Train(context.Background(), cat.Train, tinyOptions())
	if err != nil {
		t.Fatal(err)
	}
	one := *cat
	one.Test = nil
	for _, s := range cat.Test {
		if !s.Anomalous() || s.Defect == "missing" {
			one.Test = append(one.Test, s)
		}
	}
	one.Defects = []string{"missing"}
	ev, err := d.Evaluate(context.Background(), &one, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ev.PerDefect["missing"], ev.Overall) || ev.Overall.NImages != 7 || ev.Overall.NDefect != 3 {
		t.Fatalf("one defect type: row %+v, overall %+v", ev.PerDefect["missing"], ev.Overall)
	}
	general := one
	general.Defects = []string{"missing", "unseen"}
	evg, err := d.Evaluate(context.Background(), &general, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(evg.PerDefect["missing"], ev.PerDefect["missing"]) || !reflect.DeepEqual(evg.Overall, ev.Overall) {
		t.Fatalf("general path: row %+v overall %+v; one-type path: %+v", evg.PerDefect["missing"], evg.Overall, ev.PerDefect["missing"])
	}
}

// Resuming with new images and merging shards must equal training on the
// union of the images, up to rounding.
func TestResumeAndMergeEqualUnion(t *testing.T) {
	cat := setup(t)
	o := tinyOptions()
	o.Holdout = 0
	a, b := cat.Train[:5], cat.Train[5:]
	union, err := Train(context.Background(), cat.Train, o)
	if err != nil {
		t.Fatal(err)
	}
	probe := []string{cat.Test[0].Path, cat.Test[5].Path, cat.Test[10].Path}
	want := scoresOf(t, union, probe)

	da, err := Train(context.Background(), a, o)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a.crd")
	if err := da.Save(path, true); err != nil {
		t.Fatal(err)
	}
	resumed, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := resumed.AddNormals(context.Background(), b, o); err != nil {
		t.Fatal(err)
	}
	if got := scoresOf(t, resumed, probe); !near(got, want, 1e-4) {
		t.Fatalf("resumed scores %v, union %v", got, want)
	}
	db, err := Train(context.Background(), b, o)
	if err != nil {
		t.Fatal(err)
	}
	merged, err := Merge([]*Detector{da, db})
	if err != nil {
		t.Fatal(err)
	}
	if got := scoresOf(t, merged, probe); !near(got, want, 1e-4) {
		t.Fatalf("merged scores %v, union %v", got, want)
	}
	if nImages(merged) != 12 || merged.Calibrated() {
		t.Fatalf("merged: %d images, calibrated %v", nImages(merged), merged.Calibrated())
	}
	// The merged model keeps the shards' JPEG decoder where they agree.
	if merged.JPEG != dataset.JPEGDecoder() || da.JPEG != dataset.JPEGDecoder() {
		t.Fatalf("JPEG decoders: shard %q, merged %q, want %q", da.JPEG, merged.JPEG, dataset.JPEGDecoder())
	}
	db.JPEG = "another-decoder"
	if m2, err := Merge([]*Detector{da, db}); err != nil || m2.JPEG != "" {
		t.Fatalf("shards with two JPEG decoders merged into %q (%v), want none named", m2.JPEG, err)
	}
	db.JPEG = da.JPEG
	// A model with another lambda does not merge.
	o2 := o
	o2.Solve.Lambda *= 2
	dc, err := Train(context.Background(), b, o2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Merge([]*Detector{da, dc}); err == nil || !strings.Contains(err.Error(), "lambda") {
		t.Fatalf("merging different lambdas: %v", err)
	}
	// A model saved without G cannot be resumed.
	if err := da.Save(path, false); err != nil {
		t.Fatal(err)
	}
	noG, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := noG.AddNormals(context.Background(), b, o); err == nil || !strings.Contains(err.Error(), "Gram") {
		t.Fatalf("resume without G: %v", err)
	}
	// Merge errors name the model files, not their positions.
	pathB := filepath.Join(t.TempDir(), "b.crd")
	if err := db.Save(pathB, true); err != nil {
		t.Fatal(err)
	}
	withG, err := Load(pathB)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Merge([]*Detector{withG, noG})
	if err == nil || !strings.Contains(err.Error(), strconv.Quote(path)) || !strings.Contains(err.Error(), strconv.Quote(pathB)) ||
		!strings.Contains(err.Error(), "Gram") {
		t.Fatalf("merging a model without G: %v", err)
	}
}

func TestKNNMethod(t *testing.T) {
	cat := setup(t)
	o := tinyOptions()
	o.Method = "knn"
	o.Coreset = 1
	var log strings.Builder
	o.Log = &log
	d, err := Train(context.Background(), cat.Train, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Method.(*knn.Model); !ok || d.Method.Name() != "knn" {
		t.Fatalf("method %q", d.Method.Name())
	}
	// The log counts the bank before the coreset (it once read the count
	// after Build had emptied the builder: "of 0 patches").
	if want := fmt.Sprintf("coreset (ratio 1, %d of %d patches)", 11*16*16, 11*16*16); !strings.Contains(log.String(), want) {
		t.Fatalf("log %q lacks %q", log.String(), want)
	}
	path := filepath.Join(t.TempDir(), "k.crd")
	if err := d.Save(path, true); err != nil {
		t.Fatal(err)
	}
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := l.Method.(*knn.Model); !ok || k.Len() != 11*16*16 {
		t.Fatalf("loaded %q with %d bank rows", l.Method.Name(), k.Len())
	}
	// A held-out normal image is no farther from the bank than a defective one with a missing part.
	ev, err := l.Evaluate(context.Background(), cat, EvalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev.PerDefect["missing"].ImageAUROC < 0.9 {
		t.Fatalf("knn missing-part image AUROC %g", ev.PerDefect["missing"].ImageAUROC)
	}
}

func TestBadImages(t *testing.T) {
	cat := setup(t)
	bad := filepath.Join(t.TempDir(), "broken.png")
	if err := os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths := append(slices.Clone(cat.Train), bad)
	o := tinyOptions()
	if _, err := Train(context.Background(), paths, o); err == nil || !strings.Contains(err.Error(), "broken.png") {
		t.Fatalf("corrupt image: %v", err)
	}
	var warned []error
	o.SkipBad = true
	o.Warn = func(err error) { warned = append(warned, err) }
	d, err := Train(context.Background(), paths, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0].Error(), "broken.png") {
		t.Fatalf("warnings %v", warned)
	}
	if nImages(d)+int64(d.Calibration.HeldOut) != 12 {
		t.Fatalf("%d images in the model + %d held out, want 12", nImages(d), d.Calibration.HeldOut)
	}
	if _, err := Train(context.Background(), nil, o); err == nil {
		t.Fatal("no images accepted")
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "broken.png") {
		t.Fatalf("loading a non-model: %v", err)
	}
}

// TestUnreadableHoldout: with SkipBad, held-out images that cannot be read
// are replaced by readable training images before training, so an unlucky
// split cannot make calibration fail after the whole training.
func TestUnreadableHoldout(t *testing.T) {
	cat := setup(t)
	o := tinyOptions()
	o.Holdout = 0.25
	_, held := SplitHoldout(cat.Train, o.Holdout, o.Seed)
	for _, p := range held {
		if err := os.WriteFile(p, []byte("\x89PNG\r\n\x1a\ntruncated"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var warned []string
	o.SkipBad = true
	o.Warn = func(err error) { warned = append(warned, err.Error()) }
	d, err := Train(context.Background(), cat.Train, o)
	if err != nil {
		t.Fatalf("train with every held-out image unreadable: %v", err)
	}
	if !d.Calibrated() || d.Calibration.HeldOut != len(held) {
		t.Fatalf("calibrated %v on %d held-out images, want %d", d.Calibrated(), d.Calibration.HeldOut, len(held))
	}
	if n := nImages(d); n != int64(len(cat.Train)-2*len(held)) {
		t.Fatalf("%d images in the model, want %d", n, len(cat.Train)-2*len(held))
	}
	if len(warned) != len(held) {
		t.Fatalf("warnings %q, want one per unreadable held-out image", warned)
	}
}

// TestPredictBatch: Detector.Batch sets the images per backbone call of
// its predictions (DefaultBatch when 0), and the scores do not depend on
// it (the tiny backbone treats each image alone, so they are equal).
func TestPredictBatch(t *testing.T) {
	cat := setup(t)
	d, err := Train(context.Background(), cat.Train, tinyOptions())
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, it := range cat.Test {
		paths = append(paths, it.Path)
	}
	var want []float64
	for _, batch := range []int{0, 1, 3} {
		l, err := Load(saveTemp(t, d))
		if err != nil {
			t.Fatal(err)
		}
		l.Batch = batch
		got := scoresOf(t, l, paths)
		wantBatch := batch
		if batch == 0 {
			wantBatch = DefaultBatch
		}
		if l.ext == nil || l.ext.Batch != wantBatch {
			t.Fatalf("Batch %d: the extractor runs %v images a call, want %d", batch, l.ext, wantBatch)
		}
		if want == nil {
			want = got
		} else if !slices.Equal(got, want) {
			t.Fatalf("Batch %d: scores %v, at batch %d %v", batch, got, DefaultBatch, want)
		}
	}
}

func saveTemp(t *testing.T, d *Detector) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.crd")
	if err := d.Save(path, true); err != nil {
		t.Fatal(err)
	}
	return path
}
