// Package selection scores candidate settings of a detector on a validation
// set of normal images and synthetic defects with known masks, and picks one.
//
// A candidate's figures are its image AUROC (defect images against normal
// ones) and its AUPRO (the per-region overlap up to a false-positive rate,
// as metrics.PixelSet.AUPRO, with each image's defect as one region) on
// that set: one for telling defective images apart, one for finding the
// defect within them. Both are means of per-image values (ImageValues,
// RegionValues), so two candidates scored on the same images can be
// compared image by image, and Pick moves away from the default only when
// the paired differences say so with confidence.
package selection

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/crd-ad/crd/metrics"
)

// Figures are a candidate's validation figures.
type Figures struct {
	ImageAUROC float64 `json:"image_auroc"`
	AUPRO      float64 `json:"aupro"`
	// Figure is (ImageAUROC + AUPRO) / 2, what Pick compares.
	Figure float64 `json:"figure"`
}

// Validator collects one candidate's results on the validation set. It
// is not safe for concurrent use.
type Validator struct {
	fprLimit float64
	scores   []float64
	labels   []bool
	// normal is a strided sample of the normal pixels' map values (every
	// normalStride-th), defect[i] the defect pixels of image i (nil for a
	// normal image): what RegionValues needs.
	normal []float32
	defect [][]float32
	seen   int
	// sorted says that normal is in increasing order (RegionValues sorts
	// it in place; Add appends and clears it).
	sorted bool
}

// normalStride is the stride of the normal-pixel sample behind
// RegionValues: every 7th of some hundred thousand pixels per image puts
// the false-positive rate within a small fraction of a percent.
const normalStride = 7

// NewValidator starts a validation whose AUPRO integrates up to fprLimit
// (MVTec AD uses 0.3).
func NewValidator(fprLimit float64) *Validator {
	return &Validator{fprLimit: fprLimit}
}

// Add records one image: its image score, its anomaly map and its defect
// mask (nil for a normal image), of the same length.
func (v *Validator) Add(score float64, m []float32, mask []bool) {
	defect := mask != nil
	if mask == nil {
		mask = make([]bool, len(m))
	}
	v.scores = append(v.scores, score)
	v.labels = append(v.labels, defect)
	var def []float32
	for j, s := range m {
		switch {
		case mask[j]:
			def = append(def, s)
		case (v.seen+j)%normalStride == 0:
			v.normal = append(v.normal, s)
			v.sorted = false
		}
	}
	v.seen += len(m)
	v.defect = append(v.defect, def)
}

// Figures computes the figures: the image AUROC, and the AUPRO as the
// mean of the defect images' RegionValues. Without defect pixels AUPRO is
// NaN and Figure is the image AUROC alone.
func (v *Validator) Figures() (Figures, error) {
	auc, err := metrics.AUROC(v.scores, v.labels)
	if err != nil {
		return Figures{}, fmt.Errorf("selection: image AUROC: %w", err)
	}
	f := Figures{ImageAUROC: auc, AUPRO: math.NaN(), Figure: auc}
	var sum float64
	n := 0
	for _, r := range v.RegionValues() {
		if !math.IsNaN(r) {
			sum += r
			n++
		}
	}
	if n > 0 {
		f.AUPRO = sum / float64(n)
		f.Figure = (auc + f.AUPRO) / 2
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

// ImageValues are the image AUROC's placement values, one per image in the
// order added: for a defect image the fraction of normal images scoring
// below it, for a normal image the fraction of defect images scoring above
// it (ties count half). The image AUROC is the mean of either kind's values
// (DeLong et al. 1988); a candidate that separates the images better has
// larger values. Without both kinds of image they are NaN.
func (v *Validator) ImageValues() []float64 {
	var normal, defect []float64
	for i, s := range v.scores {
		if v.labels[i] {
			defect = append(defect, s)
		} else {
			normal = append(normal, s)
		}
	}
	slices.Sort(normal)
	slices.Sort(defect)
	out := make([]float64, len(v.scores))
	for i, s := range v.scores {
		switch {
		case len(normal) == 0 || len(defect) == 0:
			out[i] = math.NaN()
		case v.labels[i]:
			lo, hi := bounds(normal, s)
			out[i] = (float64(lo) + float64(hi-lo)/2) / float64(len(normal))
		default:
			lo, hi := bounds(defect, s)
			out[i] = (float64(len(defect)-hi) + float64(hi-lo)/2) / float64(len(defect))
		}
	}
	return out
}

// bounds returns the number of values in sorted below x and at most x.
func bounds(sorted []float64, x float64) (lo, hi int) {
	lo = sort.SearchFloat64s(sorted, x)
	hi = lo
	for hi < len(sorted) && sorted[hi] == x {
		hi++
	}
	return lo, hi
}

// RegionValues are per-image AUPRO values, one per image in the order
// added (NaN for a normal image): for a defect image, the mean over its
// defect pixels of 1 - FPR(s) / fprLimit, or 0 where FPR(s) >= fprLimit,
// FPR(s) being the fraction of normal pixels (a fixed sample of them)
// scoring at least s. With one region per image this is that region's area
// under the PRO curve up to fprLimit, divided by fprLimit, so their mean is
// the AUPRO up to the trapezoid rule and the sampling of normal pixels.
func (v *Validator) RegionValues() []float64 {
	if !v.sorted {
		metrics.SortFloat32s(v.normal)
		v.sorted = true
	}
	normal := v.normal
	n := float64(len(normal))
	out := make([]float64, len(v.defect))
	for i, def := range v.defect {
		if len(def) == 0 || n == 0 {
			out[i] = math.NaN()
			continue
		}
		var sum float64
		for _, s := range def {
			// Normal pixels scoring >= s.
			above := n - float64(sort.Search(len(normal), func(k int) bool { return normal[k] >= s }))
			sum += max(0, 1-above/n/v.fprLimit)
		}
		out[i] = sum / float64(len(def))
	}
	return out
}

// Paired is the mean of the paired differences a[i] - b[i] over the items
// where neither is NaN, its standard error and the number of such items
// (the standard error is NaN with fewer than two).
func Paired(a, b []float64) (mean, se float64, n int) {
	var d []float64
	for i := range a {
		if !math.IsNaN(a[i]) && !math.IsNaN(b[i]) {
			d = append(d, a[i]-b[i])
		}
	}
	if len(d) == 0 {
		return math.NaN(), math.NaN(), 0
	}
	for _, x := range d {
		mean += x
	}
	mean /= float64(len(d))
	if len(d) < 2 {
		return mean, math.NaN(), len(d)
	}
	var ss float64
	for _, x := range d {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(d)-1) / float64(len(d))), len(d)
}

// Better reports whether a candidate's values a beat another's b on the
// same items with confidence: the paired differences (see Paired) have a
// positive mean of more than z standard errors. With fewer than two items
// it is false.
func Better(a, b []float64, z float64) bool {
	mean, se, n := Paired(a, b)
	return n >= 2 && mean > 0 && mean > z*se
}

// Pick returns the index of the candidate to use, given each candidate's
// per-item values (on the same items): the first is the default and is
// kept unless a later one is Better with confidence z; each later one that
// is Better than the current pick displaces it. List the candidates from
// the least to the most departure from the default: noise on a small
// validation set then keeps the simpler setting.
func Pick(values [][]float64, z float64) int {
	best := 0
	for i := 1; i < len(values); i++ {
		if Better(values[i], values[best], z) {
			best = i
		}
	}
	return best
}
