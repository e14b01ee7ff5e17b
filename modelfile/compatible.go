package modelfile

import (
	"fmt"
	"slices"
	"strings"
)

// Compatible reports whether models with headers a and b were trained the
// same way, so that their statistics can be merged. It returns nil, or an
// error wrapping ErrIncompatible that lists every difference: scorer method,
// backbone, feature layers, preprocessing, feature dimension, regulariser
// (value and mode) and score kind. Counts, calibration and provenance may
// differ.
func Compatible(a, b Header) error {
	var diffs []string
	diff := func(what string, x, y any) {
		diffs = append(diffs, fmt.Sprintf("%s %v != %v", what, x, y))
	}
	if a.Method != b.Method {
		diff("method", q(a.Method), q(b.Method))
	}
	if a.Backbone != b.Backbone {
		diff("backbone", q(a.Backbone), q(b.Backbone))
	}
	if !slices.Equal(a.Layers, b.Layers) {
		diff("layers", a.Layers, b.Layers)
	}
	if a.Preprocess != b.Preprocess {
		diff("preprocess", fmt.Sprintf("%+v", a.Preprocess), fmt.Sprintf("%+v", b.Preprocess))
	}
	if a.D != b.D {
		diff("feature dimension d", a.D, b.D)
	}
	if a.Lambda != b.Lambda {
		diff("lambda", a.Lambda, b.Lambda)
	}
	if a.LambdaMode != b.LambdaMode {
		diff("lambda mode", q(a.LambdaMode), q(b.LambdaMode))
	}
	if a.Score != b.Score {
		diff("score kind", q(a.Score), q(b.Score))
	}
	if a.Coreset != b.Coreset {
		diff("coreset ratio", a.Coreset, b.Coreset)
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrIncompatible, strings.Join(diffs, "; "))
}

func q(s string) string { return fmt.Sprintf("%q", s) }
