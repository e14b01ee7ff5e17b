package metrics

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// step is one point of a threshold sweep: tp positives and fp negatives have a
// score >= thr.
type step struct {
	thr    float64
	tp, fp int64
}

// sweep yields one step per distinct score, in descending order of threshold,
// with cumulative counts. The last step has tp = P and fp = N.
type sweep func(yield func(step) bool)

// aucOfSweep is the area under the ROC curve traced by sw, by the trapezoid
// rule over the points (fp/n, tp/p) starting at (0, 0). The sum
//
//	2 P N AUC = sum_i (fp_i - fp_{i-1}) (tp_i + tp_{i-1})
//
// is accumulated in integers (it is at most 2 P N < 2^64 for fewer than 2^32
// samples), so the only rounding is the final division.
func aucOfSweep(sw sweep, p, n int64) float64 {
	var acc uint64
	var tp0, fp0 int64
	for s := range sw {
		acc += uint64(s.fp-fp0) * uint64(s.tp+tp0)
		tp0, fp0 = s.tp, s.fp
	}
	return float64(acc) / (2 * float64(p) * float64(n))
}

// f1MaxOfSweep returns the largest F1 = 2 tp / (tp + fp + p) over the steps of
// sw and the threshold of the step that reaches it. Fractions are compared
// exactly; among exact ties the lowest threshold wins, which is what argmax
// over scikit-learn's ascending precision_recall_curve thresholds picks.
func f1MaxOfSweep(sw sweep, p int64) (f1, thr float64) {
	bestNum, bestDen := uint64(0), uint64(1)
	thr = math.Inf(1)
	for s := range sw {
		num, den := uint64(2*s.tp), uint64(s.tp+s.fp+p)
		// num/den >= bestNum/bestDen  <=>  num*bestDen >= bestNum*den.
		h1, l1 := bits.Mul64(num, bestDen)
		h2, l2 := bits.Mul64(bestNum, den)
		if h1 > h2 || (h1 == h2 && l1 >= l2) {
			bestNum, bestDen, thr = num, den, s.thr
		}
	}
	return float64(bestNum) / float64(bestDen), thr
}

// sample is one scored sample with its ground truth (true = anomalous).
type sample struct {
	score float64
	pos   bool
}

// sortedSamples validates scores and labels and returns them sorted by
// descending score, with the class counts.
func sortedSamples(scores []float64, labels []bool) (ss []sample, p, n int64, err error) {
	if len(scores) != len(labels) {
		panic(fmt.Sprintf("metrics: %d scores but %d labels", len(scores), len(labels)))
	}
	if len(scores) == 0 {
		return nil, 0, 0, ErrEmpty
	}
	ss = make([]sample, len(scores))
	for i, s := range scores {
		if math.IsNaN(s) {
			return nil, 0, 0, fmt.Errorf("%w: score %d of %d is NaN", ErrNaN, i, len(scores))
		}
		ss[i] = sample{s, labels[i]}
		if labels[i] {
			p++
		}
	}
	n = int64(len(scores)) - p
	slices.SortFunc(ss, func(a, b sample) int { return cmp.Compare(b.score, a.score) })
	return ss, p, n, nil
}

// sweepSamples sweeps samples sorted by descending score.
func sweepSamples(ss []sample) sweep {
	return func(yield func(step) bool) {
		var tp, fp int64
		for i := 0; i < len(ss); {
			t := ss[i].score
			for ; i < len(ss) && ss[i].score == t; i++ {
				if ss[i].pos {
					tp++
				} else {
					fp++
				}
			}
			if !yield(step{t, tp, fp}) {
				return
			}
		}
	}
}

// needBothClasses returns ErrOneClass, saying which class is missing, when p
// or n is zero.
func needBothClasses(p, n int64) error {
	switch {
	case p == 0:
		return fmt.Errorf("%w: all %d samples are normal (no positive label)", ErrOneClass, n)
	case n == 0:
		return fmt.Errorf("%w: all %d samples are anomalous (no negative label)", ErrOneClass, p)
	}
	return nil
}
