package metrics

import "math"

// ROC returns the receiver operating characteristic curve of scores against
// labels (true = anomalous, the positive class), with scikit-learn's
// roc_curve(drop_intermediate=False) semantics: one point per distinct score
// in descending order, preceded by the point (0, 0) at threshold +Inf (as
// scikit-learn >= 1.3 writes it). Point i counts the samples with score >=
// thresholds[i].
//
// It returns an error wrapping ErrEmpty, ErrNaN or ErrOneClass for no
// samples, a NaN score, or labels of one class only.
func ROC(scores []float64, labels []bool) (fpr, tpr, thresholds []float64, err error) {
	ss, p, n, err := sortedSamples(scores, labels)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := needBothClasses(p, n); err != nil {
		return nil, nil, nil, err
	}
	fpr, tpr, thresholds = []float64{0}, []float64{0}, []float64{math.Inf(1)}
	for s := range sweepSamples(ss) {
		fpr = append(fpr, float64(s.fp)/float64(n))
		tpr = append(tpr, float64(s.tp)/float64(p))
		thresholds = append(thresholds, s.thr)
	}
	return fpr, tpr, thresholds, nil
}

// AUROC returns the exact area under the ROC curve of scores against labels
// (true = anomalous), equal to scikit-learn's roc_auc_score: tied scores form
// one step of the curve, integrated with the trapezoid rule, so a tie between
// a positive and a negative counts one half. No rescaling of the scores is
// done (AUROC only depends on their order).
//
// It returns an error wrapping ErrEmpty, ErrNaN or ErrOneClass for no
// samples, a NaN score, or labels of one class only.
func AUROC(scores []float64, labels []bool) (float64, error) {
	ss, p, n, err := sortedSamples(scores, labels)
	if err != nil {
		return 0, err
	}
	if err := needBothClasses(p, n); err != nil {
		return 0, err
	}
	return aucOfSweep(sweepSamples(ss), p, n), nil
}
