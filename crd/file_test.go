package crd

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/crd-ad/crd/modelfile"
)

func pipelineHeader() modelfile.Header {
	return modelfile.Header{
		Backbone: "wide_resnet50_2", Layers: []string{"layer2", "layer3"},
		Preprocess:  modelfile.Preprocess{Resize: 256, Crop: 224},
		Calibration: modelfile.Calibration{ImageThreshold: 3, HeldOut: 2},
		Tool:        "test",
	}
}

func TestSaveLoad(t *testing.T) {
	const d, p = 12, 7
	_, m := train(t, images(20, 3, d, p), d, p, SolveOptions{Lambda: 2.5, Mode: Absolute, Score: Objective})
	dir := t.TempDir()
	for _, keep := range []bool{false, true} {
		path := filepath.Join(dir, "m.crd")
		if err := Save(path, pipelineHeader(), m, keep); err != nil {
			t.Fatal(err)
		}
		h, got, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if h.Method != "crd" || h.D != d || h.Lambda != 2.5 || h.LambdaMode != "absolute" || h.LambdaAbs != 2.5 ||
			h.Score != "objective" || h.NumImages != 3 || h.NumPatches != 21 || h.Backbone != "wide_resnet50_2" || h.Calibration.ImageThreshold != 3 {
			t.Fatalf("header %+v", h)
		}
		for i := range m.M {
			if math.Float32bits(m.M[i]) != math.Float32bits(got.M[i]) {
				t.Fatalf("M[%d] = %g, saved %g", i, got.M[i], m.M[i])
			}
		}
		if got.Options != m.Options || got.Lambda != m.Lambda || got.NumPatches != 21 || got.NumImages != 3 {
			t.Fatalf("loaded %+v", got)
		}
		if (got.Acc != nil) != keep {
			t.Fatalf("keepGram %v: accumulator %v", keep, got.Acc != nil)
		}
		if keep {
			if e := relErr(got.Acc.Gram(), m.Acc.Gram()); e != 0 {
				t.Fatalf("G changed by the round trip: %g", e)
			}
			if e := relErr(got.Acc.FeatureSum(), m.Acc.FeatureSum()); e != 0 || got.Acc.NumPatches() != 21 || got.Acc.NumImages() != 3 {
				t.Fatalf("accumulator changed by the round trip")
			}
		}
		y := images(21, 1, d, p)[0]
		a, b := make([]float32, p), make([]float32, p)
		m.Score(y, p, a)
		got.Score(y, p, b)
		for j := range a {
			if a[j] != b[j] {
				t.Fatalf("loaded model scores %g, saved one %g", b[j], a[j])
			}
		}
	}
}

