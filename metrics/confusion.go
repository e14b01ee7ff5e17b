package metrics

import (
	"fmt"
	"math"
)

// ConfusionMatrix holds the counts of a binary decision: a sample is
// predicted anomalous (positive) when its score is >= the threshold.
type ConfusionMatrix struct {
	TP, FP, TN, FN int64
}

// Confusion counts the decisions "score >= threshold" against labels
// (true = anomalous). It returns an error wrapping ErrEmpty or ErrNaN for no
// samples or a NaN score.
func Confusion(scores []float64, labels []bool, threshold float64) (ConfusionMatrix, error) {
	if len(scores) != len(labels) {
		panic(fmt.Sprintf("metrics: %d scores but %d labels", len(scores), len(labels)))
	}
	if len(scores) == 0 {
		return ConfusionMatrix{}, ErrEmpty
	}
	var c ConfusionMatrix
	for i, s := range scores {
		if math.IsNaN(s) {
			return ConfusionMatrix{}, fmt.Errorf("%w: score %d of %d is NaN", ErrNaN, i, len(scores))
		}
		c.add(s >= threshold, labels[i])
	}
	return c, nil
}

func (c *ConfusionMatrix) add(predicted, actual bool) {
	switch {
	case predicted && actual:
		c.TP++
	case predicted:
		c.FP++
	case actual:
		c.FN++
	default:
		c.TN++
	}
}

// ratio returns a/b, or 0 when b is 0 (scikit-learn's zero_division=0).
func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Total is the number of samples.
func (c ConfusionMatrix) Total() int64 { return c.TP + c.FP + c.TN + c.FN }

// Accuracy is (TP + TN) / total, or 0 for no samples.
func (c ConfusionMatrix) Accuracy() float64 { return ratio(c.TP+c.TN, c.Total()) }

// Precision is TP / (TP + FP), or 0 when nothing is predicted anomalous.
func (c ConfusionMatrix) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall (true positive rate) is TP / (TP + FN), or 0 without anomalous samples.
func (c ConfusionMatrix) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// FPR (false positive rate) is FP / (FP + TN), or 0 without normal samples.
func (c ConfusionMatrix) FPR() float64 { return ratio(c.FP, c.FP+c.TN) }

// F1 is 2 TP / (2 TP + FP + FN), the harmonic mean of precision and recall,
// or 0 when TP + FP + FN is 0.
func (c ConfusionMatrix) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }
