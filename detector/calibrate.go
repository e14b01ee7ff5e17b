package detector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/crd-ad/crd/modelfile"
)

// SplitHoldout deterministically shuffles paths with seed and returns the
// training part and the held-out part, which holds round(frac * n) images
// (at least one when frac > 0 and there are two or more images, and never
// all of them). The held-out images are never put into the model: they set
// the thresholds, because scores on training images are biased low.
func SplitHoldout(paths []string, frac float64, seed uint64) (train, holdout []string) {
	if frac <= 0 || len(paths) < 2 {
		return slices.Clone(paths), nil
	}
	idx := make([]int, len(paths))
	for i := range idx {
		idx[i] = i
	}
	r := rand.New(rand.NewPCG(seed, 0x63726400))
	r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	k := int(math.Round(frac * float64(len(paths))))
	k = max(1, min(k, len(paths)-1))
	held := idx[:k]
	slices.Sort(held)
	rest := idx[k:]
	slices.Sort(rest)
	for _, i := range rest {
		train = append(train, paths[i])
	}
	for _, i := range held {
		holdout = append(holdout, paths[i])
	}
	return train, holdout
}

// ThresholdRule says how a threshold is chosen from scores of normal images:
// the largest score ("max", the paper's rule), or a quantile ("quantile:Q"
// with Q in (0, 1], linear interpolation between order statistics).
type ThresholdRule struct {
	Quantile float64 // 1 means the maximum
}

// ParseThresholdRule reads "max" or "quantile:Q".
func ParseThresholdRule(s string) (ThresholdRule, error) {
	if s == "" || s == "max" {
		return ThresholdRule{Quantile: 1}, nil
	}
	if q, ok := strings.CutPrefix(s, "quantile:"); ok {
		v, err := strconv.ParseFloat(q, 64)
		if err == nil && v > 0 && v <= 1 {
			return ThresholdRule{Quantile: v}, nil
		}
	}
	return ThresholdRule{}, fmt.Errorf("threshold rule %q: want \"max\" or \"quantile:Q\" with 0 < Q <= 1", s)
}

// String is the rule as ParseThresholdRule reads it.
func (r ThresholdRule) String() string {
	if r.Quantile >= 1 {
		return "max"
	}
	return "quantile:" + strconv.FormatFloat(r.Quantile, 'g', -1, 64)
}

// Apply returns the threshold for scores (which it sorts in place).
func (r ThresholdRule) Apply(scores []float64) float64 {
	if len(scores) == 0 {
		return math.NaN()
	}
	slices.Sort(scores)
	q := r.Quantile
	if q >= 1 {
		return scores[len(scores)-1]
	}
	pos := q * float64(len(scores)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(scores)-1)
	f := pos - float64(lo)
	return scores[lo]*(1-f) + scores[hi]*f
}

// calibrate fits the thresholds and the normalisation from held-out normal
// image scores and their map values.
func calibrate(imageScores []float64, pixelScores []float64, rule ThresholdRule) modelfile.Calibration {
	lo, hi := slices.Min(imageScores), slices.Max(imageScores)
	c := modelfile.Calibration{
		ImageThreshold: rule.Apply(imageScores),
		PixelThreshold: rule.Apply(pixelScores),
		ImageMethod:    rule.String(),
		NormMin:        lo,
		NormMax:        hi,
		HeldOut:        len(imageScores),
	}
	if !(c.NormMax > c.NormMin) {
		// One held-out image, or all scored alike: use a span relative to the
		// threshold so normalisation stays defined.
		span := math.Max(math.Abs(c.ImageThreshold), 1e-12)
		c.NormMin, c.NormMax = c.ImageThreshold-span/2, c.ImageThreshold+span/2
	}
	return c
}

// Normalize maps a raw score to [0, 1] so that threshold maps to 0.5:
// 0.5 + (raw - threshold) / (NormMax - NormMin), clipped.
func Normalize(raw, threshold float64, c modelfile.Calibration) float64 {
	span := c.NormMax - c.NormMin
	if !(span > 0) {
		span = 1
	}
	v := 0.5 + (raw-threshold)/span
	return math.Min(1, math.Max(0, v))
}
