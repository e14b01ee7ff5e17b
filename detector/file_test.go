package detector

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/knn"
	"github.com/crd-ad/crd/modelfile"
)

// The model files in testdata were written by the detector before the
// header schema moved here from package modelfile (commit e274209), from the
// tiny backbone trained on setup's category: crd_v2.crd (CRD with G and the
// per-position normalisation), knn_v2.crd (coreset 0.25) and crd_v1.crd (raw
// scores, its format version set to 1). scores.json holds the image scores
// that detector gave for setup's test images.
var fixtures = []string{"crd_v1.crd", "crd_v2.crd", "knn_v2.crd"}

// headerObject is a model file's header as a generic JSON object.
func headerObject(t *testing.T, path string) map[string]any {
	t.Helper()
	f, err := modelfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(f.Header, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestOlderFilesLoad: files of format versions 1 and 2 written by the
// previous schema load, score as they did, and save again with the same
// header members and values.
func TestOlderFilesLoad(t *testing.T) {
	cat := setup(t)
	var test []string
	for _, s := range cat.Test {
		test = append(test, s.Path)
	}
	b, err := os.ReadFile("testdata/scores.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]float64
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, name := range fixtures {
		path := filepath.Join("testdata", name)
		d, err := Load(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := scoresOf(t, d, test); !near(got, want[name], 1e-5) {
			t.Fatalf("%s: scores %v, written with %v", name, got, want[name])
		}
		again := filepath.Join(t.TempDir(), name)
		if err := d.Save(again, true); err != nil {
			t.Fatal(err)
		}
		if a, b := headerObject(t, path), headerObject(t, again); !reflect.DeepEqual(a, b) {
			t.Fatalf("%s: header changed by load and save:\n%v\n%v", name, a, b)
		}
	}
	if d, _ := Load("testdata/crd_v1.crd"); d.Calibration.PositionMean != nil || !d.Calibrated() {
		t.Fatal("version 1 file: want raw-score thresholds")
	}
}

// TestLoadDamagedFiles: Load's errors name the file and wrap modelfile's
// sentinels.
func TestLoadDamagedFiles(t *testing.T) {
	b, err := os.ReadFile("testdata/crd_v2.crd")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.crd")
	check := func(what string, want error) {
		t.Helper()
		_, err := Load(path)
		if !errors.Is(err, want) || !strings.Contains(err.Error(), path) {
			t.Fatalf("%s: got %v, want %v naming %s", what, err, want, path)
		}
	}
	os.WriteFile(path, b[:len(b)/2], 0o644)
	check("truncated", modelfile.ErrTruncated)
	c := append([]byte(nil), b...)
	c[len(c)/3] ^= 4
	os.WriteFile(path, c, 0o644)
	check("bit flip", modelfile.ErrChecksum)
	c = append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(c[8:], 7)
	os.WriteFile(path, c, 0o644)
	check("version flip", modelfile.ErrChecksum) // the prefix CRC no longer matches
	// A well-formed file of a future format version.
	binary.LittleEndian.PutUint32(c[20:], crc32.ChecksumIEEE(c[:20]))
	sum := sha256.Sum256(c[:len(c)-32])
	copy(c[len(c)-32:], sum[:])
	os.WriteFile(path, c, 0o644)
	check("version 7", modelfile.ErrVersion)
	os.WriteFile(path, []byte("GIF89a....................................."), 0o644)
	check("not a model", modelfile.ErrNotModel)
}

// TestLoadChecksHeader: a header that does not describe its arrays, or
// names an unknown method, fails to load with an error naming the file.
func TestLoadChecksHeader(t *testing.T) {
	f, err := modelfile.Read("testdata/knn_v2.crd")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(key string, v any) json.RawMessage {
		var h map[string]any
		json.Unmarshal(f.Header, &h)
		h[key] = v
		b, _ := json.Marshal(h)
		return b
	}
	for _, tc := range []struct {
		name, want string
		is         error
		header     json.RawMessage
	}{
		{"d mismatch", "want [M, 4]", nil, edit("d", 4)},
		{"method", `unknown method "svm"`, nil, edit("method", "svm")},
		{"crd header", "crd: invalid model", crd.ErrInvalidModel, edit("method", "crd")},
		{"wrong type", "header", modelfile.ErrMalformed, edit("coreset", "all")},
		{"layers", "model was made with backbone", nil, edit("layers", []string{"a"})},
		{"huge crop", "crop size 30000", modelfile.ErrMalformed, edit("preprocess", map[string]any{"resize": 30000, "crop": 30000,
			"mean": []float64{0, 0, 0}, "std": []float64{1, 1, 1}})},
		{"zero std", "std[0]", modelfile.ErrMalformed, edit("preprocess", map[string]any{"resize": 0, "crop": 64,
			"mean": []float64{0, 0, 0}, "std": []float64{0, 1, 1}})},
		{"overflowing grid", "position means", modelfile.ErrMalformed, edit("calibration", map[string]any{"image_threshold": 1,
			"image_method": "max", "grid_h": 1 << 32, "grid_w": 1 << 32, "position_mean": []float32{}})},
	} {
		path := filepath.Join(t.TempDir(), "bad.crd")
		if err := modelfile.Write(path, &modelfile.File{Header: tc.header, Arrays: f.Arrays}); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: got %v, want an error naming the file and mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestCompatible(t *testing.T) {
	a, err := Load("testdata/crd_v2.crd")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load("testdata/crd_v1.crd") // other counts and calibration
	if err != nil {
		t.Fatal(err)
	}
	if err := Compatible(a, b); err != nil {
		t.Fatalf("counts and calibration may differ: %v", err)
	}
	k, err := Load("testdata/knn_v2.crd")
	if err != nil {
		t.Fatal(err)
	}
	for what, edit := range map[string]func(d *Detector){
		"method":     func(d *Detector) { d.Method = k.Method },
		"backbone":   func(d *Detector) { d.Backbone = "resnet18" },
		"layers":     func(d *Detector) { d.Layers = []string{"a"} },
		"preprocess": func(d *Detector) { d.Preprocess.Crop = 256 },
		"dimension":  func(d *Detector) { d.Method = &crd.Model{D: 4} },
	} {
		c := b.Raw()
		edit(c)
		err := Compatible(a, c)
		if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), what) {
			t.Errorf("%s: got %v", what, err)
		}
	}
	c := b.Raw()
	c.Backbone, c.Preprocess.Crop = "resnet18", 256
	if err := Compatible(a, c); err == nil || strings.Count(err.Error(), ";") != 1 {
		t.Errorf("two differences should both be listed: %v", err)
	}
	if _, err := Merge([]*Detector{a, k}); err == nil || !strings.Contains(err.Error(), "only CRD models merge") {
		t.Errorf("merging a kNN model: %v", err)
	}
}

// TestPredictImages: a batch of decoded images scores as the files do, from
// concurrent callers, and bad input is an error.
func TestPredictImages(t *testing.T) {
	cat := setup(t)
	d, err := Load("testdata/crd_v2.crd")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	var imgs []*dataset.RGB
	for _, s := range cat.Test[:5] {
		img, err := dataset.LoadImage(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		paths, imgs = append(paths, s.Path), append(imgs, img)
	}
	var want []*Result
	err = d.PredictFiles(context.Background(), paths, false, nil, func(r *Result) error { want = append(want, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := d.PredictImages(context.Background(), imgs[g:])
			if err != nil {
				errs[g] = err
				return
			}
			for k, r := range got {
				w := want[g+k]
				if r.Index != k || r.Image != imgs[g+k] || r.Defect != w.Defect || !near([]float64{r.Score, r.Normalized}, []float64{w.Score, w.Normalized}, 1e-5) {
					errs[g] = errors.New("batch result differs from the file's")
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.PredictImages(context.Background(), []*dataset.RGB{imgs[0], nil}); err == nil || !strings.Contains(err.Error(), "image 1") {
		t.Fatalf("nil image: %v", err)
	}
	short := &dataset.RGB{W: 4, H: 4, Pix: make([]float32, 3)}
	if _, err := d.PredictImages(context.Background(), []*dataset.RGB{short}); err == nil || !strings.Contains(err.Error(), "image 0") {
		t.Fatalf("pixels short of the size: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.PredictImages(ctx, imgs); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled batch: %v", err)
	}
}

// TestCancel: Train, PredictFiles and Evaluate stop with ctx's error, and a
// cancelled calibration keeps the old thresholds.
func TestCancel(t *testing.T) {
	cat := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Train(ctx, cat.Train, tinyOptions()); !errors.Is(err, context.Canceled) {
		t.Fatalf("train: %v", err)
	}
	o := tinyOptions()
	o.Method, o.Coreset = knn.Method, 0.5
	if _, err := Train(ctx, cat.Train, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("train knn: %v", err)
	}
	d, err := Load("testdata/crd_v2.crd")
	if err != nil {
		t.Fatal(err)
	}
	// Cancelled after the first image: the rest are not scored.
	ctx, cancel = context.WithCancel(context.Background())
	n := 0
	err = d.PredictFiles(ctx, cat.Train, false, nil, func(*Result) error { n++; cancel(); return nil })
	if !errors.Is(err, context.Canceled) || n >= len(cat.Train) {
		t.Fatalf("predict: %v after %d of %d images", err, n, len(cat.Train))
	}
	if _, err := d.Evaluate(ctx, cat, EvalOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("evaluate: %v", err)
	}
	old := d.Calibration
	if err := d.Calibrate(ctx, cat.Train, tinyOptions()); !errors.Is(err, context.Canceled) || !reflect.DeepEqual(d.Calibration, old) {
		t.Fatalf("calibrate: %v, calibration kept: %v", err, reflect.DeepEqual(d.Calibration, old))
	}
}
