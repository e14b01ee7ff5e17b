package detector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/crd-ad/crd/tailfit"
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
// the largest score ("max", the paper's rule), a quantile ("quantile:Q"
// with Q in (0, 1], linear interpolation between order statistics), or a
// target false-reject rate ("fpr:R", optionally "fpr:R:TAIL"): the score
// that a fraction R of normal images is expected to exceed, read from a
// tail model (package tailfit, DefaultTail unless TAIL names another) fitted
// to the scores, so that it extrapolates past the few held-out images.
type ThresholdRule struct {
	Quantile float64 // 1 means the maximum; unused when Rate is set
	// Rate, when positive, is the target false-reject rate in (0, 1).
	Rate float64
	// Tail is the tail model of a Rate rule ("" means DefaultTail).
	Tail tailfit.Kind
}

// DefaultTail is the tail model of fpr rules that name none, and the one
// that estimates every model's expected false-reject rate.
const DefaultTail = tailfit.LogNormal

// ParseThresholdRule reads "max", "quantile:Q" or "fpr:R[:TAIL]".
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
	if r, ok := strings.CutPrefix(s, "fpr:"); ok {
		rate, tail, _ := strings.Cut(r, ":")
		v, err := strconv.ParseFloat(rate, 64)
		if err == nil && v > 0 && v < 1 {
			rule := ThresholdRule{Quantile: 1, Rate: v}
			if tail != "" {
				if rule.Tail, err = tailfit.ParseKind(tail); err != nil {
					return ThresholdRule{}, fmt.Errorf("threshold rule %q: %w", s, err)
				}
			}
			return rule, nil
		}
	}
	return ThresholdRule{}, fmt.Errorf("threshold rule %q: want \"max\", \"quantile:Q\" with 0 < Q <= 1, or \"fpr:R\" with 0 < R < 1 (a target false-reject rate, e.g. fpr:0.01)", s)
}

// String is the rule as ParseThresholdRule reads it.
func (r ThresholdRule) String() string {
	if r.Rate > 0 {
		s := "fpr:" + strconv.FormatFloat(r.Rate, 'g', -1, 64)
		if r.Tail != "" && r.Tail != DefaultTail {
			s += ":" + string(r.Tail)
		}
		return s
	}
	if r.Quantile >= 1 {
		return "max"
	}
	return "quantile:" + strconv.FormatFloat(r.Quantile, 'g', -1, 64)
}

// tail is the rule's tail model.
func (r ThresholdRule) tail() tailfit.Kind {
	if r.Tail == "" {
		return DefaultTail
	}
	return r.Tail
}

// Apply returns the threshold for scores (which it sorts in place), NaN
// when a rate rule cannot fit them (see Threshold).
func (r ThresholdRule) Apply(scores []float64) float64 {
	t, err := r.Threshold(scores)
	if err != nil {
		return math.NaN()
	}
	return t
}

// Threshold returns the threshold for scores (which it sorts in place), or
// the tail fit's error for a rate rule.
func (r ThresholdRule) Threshold(scores []float64) (float64, error) {
	if len(scores) == 0 {
		return math.NaN(), fmt.Errorf("threshold: no scores")
	}
	slices.Sort(scores)
	if r.Rate > 0 {
		f, err := tailfit.FitScores(r.tail(), scores)
		if err != nil {
			return math.NaN(), err
		}
		return f.Threshold(r.Rate), nil
	}
	q := r.Quantile
	if q >= 1 {
		return scores[len(scores)-1], nil
	}
	pos := q * float64(len(scores)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(scores)-1)
	f := pos - float64(lo)
	return scores[lo]*(1-f) + scores[hi]*f, nil
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
	mode := NormOff
	if positionNorm {
		mode = NormOn
	}
	d.CalibrateNorm(grids, gh, gw, rule, mode)
}

// CalibrateNorm is CalibrateGrids with any normalisation mode: NormOn is
// positionNorm, NormShrunk divides by the per-position means shrunk toward
// their overall mean (see Shrink).
func (d *Detector) CalibrateNorm(grids [][]float32, gh, gw int, rule ThresholdRule, mode NormMode) {
	d.CalibrateModes(grids, gh, gw, rule, mode, mode)
}

