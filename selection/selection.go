// Package selection scores candidate settings of a detector on a validation
// set of normal images and synthetic defects with known masks, and picks one.
//
// A candidate's figure is the mean of its image AUROC (defect images against
// normal ones) and its AUPRO (the per-region overlap up to a false-positive
// rate, see metrics.PixelSet.AUPRO) on that set: one figure for telling
// defective images apart, one for finding the defect within them.
package selection

import (
	"fmt"
	"math"

	"github.com/crd-ad/crd/metrics"
)

// Figures are a candidate's validation figures.
type Figures struct {
	ImageAUROC float64 `json:"image_auroc"`
	AUPRO      float64 `json:"aupro"`
	// Figure is (ImageAUROC + AUPRO) / 2, what Pick compares.
	Figure float64 `json:"figure"`
}

// Validator collects one candidate's results on the validation set.
type Validator struct {
	fprLimit float64
	px       metrics.PixelSet
	scores   []float64
	labels   []bool
}

// NewValidator starts a validation whose AUPRO integrates up to fprLimit
// (MVTec AD uses 0.3).
func NewValidator(fprLimit float64) *Validator {
	return &Validator{fprLimit: fprLimit}
}

// Add records one image: its image score, its side x side anomaly map and
// its defect mask (nil for a normal image).
func (v *Validator) Add(score float64, m []float32, mask []bool, side int) {
	defect := mask != nil
	if mask == nil {
		mask = make([]bool, len(m))
	}
	v.px.Add(m, mask, side)
	v.scores = append(v.scores, score)
	v.labels = append(v.labels, defect)
}

// Figures computes the figures. Without defect pixels AUPRO is NaN and
// Figure is the image AUROC alone.
func (v *Validator) Figures() (Figures, error) {
	auc, err := metrics.AUROC(v.scores, v.labels)
	if err != nil {
		return Figures{}, fmt.Errorf("selection: image AUROC: %w", err)
	}
	f := Figures{ImageAUROC: auc, AUPRO: math.NaN(), Figure: auc}
	if v.px.Defects() > 0 {
		if pro, err := v.px.AUPRO(v.fprLimit); err == nil {
			f.AUPRO, f.Figure = pro, (auc+pro)/2
		}
	}
	return f, nil
}

// CatchRate is the fraction of the recorded defect images whose score is
// above threshold (NaN without defect images).
func (v *Validator) CatchRate(threshold float64) float64 {
	n, caught := 0, 0
	for i, s := range v.scores {
		if v.labels[i] {
			n++
			if s > threshold {
				caught++
			}
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return float64(caught) / float64(n)
}

// Pick returns the index of the candidate with the highest Figure. A
// candidate must beat an earlier one by more than margin to displace it, so
// list the default first: noise on a small validation set then keeps it.
// NaN figures never win; with no finite figure Pick returns 0.
func Pick(figs []Figures, margin float64) int {
	best := 0
	for i, f := range figs {
		b := figs[best].Figure
		if !math.IsNaN(f.Figure) && (math.IsNaN(b) || f.Figure > b+margin) {
			best = i
		}
	}
	return best
}
