package crd

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/crd-ad/crd/modelfile"
)

// Method is the name under which CRD models are stored in model files.
const Method = "crd"

// Names of the arrays a CRD model file holds. G and the feature sum are
// optional and stored together.
const (
	ArrayM          = "M"           // float32 d x d
	ArrayG          = "G"           // float64 d x d, full symmetric
	ArrayFeatureSum = "feature_sum" // float64 d
)

var (
	// ErrInvalidModel: the parameters and arrays read from a model file do
	// not describe a valid CRD model.
	ErrInvalidModel = errors.New("crd: invalid model")
	// ErrIncompatible: models solved with different settings cannot be
	// merged.
	ErrIncompatible = errors.New("models are not compatible")
)

// Params describe a CRD model in a model file's header: its feature
// dimension, the regulariser as the user gave it (Lambda, read according to
// LambdaMode: "absolute", or "relative" to trace(G)/d), the absolute value
// the solve used (LambdaAbs), the patch score kind ("residual", the paper's
// ||M y||^2, or "objective", lambda y^T (G + lambda I)^-1 y) and the counts
// of training images and patches. The JSON names are those of the header.
type Params struct {
	D          int     `json:"d"`
	Lambda     float64 `json:"lambda,omitempty"`
	LambdaMode string  `json:"lambda_mode,omitempty"`
	LambdaAbs  float64 `json:"lambda_abs,omitempty"`
	Score      string  `json:"score,omitempty"`
	NumImages  int64   `json:"num_images"`
	NumPatches int64   `json:"num_patches"`
}

// Name is Method.
func (m *Model) Name() string { return Method }

// Dim is the feature dimension d.
func (m *Model) Dim() int { return m.D }

// Counts are the numbers of training images and patches in the model.
func (m *Model) Counts() (images, patches int64) { return m.NumImages, m.NumPatches }

// Bytes is the size of the numeric payload as deployed: M, float32 d x d.
func (m *Model) Bytes() int64 { return int64(len(m.M)) * 4 }

// Params returns the model's Params (as an any, for model-file headers).
func (m *Model) Params() any {
	return Params{D: m.D, Lambda: m.Options.Lambda, LambdaMode: string(m.Options.Mode), LambdaAbs: m.Lambda,
		Score: string(m.Options.Score), NumImages: m.NumImages, NumPatches: m.NumPatches}
}

// Arrays returns the model's arrays for a model file: M, and G and the
// feature sum when keepGram is set and the model has its accumulator (d^2
// float64 more, so that the model can later be updated or merged). The
// arrays share no memory with the model.
func (m *Model) Arrays(keepGram bool) []modelfile.Array {
	d := m.D
	as := []modelfile.Array{{Name: ArrayM, Shape: []int{d, d}, F32: append([]float32(nil), m.M...)}}
	if keepGram && m.Acc != nil {
		as = append(as,
			modelfile.Array{Name: ArrayG, Shape: []int{d, d}, F64: m.Acc.Gram()},
			modelfile.Array{Name: ArrayFeatureSum, Shape: []int{d}, F64: m.Acc.FeatureSum()})
	}
	return as
}

