package crd

import (
	"errors"
	"fmt"
	"math"

	"github.com/crd-ad/crd/modelfile"
)

// Method is the Header.Method value of CRD model files.
const Method = "crd"

// Names of the arrays a CRD model file holds. G and the feature sum are
// optional and stored together.
const (
	ArrayM          = "M"           // float32 d x d
	ArrayG          = "G"           // float64 d x d, full symmetric
	ArrayFeatureSum = "feature_sum" // float64 d
)

// ErrInvalidModel: a model file's header and arrays do not describe a valid
// CRD model.
var ErrInvalidModel = errors.New("crd: invalid model")

// Arrays returns the model's arrays for a model file: M, and G and the
// feature sum when keepGram is set and the model has its accumulator. The
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

// FillHeader sets the header fields that describe the model: Method, D,
// Lambda, LambdaMode, LambdaAbs, Score, NumPatches and NumImages. The others
// (backbone, preprocessing, calibration, provenance) are the caller's.
func (m *Model) FillHeader(h *modelfile.Header) {
	h.Method = Method
	h.D = m.D
	h.Lambda = m.Options.Lambda
	h.LambdaMode = string(m.Options.Mode)
	h.LambdaAbs = m.Lambda
	h.Score = string(m.Options.Score)
	h.NumPatches = m.NumPatches
	h.NumImages = m.NumImages
}

// FromFile builds a model from a model file's content, checking the header
// against the arrays. Its errors wrap ErrInvalidModel and say what is wrong.
func FromFile(f *modelfile.File) (*Model, error) {
	h := &f.Header
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidModel, fmt.Sprintf(format, args...))
	}
	if h.Method != Method {
		return nil, bad("method is %q, not %q", h.Method, Method)
	}
	if h.D <= 0 {
		return nil, bad("feature dimension d = %d", h.D)
	}
	d := h.D
	opts := SolveOptions{Lambda: h.Lambda, Mode: LambdaMode(h.LambdaMode), Score: ScoreKind(h.Score)}
	if err := opts.Validate(); err != nil {
		return nil, bad("%v", err)
	}
	if !(h.LambdaAbs > 0) || math.IsInf(h.LambdaAbs, 0) {
		return nil, bad("absolute lambda = %g", h.LambdaAbs)
	}
	if h.NumPatches < 0 || h.NumImages < 0 {
		return nil, bad("negative counts: %d patches, %d images", h.NumPatches, h.NumImages)
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
	m := &Model{D: d, M: am.F32, Lambda: h.LambdaAbs, Options: opts, NumPatches: h.NumPatches, NumImages: h.NumImages}
	if _, err := f.Array(ArrayG); err == nil {
		ag, err := shaped(ArrayG, true, d, d)
		if err != nil {
			return nil, err
		}
		as, err := shaped(ArrayFeatureSum, true, d)
		if err != nil {
			return nil, err
		}
		m.Acc = &Accumulator{d: d, g: ag.F64, sum: as.F64, patches: h.NumPatches, images: h.NumImages}
	}
	return m, nil
}

// Save writes m to path atomically as a model file whose header is h with
// the model's own fields filled in (FillHeader). With keepGram, G and the
// feature sum are stored too (d^2 float64 more), so that the model can later
// be updated or merged.
func Save(path string, h modelfile.Header, m *Model, keepGram bool) error {
	m.FillHeader(&h)
	if err := modelfile.Write(path, &modelfile.File{Header: h, Arrays: m.Arrays(keepGram)}); err != nil {
		return fmt.Errorf("crd: save: %w", err)
	}
	return nil
}

// Load reads a CRD model file. Errors name the file and wrap the modelfile
// sentinels (ErrTruncated, ErrChecksum, ...) or ErrInvalidModel.
func Load(path string) (modelfile.Header, *Model, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return modelfile.Header{}, nil, fmt.Errorf("crd: load: %w", err)
	}
	m, err := FromFile(f)
	if err != nil {
		return modelfile.Header{}, nil, fmt.Errorf("crd: load %s: %w", path, err)
	}
	return f.Header, m, nil
}

// MergeModels combines models trained on disjoint image sets into the model
// that training on their union gives (up to float64 rounding): it checks that
// the headers are compatible (modelfile.Compatible) and agree with their
// models, requires every model to have kept its accumulator (saved with G),
// adds the accumulators and solves again with the shared options.
//
// The returned header is headers[0] with the model fields updated and the
// calibration and provenance (Created, Tool) cleared: thresholds fitted for
// the parts do not carry over to the merged model.
func MergeModels(headers []modelfile.Header, models []*Model) (modelfile.Header, *Model, error) {
	if len(models) == 0 || len(headers) != len(models) {
		return modelfile.Header{}, nil, fmt.Errorf("crd: merge: %d headers for %d models", len(headers), len(models))
	}
	var acc *Accumulator
	for i, m := range models {
		h := headers[i]
		if i > 0 {
			if err := modelfile.Compatible(headers[0], h); err != nil {
				return modelfile.Header{}, nil, fmt.Errorf("crd: merge model %d into model 0: %w", i, err)
			}
		}
		var own modelfile.Header
		m.FillHeader(&own)
		if h.Method != own.Method || h.D != own.D || h.Lambda != own.Lambda || h.LambdaMode != own.LambdaMode || h.Score != own.Score {
			return modelfile.Header{}, nil, fmt.Errorf("crd: merge: header %d (d = %d, lambda = %g %s, score %s) does not describe its model (d = %d, lambda = %g %s, score %s)",
				i, h.D, h.Lambda, h.LambdaMode, h.Score, own.D, own.Lambda, own.LambdaMode, own.Score)
		}
		if m.Acc == nil {
			return modelfile.Header{}, nil, fmt.Errorf("crd: merge: model %d has no Gram matrix (save models with G kept to merge them)", i)
		}
		if acc == nil {
			acc = m.Acc.Clone()
		} else if err := acc.Merge(m.Acc); err != nil {
			return modelfile.Header{}, nil, err
		}
	}
	merged, err := acc.Solve(models[0].Options)
	if err != nil {
		return modelfile.Header{}, nil, fmt.Errorf("crd: merge: %w", err)
	}
	h := headers[0]
	h.Layers = append([]string(nil), h.Layers...)
	h.Calibration = modelfile.Calibration{}
	h.Created, h.Tool = "", ""
	merged.FillHeader(&h)
	return h, merged, nil
}
