package detector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
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

// CalibrateGrids sets d's calibration from the raw patch-score grids (each
// gh x gw) of held-out normal images. With positionNorm it stores the mean
// grid (PositionMean), so that every later score is divided by the normal
// score at its position. The thresholds (by rule) and the score span are
// then fitted on the held-out grids normalised leave-one-out: each image by
// the mean of the others, so that its own scores do not pull its threshold
// down (with one held-out image, by its own mean).
//
// Why: one CRD model (or one memory bank) serves every grid position, but
// what is normal differs by position on aligned parts (thread flanks, edges,
// background), and so does the residual of a normal patch. Pixel AUROC and
// the image maximum pool all positions, so a position whose normal residual
// is large hides defects elsewhere. Dividing by the normal mean puts every
// position on one scale. A position whose mean is not positive uses the
// mean over all positions.
func (d *Detector) CalibrateGrids(grids [][]float32, gh, gw int, rule ThresholdRule, positionNorm bool) {
	var mean []float32
	var sum []float64
	if positionNorm && len(grids) > 0 && gh*gw > 0 {
		sum = positionSums(grids, gh*gw)
		mean = meanOf(sum, len(grids), nil)
	}
	// Normalise by hand, then map raw.
	var img, pix []float64
	for _, g := range grids {
		if mean != nil {
			m := mean
			if len(grids) > 1 {
				// The mean of the other grids: the sums less this one.
				if loo := meanOf(sum, len(grids)-1, g); loo != nil {
					m = loo
				}
			}
			g = slices.Clone(g)
			for j, v := range m {
				g[j] /= v
			}
		}
		r := d.fromGrid(g, gh, gw, nil)
		img = append(img, r.Score)
		// The pixel threshold follows the same rule over every map pixel;
		// keep a strided sample to bound memory on large hold-out sets.
		step := max(1, len(grids)*len(r.Map.Pix)/(1<<22))
		for k := 0; k < len(r.Map.Pix); k += step {
			pix = append(pix, float64(r.Map.Pix[k]))
		}
	}
	c := calibrate(img, pix, rule)
	if mean != nil {
		c.PositionMean, c.GridH, c.GridW = mean, gh, gw
	}
	d.Calibration = c
}

// PositionMean is the mean of the grids (each of p values) at every
// position, in float64. Positions whose mean is not positive and finite get
// the mean over all positions; if that is not positive either, or there are
// no grids, it returns nil (no normalisation possible).
func PositionMean(grids [][]float32, p int) []float32 {
	if len(grids) == 0 || p == 0 {
		return nil
	}
	return meanOf(positionSums(grids, p), len(grids), nil)
}

// positionSums is the float64 sum of the grids at every position.
func positionSums(grids [][]float32, p int) []float64 {
	sum := make([]float64, p)
	for _, g := range grids {
		for j, v := range g[:p] {
			sum[j] += float64(v)
		}
	}
	return sum
}

// meanOf is PositionMean from position sums over n grids, with the grid
// less (when not nil) taken out of the sums first.
func meanOf(sum []float64, n int, less []float32) []float32 {
	mean := make([]float64, len(sum))
	var all float64
	good := 0
	for j, v := range sum {
		if less != nil {
			v -= float64(less[j])
		}
		mean[j] = v / float64(n)
		if mean[j] > 0 && !math.IsInf(mean[j], 0) {
			all += mean[j]
			good++
		}
	}
	if good == 0 {
		return nil
	}
	all /= float64(good)
	out := make([]float32, len(sum))
	for j, v := range mean {
		if !(v > 0) || math.IsInf(v, 0) || float32(v) == 0 {
			v = all
		}
		out[j] = float32(v)
	}
	return out
}

// normalizePositions divides grid by c's per-position means when c has
// them for a gh x gw grid; otherwise it leaves grid alone.
func normalizePositions(grid []float32, gh, gw int, c Calibration) {
	m := c.PositionMean
	if m == nil || c.GridH != gh || c.GridW != gw || len(m) != len(grid) {
		return
	}
	for j, v := range m {
		grid[j] /= v
	}
}

// calibrate fits the thresholds and the normalisation from held-out normal
// image scores and their map values.
func calibrate(imageScores []float64, pixelScores []float64, rule ThresholdRule) Calibration {
	lo, hi := slices.Min(imageScores), slices.Max(imageScores)
	c := Calibration{
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
func Normalize(raw, threshold float64, c Calibration) float64 {
	span := c.NormMax - c.NormMin
	if !(span > 0) {
		span = 1
	}
	v := 0.5 + (raw-threshold)/span
	return math.Min(1, math.Max(0, v))
}