// saved returns a valid model file's bytes.
func saved(t *testing.T, keep bool) (string, []byte) {
	t.Helper()
	const d, p = 6, 5
	_, m := train(t, images(22, 2, d, p), d, p, DefaultSolveOptions())
	path := filepath.Join(t.TempDir(), "m.crd")
	if err := Save(path, pipelineHeader(), m, keep); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func TestLoadDamagedFiles(t *testing.T) {
	path, b := saved(t, true)
	check := func(what string, want error) {
		t.Helper()
		_, _, err := Load(path)
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

func TestFromFileValidates(t *testing.T) {
	_, b := saved(t, true)
	base, err := modelfile.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string
		edit       func(f *modelfile.File)
	}{
		{"wrong d", "shape [6 6], want [7 7]", func(f *modelfile.File) { f.Header.D = 7 }},
		{"zero d", "d = 0", func(f *modelfile.File) { f.Header.D = 0 }},
		{"knn file", `method is "knn"`, func(f *modelfile.File) { f.Header.Method = "knn" }},
		{"no M", `no such array: "M"`, func(f *modelfile.File) { f.Arrays[0].Name = "X" }},
		{"M float64", `"M" is not float32`, func(f *modelfile.File) {
			f.Arrays[0].F64, f.Arrays[0].F32 = make([]float64, 36), nil
		}},
		{"G wrong shape", `"G" has shape [36]`, func(f *modelfile.File) { f.Arrays[1].Shape = []int{36} }},
		{"no feature sum", `"feature_sum"`, func(f *modelfile.File) { f.Arrays = f.Arrays[:2] }},
		{"NaN in M", "M[0,1] = NaN", func(f *modelfile.File) { f.Arrays[0].F32[1] = float32(math.NaN()) }},
		{"bad score", `unknown score kind "fast"`, func(f *modelfile.File) { f.Header.Score = "fast" }},
		{"bad lambda", "lambda = -1", func(f *modelfile.File) { f.Header.Lambda = -1 }},
		{"bad lambda abs", "absolute lambda = 0", func(f *modelfile.File) { f.Header.LambdaAbs = 0 }},
		{"bad counts", "negative counts", func(f *modelfile.File) { f.Header.NumPatches = -1 }},
	} {
		f, _ := modelfile.Decode(b)
		tc.edit(f)
		_, err := FromFile(f)
		if !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrInvalidModel mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := FromFile(base); err != nil {
		t.Fatal(err)
	}
	// Wrong d through the file path: the error names the file.
	path := filepath.Join(t.TempDir(), "wrong-d.crd")
	base.Header.D = 5
	if err := modelfile.Write(path, base); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(path); !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), "d = 5") {
		t.Fatalf("wrong d: %v", err)
	}
}

func TestMergeModels(t *testing.T) {
	const d, p = 16, 6
	opts := SolveOptions{Lambda: 0.01, Mode: Relative, Score: Residual}
	a, b := images(30, 3, d, p), images(31, 2, d, p)
	_, mA := train(t, a, d, p, opts)
	_, mB := train(t, b, d, p, opts)
	accU, mU := train(t, append(append([][]float32(nil), a...), b...), d, p, opts)

	// Through files, as a deployment would.
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a.crd"), filepath.Join(dir, "b.crd")
	if err := Save(pa, pipelineHeader(), mA, true); err != nil {
		t.Fatal(err)
	}
	if err := Save(pb, pipelineHeader(), mB, true); err != nil {
		t.Fatal(err)
	}
	hA, lA, err := Load(pa)
	if err != nil {
		t.Fatal(err)
	}
	hB, lB, err := Load(pb)
	if err != nil {
		t.Fatal(err)
	}
	h, m, err := MergeModels([]modelfile.Header{hA, hB}, []*Model{lA, lB})
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(m.Acc.Gram(), accU.Gram()); e > 1e-12 {
		t.Fatalf("merged G: relative error %g", e)
	}
	if math.Abs(m.Lambda-mU.Lambda) > 1e-12*mU.Lambda {
		t.Fatalf("merged lambda %g, union %g", m.Lambda, mU.Lambda)
	}
	if e := relErr(f64(m.M), f64(mU.M)); e > 1e-6 {
		t.Fatalf("merged M: relative error %g", e)
	}
	if h.NumImages != 5 || h.NumPatches != 30 || h.LambdaAbs != m.Lambda || !reflect.DeepEqual(h.Calibration, modelfile.Calibration{}) ||
		h.Tool != "" || h.Backbone != "wide_resnet50_2" {
		t.Fatalf("merged header %+v", h)
	}

	// Refusals.
	hX := hB
	hX.Backbone = "resnet18"
	if _, _, err := MergeModels([]modelfile.Header{hA, hX}, []*Model{lA, lB}); !errors.Is(err, modelfile.ErrIncompatible) ||
		!strings.Contains(err.Error(), "backbone") {
		t.Fatalf("incompatible backbones: %v", err)
	}
	_, noG := train(t, b, d, p, opts)
	noG.Acc = nil
	if _, _, err := MergeModels([]modelfile.Header{hA, hB}, []*Model{lA, noG}); err == nil || !strings.Contains(err.Error(), "no Gram matrix") {
		t.Fatalf("model without G: %v", err)
	}
	hY := hB
	hY.Score, hA.Score = "objective", "objective"
	if _, _, err := MergeModels([]modelfile.Header{hA, hY}, []*Model{lA, lB}); err == nil || !strings.Contains(err.Error(), "does not describe") {
		t.Fatalf("header not matching its model: %v", err)
	}
	if _, _, err := MergeModels(nil, nil); err == nil {
		t.Fatal("merging nothing succeeded")
	}
}
