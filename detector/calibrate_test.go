package detector

import (
	"fmt"
	"math"
	"slices"
	"strings"
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
	for _, bad := range []string{"quantile:0", "quantile:1.5", "mean", "quantile:x", "fpr:0", "fpr:1", "fpr:0.01:weibull"} {
		if _, err := ParseThresholdRule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNormalize(t *testing.T) {
	c := calibrate([]float64{1, 2, 3}, []float64{0.5, 1.5}, nil, ThresholdRule{Quantile: 1})
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

func TestRateRuleMatchesLogNormalFormula(t *testing.T) {
	for _, text := range []string{"fpr:0.01", "fpr:0.01:lognormal"} {
		r, err := ParseThresholdRule(text)
		if err != nil || r.String() != "fpr:0.01" {
			t.Fatalf("%s parsed as %v (%q), %v", text, r, r.String(), err)
		}
	}
	if r, _ := ParseThresholdRule("fpr:0.05:gumbel"); r.String() != "fpr:0.05:gumbel" {
		t.Errorf("gumbel rule prints as %q", r.String())
	}
	scores := []float64{1.1, 0.9, 1.3, 1.0, 1.25, 0.95, 1.05, 1.4, 1.15, 0.85}
	// Direct float64: mean and (divide by n) sd of the logs, and the normal
	// table's z for an upper tail of 1%.
	var mu, ss float64
	for _, v := range scores {
		mu += math.Log(v)
	}
	mu /= float64(len(scores))
	for _, v := range scores {
		ss += (math.Log(v) - mu) * (math.Log(v) - mu)
	}
	want := math.Exp(mu + math.Sqrt(ss/float64(len(scores)))*2.3263478740408408)
	pix := []float64{0.5, 0.7, 0.6, 0.55, 0.65}
	c := calibrate(scores, []float64{0.1, 0.2}, pix, ThresholdRule{Quantile: 1, Rate: 0.01})
	if math.Abs(c.ImageThreshold-want) > 1e-12*want {
		t.Errorf("fpr:0.01 threshold %.15g, want %.15g", c.ImageThreshold, want)
	}
	if c.ImageThreshold <= slices.Max(scores) || c.ImageMethod != "fpr:0.01" {
		t.Errorf("a 1%% threshold on 10 images should lie above their maximum: %+v", c)
	}
	if c.PixelThreshold <= slices.Max(pix) {
		t.Errorf("pixel threshold %g from the per-image map maxima %v", c.PixelThreshold, pix)
	}
	fr := c.FalseReject
	if fr == nil || math.Abs(fr.Expected-0.01) > 1e-9 || !(fr.Low < 0.01 && 0.01 < fr.High) {
		t.Errorf("false-reject estimate %+v, want 1%% inside its interval", fr)
	}
	// Too few scores to fit: the maximum, and the reason.
	c = calibrate([]float64{1, 2}, []float64{0.5}, []float64{0.5, 0.4}, ThresholdRule{Quantile: 1, Rate: 0.01})
	if c.ImageThreshold != 2 || !strings.HasPrefix(c.ImageMethod, "max (fpr:0.01 could not be fitted") || c.FalseReject != nil {
		t.Errorf("fallback calibration %+v", c)
	}
}