// FromFile builds a model from its parameters and a model file's arrays,
// checking the one against the other. Its errors wrap ErrInvalidModel and
// say what is wrong.
func FromFile(p Params, f *modelfile.File) (*Model, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidModel, fmt.Sprintf(format, args...))
	}
	if p.D <= 0 {
		return nil, bad("feature dimension d = %d", p.D)
	}
	d := p.D
	opts := SolveOptions{Lambda: p.Lambda, Mode: LambdaMode(p.LambdaMode), Score: ScoreKind(p.Score)}
	if err := opts.Validate(); err != nil {
		return nil, bad("%v", err)
	}
	if !(p.LambdaAbs > 0) || math.IsInf(p.LambdaAbs, 0) {
		return nil, bad("absolute lambda = %g", p.LambdaAbs)
	}
	if p.NumPatches < 0 || p.NumImages < 0 {
		return nil, bad("negative counts: %d patches, %d images", p.NumPatches, p.NumImages)
	}
	shaped := func(name string, f64 bool, shape ...int) (*modelfile.Array, error) {
		a, err := f.Array(name)
		if err != nil {
			return nil, bad("%v", err)
		}
		if (a.F64 != nil) != f64 {
			want := "float32"
			if f64 {
				want = "float64"
			}
			return nil, bad("array %q is not %s", name, want)
		}
		if len(a.Shape) != len(shape) {
			return nil, bad("array %q has shape %v, want %v (header d = %d)", name, a.Shape, shape, d)
		}
		for i := range shape {
			if a.Shape[i] != shape[i] {
				return nil, bad("array %q has shape %v, want %v (header d = %d)", name, a.Shape, shape, d)
			}
		}
		return a, nil
	}
	am, err := shaped(ArrayM, false, d, d)
	if err != nil {
		return nil, err
	}
	for i, v := range am.F32 {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, bad("M[%d,%d] = %g", i/d, i%d, v)
		}
	}
	m := &Model{D: d, M: am.F32, Lambda: p.LambdaAbs, Options: opts, NumPatches: p.NumPatches, NumImages: p.NumImages}
	if _, err := f.Array(ArrayG); err == nil {
		ag, err := shaped(ArrayG, true, d, d)
		if err != nil {
			return nil, err
		}
		as, err := shaped(ArrayFeatureSum, true, d)
		if err != nil {
			return nil, err
		}
		m.Acc = &Accumulator{d: d, g: ag.F64, sum: as.F64, patches: p.NumPatches, images: p.NumImages}
	}
	return m, nil
}

// MergeModels combines models trained on disjoint image sets into the model
// that training on their union gives (up to float64 rounding): it checks that
// they were solved alike (an error wrapping ErrIncompatible lists every
// difference in dimension, lambda, lambda mode and score kind), requires
// every model to have kept its accumulator (loaded from a file saved with G),
// adds the accumulators and solves again with the shared options.
func MergeModels(models []*Model) (*Model, error) {
	if len(models) == 0 {
		return nil, fmt.Errorf("crd: merge: no models")
	}
	var acc *Accumulator
	for i, m := range models {
		if err := Mergeable(models[0], m); err != nil {
			return nil, fmt.Errorf("crd: merge model %d into model 1: %w", i+1, err)
		}
		if acc == nil {
			acc = m.Acc.Clone()
		} else if err := acc.Merge(m.Acc); err != nil {
			return nil, err
		}
	}
	merged, err := acc.Solve(models[0].Options)
	if err != nil {
		return nil, fmt.Errorf("crd: merge: %w", err)
	}
	return merged, nil
}

// Mergeable reports whether b can be merged with a: both kept their Gram
// matrix, and they were solved alike (an error wrapping ErrIncompatible
// lists every difference).
func Mergeable(a, b *Model) error {
	for _, m := range []*Model{a, b} {
		if m.Acc == nil {
			return errors.New("a model has no Gram matrix (save models with G kept to merge them)")
		}
	}
	return compatible(a, b)
}

// compatible returns nil, or an error wrapping ErrIncompatible that lists
// every difference in the settings of a and b that forbids merging them.
func compatible(a, b *Model) error {
	var diffs []string
	diff := func(what string, x, y any) {
		diffs = append(diffs, fmt.Sprintf("%s %v != %v", what, x, y))
	}
	if a.D != b.D {
		diff("feature dimension d", a.D, b.D)
	}
	if a.Options.Lambda != b.Options.Lambda {
		diff("lambda", a.Options.Lambda, b.Options.Lambda)
	}
	if a.Options.Mode != b.Options.Mode {
		diff("lambda mode", fmt.Sprintf("%q", a.Options.Mode), fmt.Sprintf("%q", b.Options.Mode))
	}
	if a.Options.Score != b.Options.Score {
		diff("score kind", fmt.Sprintf("%q", a.Options.Score), fmt.Sprintf("%q", b.Options.Score))
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrIncompatible, strings.Join(diffs, "; "))
}