// CalibrateModes is CalibrateNorm with one normalisation for the anomaly
// map and the pixel threshold (pixel) and another for the image score and
// the image threshold (image). Training picks each by its own validation
// figure: on unaligned parts raw scores may localise better while the
// normalised maximum still ranks images better.
func (d *Detector) CalibrateModes(grids [][]float32, gh, gw int, rule ThresholdRule, pixel, image NormMode) {
	loo, all := divisors(grids, gh*gw, pixel)
	looImg, allImg := loo, all
	if image != pixel {
		looImg, allImg = divisors(grids, gh*gw, image)
	}
	// Normalise by hand, then map raw.
	var img, pix, pixMax []float64
	for i, g := range grids {
		r := d.fromGrid(divided(g, loo[i]), gh, gw, nil)
		if image != pixel {
			r.Score = float64(slices.Max(divided(g, looImg[i])))
		}
		img = append(img, r.Score)
		pixMax = append(pixMax, float64(slices.Max(r.Map.Pix)))
		// The pixel threshold follows the same rule over every map pixel;
		// keep a strided sample to bound memory on large hold-out sets.
		step := max(1, len(grids)*len(r.Map.Pix)/(1<<22))
		for k := 0; k < len(r.Map.Pix); k += step {
			pix = append(pix, float64(r.Map.Pix[k]))
		}
	}
	c := calibrate(img, pix, pixMax, rule)
	if all != nil {
		c.PositionMean, c.GridH, c.GridW = all, gh, gw
	}
	// Where no mean is positive a mode divides by nothing: it is NormOff.
	if allImg == nil {
		image = NormOff
	}
	if all == nil {
		pixel = NormOff
	}
	if image != pixel {
		c.ImageNorm, c.ImagePositionMean, c.GridH, c.GridW = image, allImg, gh, gw
	}
	d.Calibration = c
}

// divisors returns the per-position divisors of mode for grids of p
// values: for each grid the leave-one-out one (from the other grids, or
// its own with a single grid), and the one from all grids, which is stored.
// Under NormOff, or when no mean is positive, they are all nil.
func divisors(grids [][]float32, p int, mode NormMode) (loo [][]float32, all []float32) {
	loo = make([][]float32, len(grids))
	if mode == NormOff || len(grids) == 0 || p == 0 {
		return loo, nil
	}
	sum := positionSums(grids, p)
	all = shrinkIf(mode, meanOf(sum, len(grids), nil))
	if all == nil {
		return loo, nil
	}
	for i, g := range grids {
		loo[i] = all
		if len(grids) > 1 {
			// The mean of the other grids: the sums less this one.
			if m := shrinkIf(mode, meanOf(sum, len(grids)-1, g)); m != nil {
				loo[i] = m
			}
		}
	}
	return loo, all
}

// divided is a copy of g divided by div position by position (g itself
// when div is nil).
func divided(g, div []float32) []float32 {
	if div == nil {
		return g
	}
	g = slices.Clone(g)
	for j, v := range div {
		g[j] /= v
	}
	return g
}

// Shrink moves per-position means halfway toward their overall mean:
// out[j] = (m[j] + mean(m)) / 2. A position whose normal mean is small (a
// background corner) is then divided by at least half the overall mean,
// so its noise is not blown up, while a position whose normal mean is
// large still has its scores scaled down.
func Shrink(m []float32) []float32 {
	if len(m) == 0 {
		return nil
	}
	var all float64
	for _, v := range m {
		all += float64(v)
	}
	all /= float64(len(m))
	out := make([]float32, len(m))
	for j, v := range m {
		out[j] = float32((float64(v) + all) / 2)
	}
	return out
}

// shrinkIf is Shrink(m) under NormShrunk, m otherwise.
func shrinkIf(mode NormMode, m []float32) []float32 {
	if mode == NormShrunk {
		return Shrink(m)
	}
	return m
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

// imageScore is the image score of a raw gh x gw grid under c: the
// maximum of the grid divided by the per-position means of c's image
// normalisation (ImageNorm; by PositionMean when it is empty).
func imageScore(grid []float32, gh, gw int, c Calibration) float64 {
	m := c.PositionMean
	if c.ImageNorm != "" {
		m = c.ImagePositionMean
	}
	if m == nil || c.GridH != gh || c.GridW != gw || len(m) != len(grid) {
		return float64(slices.Max(grid))
	}
	best := float32(math.Inf(-1))
	for j, v := range m {
		best = max(best, grid[j]/v)
	}
	return float64(best)
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
// image scores, their map values and each image's largest map value. A
// rate rule sets the pixel threshold from the images' largest map values,
// so that the map of a normal image crosses it at the same rate. When a
// rate rule cannot fit the scores it falls back to the maximum, and says
// so in ImageMethod.
func calibrate(imageScores, pixelScores, pixelMax []float64, rule ThresholdRule) Calibration {
	lo, hi := slices.Min(imageScores), slices.Max(imageScores)
	c := Calibration{
		ImageMethod: rule.String(),
		NormMin:     lo,
		NormMax:     hi,
		HeldOut:     len(imageScores),
	}
	var err error
	if c.ImageThreshold, err = rule.Threshold(slices.Clone(imageScores)); err == nil && rule.Rate > 0 {
		c.PixelThreshold, err = rule.Threshold(pixelMax)
	} else if err == nil {
		c.PixelThreshold = rule.Apply(pixelScores)
	}
	if err != nil {
		c.ImageMethod = fmt.Sprintf("max (%s could not be fitted: %v)", rule, err)
		c.ImageThreshold, c.PixelThreshold = hi, slices.Max(pixelScores)
	}
	if r, err := tailfit.RateOf(rule.tail(), imageScores, c.ImageThreshold, 1); err == nil {
		f, _ := tailfit.FitScores(rule.tail(), imageScores)
		c.FalseReject = &RateEstimate{Expected: r.Expected, Low: r.Low, High: r.High, Fit: f.String()}
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
