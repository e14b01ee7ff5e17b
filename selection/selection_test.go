package selection

import (
	"math"
	"testing"
)

func TestFiguresOfAPerfectAndAReversedCandidate(t *testing.T) {
	const side = 4
	mask := make([]bool, side*side)
	mask[5], mask[6] = true, true
	good := func(v *Validator, hi float32) {
		m := make([]float32, side*side)
		m[0] = hi
		v.Add(float64(hi), m, nil, side)
	}
	bad := func(v *Validator, lo float32) {
		m := make([]float32, side*side)
		m[5], m[6] = lo, lo
		v.Add(float64(lo), m, mask, side)
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

func TestPickKeepsTheFirstWithinMargin(t *testing.T) {
	figs := []Figures{{Figure: 0.90}, {Figure: 0.905}, {Figure: math.NaN()}, {Figure: 0.89}}
	if got := Pick(figs, 0.01); got != 0 {
		t.Errorf("pick with margin 0.01: %d, want 0", got)
	}
	if got := Pick(figs, 0); got != 1 {
		t.Errorf("pick with no margin: %d, want 1", got)
	}
	if got := Pick([]Figures{{Figure: math.NaN()}, {Figure: 0.5}}, 0.01); got != 1 {
		t.Errorf("a NaN first candidate kept: %d", got)
	}
}
