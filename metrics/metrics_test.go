package metrics

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// The scikit-learn documentation example: scores 0.1 0.4 0.35 0.8, labels
// 0 0 1 1. Of the 4 (positive, negative) pairs, 0.35 beats 0.1 but not 0.4,
// and 0.8 beats both: AUROC = 3/4.
func TestAUROCHandWorked(t *testing.T) {
	got, err := AUROC([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true})
	if err != nil || got != 0.75 {
		t.Errorf("AUROC = %v, %v; want 0.75", got, err)
	}
	// Ties: scores 1 2 2 3, labels 0 1 0 1 (P = N = 2). Steps from the top:
	// t=3: tp 1 fp 0; t=2: tp 2 fp 1; t=1: tp 2 fp 2. Trapezoids
	// sum (dfp)(tp + tp_prev) = 0 + 1*(2+1) + 1*(2+2) = 7, AUROC = 7 / (2*2*2) = 0.875
	// (pairwise: 1 + 0.5 for the tie + 1 + 1 = 3.5 of 4).
	got, err = AUROC([]float64{1, 2, 2, 3}, []bool{false, true, false, true})
	if err != nil || got != 0.875 {
		t.Errorf("AUROC with ties = %v, %v; want 0.875", got, err)
	}
	// All scores tied: one step from (0,0) to (1,1), AUROC = 0.5.
	got, err = AUROC([]float64{5, 5, 5}, []bool{true, false, false})
	if err != nil || got != 0.5 {
		t.Errorf("AUROC all tied = %v, %v; want 0.5", got, err)
	}
	// Inverted ranking: 0.
	got, err = AUROC([]float64{3, 2, 1}, []bool{false, true, true})
	if err != nil || got != 0 {
		t.Errorf("AUROC inverted = %v, %v; want 0", got, err)
	}
}

