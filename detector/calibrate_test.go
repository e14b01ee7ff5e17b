package detector

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestSplitHoldout(t *testing.T) {
	var paths []string
	for i := 0; i < 50; i++ {
		paths = append(paths, fmt.Sprintf("img%02d.png", i))
	}
	tr, ho := SplitHoldout(paths, 0.1, 7)
	if len(ho) != 5 || len(tr) != 45 {
		t.Fatalf("split sizes %d/%d, want 45/5", len(tr), len(ho))
	}
	all := append(slices.Clone(tr), ho...)
	slices.Sort(all)
	if !slices.Equal(all, paths) {
		t.Fatal("split lost or duplicated images")
	}
	tr2, ho2 := SplitHoldout(paths, 0.1, 7)
	if !slices.Equal(tr, tr2) || !slices.Equal(ho, ho2) {
		t.Fatal("split is not deterministic")
	}
	_, ho3 := SplitHoldout(paths, 0.1, 8)
	if slices.Equal(ho, ho3) {
		t.Fatal("seed has no effect")
	}
	if tr, ho := SplitHoldout(paths[:3], 0.01, 1); len(ho) != 1 || len(tr) != 2 {
		t.Fatalf("small set: %d/%d, want 2/1", len(tr), len(ho))
	}
	if tr, ho := SplitHoldout(paths[:3], 0, 1); len(ho) != 0 || len(tr) != 3 {
		t.Fatal("frac 0 must hold nothing out")
	}
}

func TestThresholdRule(t *testing.T) {
	r, err := ParseThresholdRule("max")
	if err != nil || r.Apply([]float64{3, 1, 2}) != 3 {
		t.Fatalf("max rule: %v %v", r, err)
	}
	r, err = ParseThresholdRule("quantile:0.5")
	if err != nil {
		t.Fatal(err)
	}
	// Order statistics 1,2,3,4: the median by linear interpolation is 2.5.
	if got := r.Apply([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Fatalf("median = %g, want 2.5", got)
	}
	for _, bad := range []string{"quantile:0", "quantile:1.5", "mean", "quantile:x"} {
		if _, err := ParseThresholdRule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNormalize(t *testing.T) {
	c := calibrate([]float64{1, 2, 3}, []float64{0.5, 1.5}, ThresholdRule{Quantile: 1})
	if c.ImageThreshold != 3 || c.PixelThreshold != 1.5 || c.NormMin != 1 || c.NormMax != 3 {
		t.Fatalf("calibration %+v", c)
	}
	if v := Normalize(3, c.ImageThreshold, c); v != 0.5 {
		t.Fatalf("threshold maps to %g, want 0.5", v)
	}
	if v := Normalize(4, c.ImageThreshold, c); math.Abs(v-1) > 1e-12 {
		t.Fatalf("threshold+span/2 maps to %g, want 1", v)
	}
	if v := Normalize(-10, c.ImageThreshold, c); v != 0 {
		t.Fatalf("far below maps to %g, want 0", v)
	}
}
