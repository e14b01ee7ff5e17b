package detector

import (
	"testing"
)

// FuzzParseThresholdRule: a rule either parses into one that is valid
// (quantile in (0, 1], rate in (0, 1)) and reads back the same through
// String, or is an error that names it; it never panics.
func FuzzParseThresholdRule(f *testing.F) {
	for _, s := range []string{"", "max", "quantile:0.99", "quantile:0", "fpr:0.01", "fpr:0.05:gumbel", "fpr:0.05:lognormal",
		"fpr:1", "fpr:NaN", "fpr:0.01:", "quantile:1e-300", "fpr:0x1p-4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseThresholdRule(s)
		if err != nil {
			return
		}
		if !(r.Quantile > 0 && r.Quantile <= 1) || !(r.Rate == 0 || r.Rate > 0 && r.Rate < 1) {
			t.Fatalf("%q parsed into an invalid rule %+v", s, r)
		}
		back, err := ParseThresholdRule(r.String())
		if err != nil || back.String() != r.String() {
			t.Fatalf("%q -> %q -> %+v, %v", s, r.String(), back, err)
		}
	})
}
