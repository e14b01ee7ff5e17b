package knn

import (
	"fmt"
	"math"

	"github.com/crd-ad/crd/modelfile"
)

// Method is the modelfile.Header.Method of a kNN (PatchCore) model.
const Method = "knn"

// BankArray is the name of the model-file array that holds the M x d bank.
// The squared norms are recomputed on load rather than stored.
const BankArray = "knn.bank"

// Arrays returns the model's payload for a modelfile.File: the bank as a
// float32 array of shape [M, d], sharing the model's memory.
func (m *Model) Arrays() []modelfile.Array {
	return []modelfile.Array{{Name: BankArray, Shape: []int{m.Len(), m.d}, F32: m.bank}}
}

// FromFile rebuilds a model from a decoded model file. It checks that the file
// is a kNN model, that the bank is a float32 [M, d] array with M >= 1 and d
// equal to Header.D, and that every value is finite; the errors say which
// check failed. The model shares the array's memory.
func FromFile(f *modelfile.File) (*Model, error) {
	h := &f.Header
	if h.Method != Method {
		return nil, fmt.Errorf("knn: model method is %q, not %q", h.Method, Method)
	}
	if h.D <= 0 {
		return nil, fmt.Errorf("knn: header feature dimension d = %d is not positive", h.D)
	}
	if !(h.Coreset > 0 && h.Coreset <= 1) {
		return nil, fmt.Errorf("knn: header coreset ratio %v is not in (0, 1]", h.Coreset)
	}
	a, err := f.Array(BankArray)
	if err != nil {
		return nil, fmt.Errorf("knn: %w", err)
	}
	if a.F32 == nil && a.F64 != nil {
		return nil, fmt.Errorf("knn: array %q is float64, want float32", BankArray)
	}
	if len(a.Shape) != 2 || a.Shape[0] < 1 || a.Shape[1] != h.D || len(a.F32) != a.Shape[0]*a.Shape[1] {
		return nil, fmt.Errorf("knn: array %q has shape %v, want [M, %d] with M >= 1", BankArray, a.Shape, h.D)
	}
	m := NewModel(h.D, a.F32)
	for j, nm := range m.norms {
		if math.IsNaN(float64(nm)) || math.IsInf(float64(nm), 0) {
			return nil, fmt.Errorf("knn: bank row %d has a non-finite value (or overflows float32)", j)
		}
	}
	m.ratio, m.patches, m.images = h.Coreset, h.NumPatches, h.NumImages
	return m, nil
}

// Save writes the model to path atomically, with the header h completed by
// the model's own fields: Method, Coreset, D, NumPatches and NumImages. The
// caller fills the rest (backbone, layers, preprocessing, calibration).
func Save(path string, m *Model, h modelfile.Header) error {
	h.Method = Method
	h.Coreset = m.ratio
	h.D = m.d
	h.NumPatches = m.patches
	h.NumImages = m.images
	return modelfile.Write(path, &modelfile.File{Header: h, Arrays: m.Arrays()})
}

// Load reads a kNN model file and returns the model and its header. Errors
// name the file.
func Load(path string) (*Model, *modelfile.Header, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := FromFile(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, &f.Header, nil
}