func TestROCHandWorked(t *testing.T) {
	// Scores 1 2 2 3, labels 0 1 0 1, as above: points (0,0) at +Inf, then
	// (fp/2, tp/2) = (0, 0.5) at 3, (0.5, 1) at 2, (1, 1) at 1.
	fpr, tpr, thr, err := ROC([]float64{1, 2, 2, 3}, []bool{false, true, false, true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fpr, []float64{0, 0, 0.5, 1}) || !slices.Equal(tpr, []float64{0, 0.5, 1, 1}) ||
		!slices.Equal(thr, []float64{math.Inf(1), 3, 2, 1}) {
		t.Errorf("ROC = %v %v %v", fpr, tpr, thr)
	}
}

func TestPRCurveHandWorked(t *testing.T) {
	// scikit-learn's example: thresholds 0.1 0.35 0.4 0.8 (ascending). At 0.1
	// all 4 are positive: precision 2/4, recall 1; at 0.35: tp 2 fp 1 -> 2/3, 1;
	// at 0.4: tp 1 fp 1 -> 1/2, 1/2; at 0.8: tp 1 fp 0 -> 1, 1/2; then (1, 0).
	p, r, thr, err := PRCurve([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p, []float64{0.5, 2.0 / 3, 0.5, 1, 1}) || !slices.Equal(r, []float64{1, 1, 0.5, 0.5, 0}) ||
		!slices.Equal(thr, []float64{0.1, 0.35, 0.4, 0.8}) {
		t.Errorf("PRCurve = %v %v %v", p, r, thr)
	}
}

func TestF1MaxHandWorked(t *testing.T) {
	// Same example, P = 2, F1 = 2tp / (tp + fp + P): at 0.8: 2/3; 0.4: 2/4;
	// 0.35: 4/5; 0.1: 4/6. Maximum 0.8 at threshold 0.35.
	f1, thr, err := F1Max([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true})
	if err != nil || f1 != 0.8 || thr != 0.35 {
		t.Errorf("F1Max = %v at %v, %v; want 0.8 at 0.35", f1, thr, err)
	}
	// An exact tie, P = 3: 9 is positive (tp 1 fp 0: F1 = 2/4), 8..3 negative
	// (tp 1 fp 6: 2/10), 2 positive (tp 2 fp 6: 4/11), 1 positive (tp 3 fp 6:
	// 6/12). F1 = 1/2 at thresholds 9 and 1: the lowest, 1, is returned.
	scores := []float64{9, 8, 7, 6, 5, 4, 3, 2, 1}
	labels := []bool{true, false, false, false, false, false, false, true, true}
	f1, thr, err = F1Max(scores, labels)
	if err != nil || f1 != 0.5 || thr != 1 {
		t.Errorf("F1Max tie = %v at %v, %v; want 0.5 at 1", f1, thr, err)
	}
	// No negatives: the lowest threshold predicts everything right, F1 = 1.
	f1, thr, err = F1Max([]float64{0.3, 0.1, 0.2}, []bool{true, true, true})
	if err != nil || f1 != 1 || thr != 0.1 {
		t.Errorf("F1Max no negatives = %v at %v, %v; want 1 at 0.1", f1, thr, err)
	}
}

func TestConfusionHandWorked(t *testing.T) {
	scores := []float64{0.1, 0.4, 0.35, 0.8}
	labels := []bool{false, false, true, true}
	// Threshold 0.4 predicts 0 1 0 1: TP (0.8), FP (0.4), TN (0.1), FN (0.35).
	c, err := Confusion(scores, labels, 0.4)
	if err != nil || c != (ConfusionMatrix{TP: 1, FP: 1, TN: 1, FN: 1}) {
		t.Fatalf("Confusion(0.4) = %+v, %v", c, err)
	}
	if c.Accuracy() != 0.5 || c.Precision() != 0.5 || c.Recall() != 0.5 || c.F1() != 0.5 || c.FPR() != 0.5 {
		t.Errorf("rates at 0.4: %v %v %v %v %v", c.Accuracy(), c.Precision(), c.Recall(), c.F1(), c.FPR())
	}
	// Threshold 0.35 (>= includes it): TP 2, FP 1, TN 1, FN 0: accuracy 3/4,
	// precision 2/3, recall 1, F1 = 4 / (4 + 1 + 0) = 0.8.
	c, err = Confusion(scores, labels, 0.35)
	if err != nil || c != (ConfusionMatrix{TP: 2, FP: 1, TN: 1, FN: 0}) {
		t.Fatalf("Confusion(0.35) = %+v, %v", c, err)
	}
	if c.Accuracy() != 0.75 || c.Precision() != 2.0/3 || c.Recall() != 1 || c.F1() != 0.8 {
		t.Errorf("rates at 0.35: %v %v %v %v", c.Accuracy(), c.Precision(), c.Recall(), c.F1())
	}
	// Nothing predicted anomalous: precision 0/0 is reported as 0.
	c, _ = Confusion(scores, labels, 2)
	if c.Precision() != 0 || c.F1() != 0 || c.Accuracy() != 0.5 {
		t.Errorf("rates at 2: %+v %v %v", c, c.Precision(), c.F1())
	}
}

func TestErrors(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name   string
		scores []float64
		labels []bool
		want   error
		text   string
	}{
		{"empty", nil, nil, ErrEmpty, ""},
		{"only normal", []float64{1, 2}, []bool{false, false}, ErrOneClass, "no positive"},
		{"only anomalous", []float64{1, 2}, []bool{true, true}, ErrOneClass, "no negative"},
		{"NaN", []float64{1, nan, 2}, []bool{true, false, false}, ErrNaN, "score 1 of 3"},
	}
	for _, c := range cases {
		_, err := AUROC(c.scores, c.labels)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("AUROC %s: err = %v, want %v containing %q", c.name, err, c.want, c.text)
		}
		_, _, _, err = ROC(c.scores, c.labels)
		if !errors.Is(err, c.want) {
			t.Errorf("ROC %s: err = %v, want %v", c.name, err, c.want)
		}
		_, _, err = F1Max(c.scores, c.labels)
		if c.name == "only anomalous" {
			if err != nil {
				t.Errorf("F1Max %s: unexpected err %v", c.name, err)
			}
		} else if !errors.Is(err, c.want) {
			t.Errorf("F1Max %s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Confusion([]float64{nan}, []bool{true}, 0); !errors.Is(err, ErrNaN) {
		t.Errorf("Confusion NaN: err = %v", err)
	}
	if _, err := AUROC32([]float32{1, float32(nan)}, []bool{true, false}); !errors.Is(err, ErrNaN) ||
		!strings.Contains(err.Error(), "sample 1") {
		t.Errorf("AUROC32 NaN: err = %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("AUROC with mismatched lengths did not panic")
		}
	}()
	AUROC([]float64{1, 2}, []bool{true})
}
