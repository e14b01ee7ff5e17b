package metrics

import (
	"fmt"
	"slices"
)

// PRCurve returns the precision-recall curve of scores against labels
// (true = anomalous) with scikit-learn's precision_recall_curve semantics:
// thresholds are all the distinct scores in ascending order (scikit-learn >=
// 1.1 no longer cuts the curve at full recall); precision[i] and recall[i]
// count the samples with score >= thresholds[i]; and a last point (precision
// 1, recall 0) without a threshold closes the curve, so len(precision) =
// len(recall) = len(thresholds) + 1.
//
// It needs at least one anomalous sample (ErrOneClass otherwise); normal
// samples may be absent. It also returns ErrEmpty and ErrNaN errors.
func PRCurve(scores []float64, labels []bool) (precision, recall, thresholds []float64, err error) {
	ss, p, _, err := sortedSamples(scores, labels)
	if err != nil {
		return nil, nil, nil, err
	}
	if p == 0 {
		return nil, nil, nil, fmt.Errorf("%w: all %d samples are normal (no positive label)", ErrOneClass, len(ss))
	}
	for s := range sweepSamples(ss) {
		precision = append(precision, float64(s.tp)/float64(s.tp+s.fp))
		recall = append(recall, float64(s.tp)/float64(p))
		thresholds = append(thresholds, s.thr)
	}
	slices.Reverse(precision)
	slices.Reverse(recall)
	slices.Reverse(thresholds)
	return append(precision, 1), append(recall, 0), thresholds, nil
}

// F1Max returns the largest F1 score over all thresholds of the
// precision-recall curve, F1 = 2 TP / (2 TP + FP + FN), and the threshold
// (one of the scores) that reaches it: samples with score >= threshold are
// predicted anomalous. Among thresholds with exactly the same F1 the lowest is
// returned. This is anomalib's F1-max without its 1e-10 guard in the
// denominator.
//
// It needs at least one anomalous sample (ErrOneClass otherwise). It also
// returns ErrEmpty and ErrNaN errors.
func F1Max(scores []float64, labels []bool) (f1, threshold float64, err error) {
	ss, p, _, err := sortedSamples(scores, labels)
	if err != nil {
		return 0, 0, err
	}
	if p == 0 {
		return 0, 0, fmt.Errorf("%w: all %d samples are normal (no positive label)", ErrOneClass, len(ss))
	}
	f1, threshold = f1MaxOfSweep(sweepSamples(ss), p)
	return f1, threshold, nil
}
