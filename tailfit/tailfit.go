// Package tailfit sets an image threshold for a target false-reject rate
// from the scores of a few dozen held-out normal images.
//
// The largest held-out score (the paper's rule) says nothing about how often
// a normal image will score above it, and a plain empirical quantile cannot
// go past 1/n with n images. Instead a two-parameter distribution is fitted
// to all the held-out scores and its tail is read at the target rate:
//
//	lognormal  log(score) is normal: ML fit of mean and standard deviation
//	           (scores must be positive, which CRD and kNN scores are)
//	gumbel     the extreme-value law of a maximum of many weakly dependent
//	           patch scores, which an image score is: ML fit of location
//	           and scale
//
// The uncertainty of the false-reject rate that a threshold gives comes
// from a bootstrap over the held-out images: each resample is fitted again
// and the rate of the same threshold is read from that fit. The interval is
// the 5th to 95th percentile of those rates.
package tailfit

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Kind names a tail model.
type Kind string

const (
	// LogNormal: log(score) is normally distributed.
	LogNormal Kind = "lognormal"
	// Gumbel: the type I extreme-value distribution.
	Gumbel Kind = "gumbel"
)

// Kinds lists the tail models, the default first.
var Kinds = []Kind{LogNormal, Gumbel}

// ParseKind checks a tail model's name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown tail model %q (want lognormal or gumbel)", s)
}

// MinScores is the fewest scores a fit accepts.
const MinScores = 3

// ErrScores: the scores cannot be fitted (too few, not finite, not
// positive for a log-normal fit, or all equal).
var ErrScores = errors.New("tailfit: cannot fit these scores")

// Fit is a fitted distribution of normal image scores. For LogNormal, Loc
// and Scale are the mean and standard deviation of log(score); for Gumbel,
// the location mu and scale beta of exp(-exp(-(x - mu) / beta)).
type Fit struct {
	Kind  Kind    `json:"kind"`
	Loc   float64 `json:"loc"`
	Scale float64 `json:"scale"`
	// N is the number of scores fitted.
	N int `json:"n"`
}

// FitScores fits kind to scores by maximum likelihood.
func FitScores(kind Kind, scores []float64) (Fit, error) {
	if len(scores) < MinScores {
		return Fit{}, fmt.Errorf("%w: %d scores, need at least %d", ErrScores, len(scores), MinScores)
	}
	for i, v := range scores {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Fit{}, fmt.Errorf("%w: score %d is %g", ErrScores, i, v)
		}
		if kind == LogNormal && !(v > 0) {
			return Fit{}, fmt.Errorf("%w: score %d is %g, a log-normal fit needs positive scores", ErrScores, i, v)
		}
	}
	f := Fit{Kind: kind, N: len(scores)}
	switch kind {
	case LogNormal:
		f.Loc, f.Scale = meanStd(scores, math.Log)
	case Gumbel:
		f.Loc, f.Scale = fitGumbel(scores)
	default:
		return Fit{}, fmt.Errorf("tailfit: unknown tail model %q", kind)
	}
	if !(f.Scale > 0) || math.IsInf(f.Scale, 0) || math.IsNaN(f.Loc) {
		return Fit{}, fmt.Errorf("%w: the %d scores have no spread", ErrScores, len(scores))
	}
	return f, nil
}

// meanStd is the mean and the ML (divide by n) standard deviation of g(x).
func meanStd(x []float64, g func(float64) float64) (mean, std float64) {
	for _, v := range x {
		mean += g(v)
	}
	mean /= float64(len(x))
	for _, v := range x {
		d := g(v) - mean
		std += d * d
	}
	return mean, math.Sqrt(std / float64(len(x)))
}

