package knn

import (
	"fmt"
	"math"

	"github.com/crd-ad/crd/modelfile"
)

// Method is the name under which kNN (PatchCore) models are stored in model
// files.
const Method = "knn"

// BankArray is the name of the model-file array that holds the M x d bank.
// The squared norms are recomputed on load rather than stored.
const BankArray = "knn.bank"

// Params describe a kNN model in a model file's header: the feature
// dimension, the coreset ratio (1 = the full memory bank), and the counts of
// training images and of patches before the coreset selection. The JSON
// names are those of the header.
type Params struct {
	D          int     `json:"d"`
	Coreset    float64 `json:"coreset,omitempty"`
	NumImages  int64   `json:"num_images"`
	NumPatches int64   `json:"num_patches"`
}

// Name is Method.
func (m *Model) Name() string { return Method }

// Dim is the feature dimension d (as D).
func (m *Model) Dim() int { return m.d }

// Counts are the numbers of training images and of patches before the
// coreset selection.
func (m *Model) Counts() (images, patches int64) { return m.images, m.patches }

// Bytes is the size of the numeric payload as deployed: the float32 bank and
// its norms.
func (m *Model) Bytes() int64 { return int64(len(m.bank))*4 + int64(len(m.norms))*4 }

// Params returns the model's Params (as an any, for model-file headers).
func (m *Model) Params() any {
	return Params{D: m.d, Coreset: m.ratio, NumImages: m.images, NumPatches: m.patches}
}

// Arrays returns the model's payload for a modelfile.File: the bank as a
// float32 array of shape [M, d], sharing the model's memory. The flag, which
// asks other methods for their optional training statistics, is ignored: a
// kNN model has none.
func (m *Model) Arrays(bool) []modelfile.Array {
	return []modelfile.Array{{Name: BankArray, Shape: []int{m.Len(), m.d}, F32: m.bank}}
}

// FromFile rebuilds a model from its parameters and a decoded model file's
// arrays. It checks that the bank is a float32 [M, d] array with M >= 1 and
// d equal to p.D, and that every value is finite; the errors say which check
// failed. The model shares the array's memory.
func FromFile(p Params, f *modelfile.File) (*Model, error) {
	if p.D <= 0 {
		return nil, fmt.Errorf("knn: header feature dimension d = %d is not positive", p.D)
	}
	if !(p.Coreset > 0 && p.Coreset <= 1) {
		return nil, fmt.Errorf("knn: header coreset ratio %v is not in (0, 1]", p.Coreset)
	}
	a, err := f.Array(BankArray)
	if err != nil {
		return nil, fmt.Errorf("knn: %w", err)
	}
	if a.F32 == nil && a.F64 != nil {
		return nil, fmt.Errorf("knn: array %q is float64, want float32", BankArray)
	}
	if len(a.Shape) != 2 || a.Shape[0] < 1 || a.Shape[1] != p.D || len(a.F32) != a.Shape[0]*a.Shape[1] {
		return nil, fmt.Errorf("knn: array %q has shape %v, want [M, %d] with M >= 1", BankArray, a.Shape, p.D)
	}
	m := NewModel(p.D, a.F32)
	for j, nm := range m.norms {
		if math.IsNaN(float64(nm)) || math.IsInf(float64(nm), 0) {
			return nil, fmt.Errorf("knn: bank row %d has a non-finite value (or overflows float32)", j)
		}
	}
	m.ratio, m.patches, m.images = p.Coreset, p.NumPatches, p.NumImages
	return m, nil
}
