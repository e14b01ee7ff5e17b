package crd

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/crd-ad/crd/modelfile"
)

// roundTrip writes m's params and arrays through the model-file container's
// bytes and reads them back, as detector.Save and Load do.
func roundTrip(t *testing.T, m *Model, keep bool) (Params, *modelfile.File) {
	t.Helper()
	b, err := modelfile.Encode(&modelfile.File{Arrays: m.Arrays(keep)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := modelfile.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return m.Params().(Params), f
}

func TestSaveLoad(t *testing.T) {
	const d, p = 12, 7
	_, m := train(t, images(20, 3, d, p), d, p, SolveOptions{Lambda: 2.5, Mode: Absolute, Score: Objective})
	for _, keep := range []bool{false, true} {
		h, f := roundTrip(t, m, keep)
		got, err := FromFile(h, f)
		if err != nil {
			t.Fatal(err)
		}
		if m.Name() != "crd" || h.D != d || h.Lambda != 2.5 || h.LambdaMode != "absolute" || h.LambdaAbs != 2.5 ||
			h.Score != "objective" || h.NumImages != 3 || h.NumPatches != 21 || m.Bytes() != 4*d*d {
			t.Fatalf("params %+v", h)
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

// saved returns a valid model's params and file.
func saved(t *testing.T, keep bool) (Params, *modelfile.File) {
	t.Helper()
	const d, p = 6, 5
	_, m := train(t, images(22, 2, d, p), d, p, DefaultSolveOptions())
	return roundTrip(t, m, keep)
}

func TestFromFileValidates(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		edit       func(p *Params, f *modelfile.File)
	}{
		{"wrong d", "shape [6 6], want [7 7]", func(p *Params, f *modelfile.File) { p.D = 7 }},
		{"zero d", "d = 0", func(p *Params, f *modelfile.File) { p.D = 0 }},
		{"no M", `no such array: "M"`, func(p *Params, f *modelfile.File) { f.Arrays[0].Name = "X" }},
		{"M float64", `"M" is not float32`, func(p *Params, f *modelfile.File) {
			f.Arrays[0].F64, f.Arrays[0].F32 = make([]float64, 36), nil
		}},
		{"G wrong shape", `"G" has shape [36]`, func(p *Params, f *modelfile.File) { f.Arrays[1].Shape = []int{36} }},
		{"no feature sum", `"feature_sum"`, func(p *Params, f *modelfile.File) { f.Arrays = f.Arrays[:2] }},
		{"NaN in M", "M[0,1] = NaN", func(p *Params, f *modelfile.File) { f.Arrays[0].F32[1] = float32(math.NaN()) }},
		{"bad score", `unknown score kind "fast"`, func(p *Params, f *modelfile.File) { p.Score = "fast" }},
		{"bad lambda", "lambda = -1", func(p *Params, f *modelfile.File) { p.Lambda = -1 }},
		{"bad lambda abs", "absolute lambda = 0", func(p *Params, f *modelfile.File) { p.LambdaAbs = 0 }},
		{"bad counts", "negative counts", func(p *Params, f *modelfile.File) { p.NumPatches = -1 }},
	} {
		p, f := saved(t, true)
		tc.edit(&p, f)
		_, err := FromFile(p, f)
		if !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ErrInvalidModel mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := FromFile(saved(t, true)); err != nil {
		t.Fatal(err)
	}
}

func TestMergeModels(t *testing.T) {
	const d, p = 16, 6
	opts := SolveOptions{Lambda: 0.01, Mode: Relative, Score: Residual}
	a, b := images(30, 3, d, p), images(31, 2, d, p)
	_, mA := train(t, a, d, p, opts)
	_, mB := train(t, b, d, p, opts)
	accU, mU := train(t, append(append([][]float32(nil), a...), b...), d, p, opts)

	// Through the file container, as a deployment would.
	lA, err := FromFile(roundTrip(t, mA, true))
	if err != nil {
		t.Fatal(err)
	}
	lB, err := FromFile(roundTrip(t, mB, true))
	if err != nil {
		t.Fatal(err)
	}
	m, err := MergeModels([]*Model{lA, lB})
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
	if h := m.Params().(Params); h.NumImages != 5 || h.NumPatches != 30 || h.LambdaAbs != m.Lambda || m.Acc == nil {
		t.Fatalf("merged params %+v", h)
	}

	// Refusals.
	_, noG := train(t, b, d, p, opts)
	noG.Acc = nil
	if _, err := MergeModels([]*Model{lA, noG}); err == nil || !strings.Contains(err.Error(), "no Gram matrix") {
		t.Fatalf("model without G: %v", err)
	}
	_, other := train(t, b, d, p, SolveOptions{Lambda: 0.01, Mode: Absolute, Score: Objective})
	if _, err := MergeModels([]*Model{lA, other}); !errors.Is(err, ErrIncompatible) ||
		!strings.Contains(err.Error(), "lambda mode") || !strings.Contains(err.Error(), "score kind") || strings.Count(err.Error(), ";") != 1 {
		t.Fatalf("models solved differently: %v", err)
	}
	if _, err := MergeModels(nil); err == nil {
		t.Fatal("merging nothing succeeded")
	}
}
