package knn

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/crd-ad/crd/modelfile"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	const d, p = 12, 25
	r := rand.New(rand.NewPCG(2, 2))
	b := NewBankBuilder(d, 0)
	for i := 0; i < 4; i++ {
		b.Add(randFeatures(r, d*p, 0, false), p)
	}
	m, err := b.Build(context.Background(), CoresetOptions{Ratio: 0.2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Through the file container's bytes, as detector.Save and Load do.
	b2, err := modelfile.Encode(&modelfile.File{Arrays: m.Arrays(true)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := modelfile.Decode(b2)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Params().(Params)
	if m.Name() != "knn" || h.Coreset != 0.2 || h.D != d || h.NumPatches != 100 || h.NumImages != 4 {
		t.Errorf("params %+v", h)
	}
	got, err := FromFile(h, f)
	if err != nil {
		t.Fatal(err)
	}
	if m.Bytes() != int64(20*d+20)*4 {
		t.Errorf("model bytes %d", m.Bytes())
	}
	if got.Len() != 20 || got.D() != d || got.Ratio() != 0.2 || got.NumPatches() != 100 || got.NumImages() != 4 {
		t.Errorf("loaded model: Len %d D %d Ratio %g NumPatches %d NumImages %d", got.Len(), got.D(), got.Ratio(), got.NumPatches(), got.NumImages())
	}
	for i, v := range m.Bank() {
		if got.Bank()[i] != v {
			t.Fatalf("bank[%d] = %g after the round trip, want %g", i, got.Bank()[i], v)
		}
	}
	y := randFeatures(r, d*p, 0, false)
	s1, s2 := make([]float32, p), make([]float32, p)
	m.Score(y, p, s1)
	got.Score(y, p, s2)
	for j := range s1 {
		if s1[j] != s2[j] {
			t.Fatalf("patch %d scores %g before saving, %g after", j, s1[j], s2[j])
		}
	}
}

func TestFromFileErrors(t *testing.T) {
	good := func() (*Params, *modelfile.File) {
		return &Params{D: 3, Coreset: 0.1}, &modelfile.File{
			Arrays: []modelfile.Array{{Name: BankArray, Shape: []int{2, 3}, F32: []float32{1, 2, 3, 4, 5, 6}}},
		}
	}
	p0, f0 := good()
	if _, err := FromFile(*p0, f0); err != nil {
		t.Fatalf("good file: %v", err)
	}
	cases := []struct {
		name, want string
		edit       func(p *Params, f *modelfile.File)
	}{
		{"no d", "dimension d = 0", func(p *Params, f *modelfile.File) { p.D = 0 }},
		{"bad ratio", "coreset ratio 0", func(p *Params, f *modelfile.File) { p.Coreset = 0 }},
		{"no bank", "no such array", func(_ *Params, f *modelfile.File) { f.Arrays[0].Name = "bank" }},
		{"d mismatch", "shape [3 2], want [M, 3]", func(_ *Params, f *modelfile.File) { f.Arrays[0].Shape = []int{3, 2} }},
		{"rank 1", "shape [6]", func(_ *Params, f *modelfile.File) { f.Arrays[0].Shape = []int{6} }},
		{"empty", "shape [0 3]", func(_ *Params, f *modelfile.File) { f.Arrays[0].Shape = []int{0, 3}; f.Arrays[0].F32 = []float32{} }},
		{"float64", "is float64", func(_ *Params, f *modelfile.File) { f.Arrays[0].F32 = nil; f.Arrays[0].F64 = make([]float64, 6) }},
		{"nan", "row 1 has a non-finite", func(_ *Params, f *modelfile.File) { f.Arrays[0].F32[4] = float32(math.NaN()) }},
	}
	for _, tc := range cases {
		p, f := good()
		tc.edit(p, f)
		_, err := FromFile(*p, f)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