// fitGumbel solves the Gumbel likelihood equations: beta is the root of
// mean(x) - beta - sum(x e^(-x/beta)) / sum(e^(-x/beta)), which is
// decreasing in beta, found by bisection; then
// mu = -beta log(mean(e^(-x/beta))). The data are centred and scaled first
// so that the exponentials stay in range.
func fitGumbel(x []float64) (mu, beta float64) {
	m, s := meanStd(x, func(v float64) float64 { return v })
	if !(s > 0) {
		return m, 0
	}
	z := make([]float64, len(x))
	for i, v := range x {
		z[i] = (v - m) / s
	}
	// Shifting by the minimum keeps every exponential in (0, 1].
	zmin := slices.Min(z)
	g := func(b float64) float64 {
		var num, den float64
		for _, v := range z {
			e := math.Exp(-(v - zmin) / b)
			num += v * e
			den += e
		}
		return -b - num/den // mean(z) is 0
	}
	lo, hi := 1e-3, 10.0
	for g(hi) > 0 {
		hi *= 2
	}
	for k := 0; k < 100 && hi-lo > 1e-12*hi; k++ {
		mid := (lo + hi) / 2
		if g(mid) > 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	b := (lo + hi) / 2
	var sum float64
	for _, v := range z {
		sum += math.Exp(-(v - zmin) / b)
	}
	muZ := zmin - b*math.Log(sum/float64(len(z)))
	return m + s*muZ, s * b
}

// Survival is the fitted probability that a normal image scores above x:
// the expected false-reject rate of threshold x.
func (f Fit) Survival(x float64) float64 {
	switch f.Kind {
	case LogNormal:
		if x <= 0 {
			return 1
		}
		return 0.5 * math.Erfc((math.Log(x)-f.Loc)/(f.Scale*math.Sqrt2))
	case Gumbel:
		// 1 - exp(-exp(-t)), computed without cancellation for large t.
		return -math.Expm1(-math.Exp(-(x - f.Loc) / f.Scale))
	}
	return math.NaN()
}

// Threshold is the score whose Survival is rate, for 0 < rate < 1.
func (f Fit) Threshold(rate float64) float64 {
	if !(rate > 0 && rate < 1) {
		return math.NaN()
	}
	switch f.Kind {
	case LogNormal:
		// Survival = erfc(z / sqrt 2) / 2 at z = sqrt 2 erfcinv(2 rate).
		return math.Exp(f.Loc + f.Scale*math.Sqrt2*math.Erfcinv(2*rate))
	case Gumbel:
		return f.Loc - f.Scale*math.Log(-math.Log1p(-rate))
	}
	return math.NaN()
}

// String describes the fit.
func (f Fit) String() string {
	switch f.Kind {
	case LogNormal:
		return fmt.Sprintf("log-normal fit to %d scores (log mean %.4g, log sd %.4g)", f.N, f.Loc, f.Scale)
	case Gumbel:
		return fmt.Sprintf("Gumbel fit to %d scores (location %.4g, scale %.4g)", f.N, f.Loc, f.Scale)
	}
	return string(f.Kind)
}

// Rate is an expected false-reject rate with its uncertainty.
type Rate struct {
	// Expected is the fitted rate; Low and High bound the middle 90% of the
	// bootstrap rates (Bootstrap resamples of the held-out scores).
	Expected  float64 `json:"expected"`
	Low       float64 `json:"low"`
	High      float64 `json:"high"`
	Bootstrap int     `json:"bootstrap"`
}

// String is the rate as a percentage with its interval.
func (r Rate) String() string {
	return fmt.Sprintf("%.2g%% (90%% interval %.2g%% to %.2g%%)", 100*r.Expected, 100*r.Low, 100*r.High)
}

// Resamples is the number of bootstrap resamples RateOf draws.
const Resamples = 1000

// RateOf is the expected false-reject rate of threshold under the fit of
// kind to scores, with a bootstrap interval over the scores drawn with
// seed (the same seed gives the same interval).
func RateOf(kind Kind, scores []float64, threshold float64, seed uint64) (Rate, error) {
	f, err := FitScores(kind, scores)
	if err != nil {
		return Rate{}, err
	}
	r := rand.New(rand.NewPCG(seed, 0x7461696c))
	rates := make([]float64, 0, Resamples)
	b := make([]float64, len(scores))
	for k := 0; k < Resamples; k++ {
		for i := range b {
			b[i] = scores[r.IntN(len(scores))]
		}
		bf, err := FitScores(kind, b)
		if err != nil {
			continue // a resample with no spread: no rate to read
		}
		rates = append(rates, bf.Survival(threshold))
	}
	out := Rate{Expected: f.Survival(threshold), Bootstrap: len(rates)}
	if len(rates) == 0 {
		out.Low, out.High = out.Expected, out.Expected
		return out, nil
	}
	slices.Sort(rates)
	out.Low, out.High = percentile(rates, 0.05), percentile(rates, 0.95)
	return out, nil
}

// percentile interpolates linearly between the order statistics of the
// sorted x.
func percentile(x []float64, q float64) float64 {
	pos := q * float64(len(x)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(x)-1)
	f := pos - float64(lo)
	return x[lo]*(1-f) + x[hi]*f
}
