package selection

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/crd-ad/crd/metrics"
)

func TestFiguresOfAPerfectAndAReversedCandidate(t *testing.T) {
	const side = 4
	mask := make([]bool, side*side)
	mask[5], mask[6] = true, true
	good := func(v *Validator, hi float32) {
		m := make([]float32, side*side)
		m[0] = hi
		v.Add(float64(hi), m, nil)
	}
	bad := func(v *Validator, lo float32) {
		m := make([]float32, side*side)
		m[5], m[6] = lo, lo
		v.Add(float64(lo), m, mask)
	}
	perfect := NewValidator(0.3)
	good(perfect, 1)
	good(perfect, 1.5)
	bad(perfect, 3)
	bad(perfect, 4)
	f, err := perfect.Figures()
	if err != nil || f.ImageAUROC != 1 || math.Abs(f.AUPRO-1) > 1e-9 || math.Abs(f.Figure-1) > 1e-9 {
		t.Errorf("perfect candidate: %+v, %v", f, err)
	}
	if c := perfect.CatchRate(3.5); c != 0.5 {
		t.Errorf("catch rate at 3.5: %g, want 0.5", c)
	}
	// Defect images score below normal ones: image AUROC 0.
	reversed := NewValidator(0.3)
	good(reversed, 5)
	good(reversed, 6)
	bad(reversed, 1)
	bad(reversed, 2)
	if f, err := reversed.Figures(); err != nil || f.ImageAUROC != 0 {
		t.Errorf("reversed candidate: %+v, %v", f, err)
	}
	if _, err := NewValidator(0.3).Figures(); err == nil {
		t.Error("figures of an empty set: no error")
	}
}

// TestValuesAverageToTheFigures: the per-image values average to the image
// AUROC of metrics.AUROC exactly, and to the AUPRO of metrics.PixelSet
// within the sampling of normal pixels and the trapezoid rule; Figures
// reports those means.
func TestValuesAverageToTheFigures(t *testing.T) {
	const side = 32
	r := rand.New(rand.NewPCG(1, 2))
	v := NewValidator(0.3)
	var px metrics.PixelSet
	var scores []float64
	var labels []bool
	for i := 0; i < 40; i++ {
		m := make([]float32, side*side)
		for j := range m {
			m[j] = float32(r.NormFloat64())
		}
		var mask []bool
		if i%2 == 1 {
			// One square region of 4 to 8 pixels a side, scoring higher.
			mask = make([]bool, side*side)
			k, x0, y0 := 4+r.IntN(5), r.IntN(side-8), r.IntN(side-8)
			lift := float32(2 * r.Float64())
			for y := y0; y < y0+k; y++ {
				for x := x0; x < x0+k; x++ {
					mask[y*side+x] = true
					m[y*side+x] += lift
				}
			}
		}
		// Image scores on a coarse scale, so that some tie.
		s := math.Round(4*float64(slices.Max(m))) / 4
		v.Add(s, m, mask)
		if mask == nil {
			px.Add(m, make([]bool, len(m)), side)
		} else {
			px.Add(m, mask, side)
		}
		scores, labels = append(scores, s), append(labels, mask != nil)
	}
	f, err := v.Figures()
	if err != nil {
		t.Fatal(err)
	}
	auc, _ := metrics.AUROC(scores, labels)
	aupro, err := px.AUPRO(0.3)
	if err != nil {
		t.Fatal(err)
	}
	var sumDef, sumOK float64
	iv, rv := v.ImageValues(), v.RegionValues()
	var pro float64
	for i, x := range iv {
		if labels[i] {
			sumDef += x
			pro += rv[i]
		} else {
			sumOK += x
			if !math.IsNaN(rv[i]) {
				t.Errorf("normal image %d has region value %g", i, rv[i])
			}
		}
	}
	if math.Abs(sumDef/20-auc) > 1e-12 || math.Abs(sumOK/20-auc) > 1e-12 {
		t.Errorf("placement values average to %g (defects) and %g (normal images), AUROC %g", sumDef/20, sumOK/20, auc)
	}
	if math.Abs(pro/20-aupro) > 0.01 || f.AUPRO != pro/20 || f.ImageAUROC != auc {
		t.Errorf("region values average to %g, AUPRO %g; figures %+v", pro/20, aupro, f)
	}
}

func TestBetterNeedsConfidence(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	base, noisy, lifted := make([]float64, 50), make([]float64, 50), make([]float64, 50)
	for i := range base {
		base[i] = r.Float64()
		noisy[i] = base[i] + 0.1*r.NormFloat64() // no lift, noise
		lifted[i] = base[i] + 0.05 + 0.02*r.NormFloat64()
	}
	if Better(base, base, 2) {
		t.Error("a candidate beats itself")
	}
	if !Better(lifted, base, 2) || Better(base, lifted, 2) {
		t.Error("a consistent lift of 0.05 is not seen")
	}
	if Better(noisy, base, 2) && Better(base, noisy, 2) {
		t.Error("both directions significant")
	}
	// A small lift buried in noise is not enough.
	small := slices.Clone(noisy)
	for i := range small {
		small[i] += 0.002
	}
	if Better(small, base, 2) {
		t.Error("a lift of 0.002 in noise of 0.1 taken as real")
	}
	nan := slices.Clone(lifted)
	nan[0] = math.NaN()
	if !Better(nan, base, 2) || Better([]float64{1}, []float64{0}, 2) {
		t.Error("NaN items or single items mishandled")
	}
	// Pick keeps the default against noise and takes the consistent lift,
	// and a later candidate that is no better than the pick stays out.
	same := slices.Clone(lifted)
	same[1] += 1e-9
	if got := Pick([][]float64{base, small, lifted, same}, 2); got != 2 {
		t.Errorf("Pick = %d, want 2", got)
	}
	if got := Pick([][]float64{base, small}, 2); got != 0 {
		t.Errorf("Pick = %d, want the default", got)
	}
}
