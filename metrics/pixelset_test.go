package metrics

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// handImage is a 2 x 4 image whose mask has two 8-connected regions:
//
//	mask        scores
//	1 1 0 0     0.9 0.5 0.6 0.1
//	0 0 0 1     0.2 0.3 0.4 0.8
//
// Region A = {(0,0), (0,1)} (size 2), region B = {(1,3)} (size 1); (1,3) does
// not touch (0,1). Five normal pixels: 0.6 0.1 0.2 0.3 0.4.
func handImage() ([]float32, []bool) {
	return []float32{0.9, 0.5, 0.6, 0.1, 0.2, 0.3, 0.4, 0.8},
		[]bool{true, true, false, false, false, false, false, true}
}

func TestAUPROHandWorked(t *testing.T) {
	scores, mask := handImage()
	var s PixelSet
	s.Add(scores, mask, 4)
	if s.Regions() != 2 || s.Defects() != 3 || s.Len() != 8 || s.Images() != 1 {
		t.Fatalf("regions %d defects %d len %d images %d", s.Regions(), s.Defects(), s.Len(), s.Images())
	}
	// Descending thresholds, PRO = mean of the two regions' covered fractions:
	// 0.9: A 1/2, B 0 -> (fpr 0, pro 0.25); 0.8: B 1 -> (0, 0.75);
	// 0.6: a normal pixel -> (0.2, 0.75); 0.5: A full -> (0.2, 1);
	// 0.4 0.3 0.2 0.1: normal -> (0.4, 1) (0.6, 1) (0.8, 1) (1, 1).
	// Up to 0.3: 0.2 * 0.75 over [0, 0.2], then 0.1 * 1 over [0.2, 0.3]
	// (interpolated between (0.2, 1) and (0.4, 1)): 0.25 / 0.3.
	// Up to 1: 0.15 + 0.8 = 0.95. Up to 0.2: 0.15 / 0.2 = 0.75.
	for _, c := range []struct{ limit, want float64 }{{0.3, 0.25 / 0.3}, {1, 0.95}, {0.2, 0.75}, {0.1, 0.75}} {
		got, err := s.AUPRO(c.limit)
		if err != nil || !near(got, c.want, 1e-15) {
			t.Errorf("AUPRO(%g) = %v, %v; want %v", c.limit, got, err, c.want)
		}
	}
	curve, err := s.PROCurve(0.3, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantX := []float64{0, 0, 0, 0.2, 0.2, 0.3}
	wantY := []float64{0, 0.25, 0.75, 0.75, 1, 1}
	if len(curve.X) != len(wantX) {
		t.Fatalf("PROCurve = %+v", curve)
	}
	for i := range wantX {
		if !near(curve.X[i], wantX[i], 1e-15) || !near(curve.Y[i], wantY[i], 1e-15) {
			t.Errorf("PROCurve point %d = (%v, %v), want (%v, %v)", i, curve.X[i], curve.Y[i], wantX[i], wantY[i])
		}
	}
	if float32(curve.Threshold[1]) != 0.9 || float32(curve.Threshold[4]) != 0.5 {
		t.Errorf("PROCurve thresholds = %v", curve.Threshold)
	}

	// Pixel AUROC of the same image: positives 0.9 0.5 0.8, negatives
	// 0.6 0.1 0.2 0.3 0.4. 0.9 and 0.8 beat all 5, 0.5 beats 4: 14/15.
	auc, err := s.AUROC()
	if err != nil || !near(auc, 14.0/15, 1e-15) {
		t.Errorf("pixel AUROC = %v, %v; want 14/15", auc, err)
	}
	// F1 = 2tp/(tp+fp+3): 0.9: 2/4; 0.8: 4/5; 0.6: 4/6; 0.5: 6/7 -> max 6/7 at 0.5.
	f1, thr, err := s.F1Max()
	if err != nil || !near(f1, 6.0/7, 1e-15) || thr != 0.5 {
		t.Errorf("pixel F1Max = %v at %v, %v; want 6/7 at 0.5", f1, thr, err)
	}
	c, err := s.Confusion(0.5)
	if err != nil || c != (ConfusionMatrix{TP: 3, FP: 1, TN: 4, FN: 0}) {
		t.Errorf("pixel Confusion(0.5) = %+v, %v", c, err)
	}
	roc, err := s.ROC(0)
	if err != nil || len(roc.X) != 9 || roc.X[8] != 1 || roc.Y[8] != 1 || roc.Y[2] != 2.0/3 {
		t.Errorf("pixel ROC = %+v, %v", roc, err)
	}
}

func TestLabelEightConnected(t *testing.T) {
	// 1 0 0 1
	// 0 1 0 1      8-connectivity: {(0,0),(1,1),(2,0)} diagonal chain, and
	// 1 0 0 1      {(0,3),(1,3),(2,3)}: 2 regions (4-connectivity would give 4).
	mask := []bool{true, false, false, true, false, true, false, true, true, false, false, true}
	var l labeller
	labels, sizes := l.label(mask, 4)
	if len(sizes) != 2 || sizes[0] != 3 || sizes[1] != 3 {
		t.Fatalf("sizes = %v", sizes)
	}
	want := []int32{1, 0, 0, 2, 0, 1, 0, 2, 1, 0, 0, 2}
	for i := range want {
		if labels[i] != want[i] {
			t.Fatalf("labels = %v, want %v", labels, want)
		}
	}
	// No wrap-around between rows: (0,3) and (1,0) are not neighbours.
	_, sizes = l.label([]bool{false, false, false, true, true, false, false, false}, 4)
	if len(sizes) != 2 {
		t.Errorf("row wrap: sizes = %v", sizes)
	}
}

// PixelSet and the float64 functions must agree exactly on random data with
// many ties, split over images of different sizes.
func TestPixelSetMatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var s PixelSet
	var all []float64
	var labels []bool
	for img := range 7 {
		h, w := 5+img, 9-img
		sc := make([]float32, h*w)
		m := make([]bool, h*w)
		for i := range sc {
			m[i] = rng.Float64() < 0.2
			v := rng.NormFloat64()
			if m[i] {
				v += 1
			}
			sc[i] = float32(math.Round(v*8) / 8)
			if i%17 == 0 {
				sc[i] = float32(math.Copysign(0, -1)) // -0 must tie with +0
			}
			all = append(all, float64(sc[i]))
			labels = append(labels, m[i])
		}
		s.Add(sc, m, w)
	}
	want, _ := AUROC(all, labels)
	got, err := s.AUROC()
	if err != nil || got != want {
		t.Errorf("PixelSet.AUROC = %v, %v; AUROC = %v", got, err, want)
	}
	wf1, wthr, _ := F1Max(all, labels)
	f1, thr, err := s.F1Max()
	if err != nil || f1 != wf1 || float64(thr) != wthr {
		t.Errorf("PixelSet.F1Max = %v at %v, %v; F1Max = %v at %v", f1, thr, err, wf1, wthr)
	}
	fpr, tpr, _, _ := ROC(all, labels)
	roc, _ := s.ROC(0)
	if len(roc.X) != len(fpr) {
		t.Fatalf("ROC has %d points, want %d", len(roc.X), len(fpr))
	}
	for i := range fpr {
		if roc.X[i] != fpr[i] || roc.Y[i] != tpr[i] {
			t.Fatalf("ROC point %d = (%v, %v), want (%v, %v)", i, roc.X[i], roc.Y[i], fpr[i], tpr[i])
		}
	}
	thin, _ := s.ROC(10)
	if len(thin.X) > 22 || thin.X[len(thin.X)-1] != 1 || thin.X[0] != 0 {
		t.Errorf("ROC(10) kept %d points: %v", len(thin.X), thin.X)
	}
	// Adding after a metric re-sorts.
	s.Add([]float32{100}, []bool{false}, 1)
	got2, _ := s.AUROC()
	want2, _ := AUROC(append(all, 100), append(labels, false))
	if got2 != want2 {
		t.Errorf("AUROC after Add = %v, want %v", got2, want2)
	}
	got32, _ := AUROC32(float32s(all), labels)
	if got32 != want {
		t.Errorf("AUROC32 = %v, want %v", got32, want)
	}
}

func float32s(a []float64) []float32 {
	out := make([]float32, len(a))
	for i, v := range a {
		out[i] = float32(v)
	}
	return out
}

func TestPixelSetErrors(t *testing.T) {
	var s PixelSet
	if _, err := s.AUROC(); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
	s.Add([]float32{1, 2, 3, 4}, []bool{false, false, false, false}, 2)
	if _, err := s.AUPRO(0.3); !errors.Is(err, ErrNoRegion) {
		t.Errorf("no region: %v", err)
	}
	if _, err := s.AUROC(); !errors.Is(err, ErrOneClass) {
		t.Errorf("one class: %v", err)
	}
	s.Add([]float32{1, 2}, []bool{true, false}, 2)
	for _, lim := range []float64{0, -1, 1.5, math.NaN()} {
		if _, err := s.AUPRO(lim); err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("limit %v: %v", lim, err)
		}
	}
	s.Add([]float32{1, float32(math.NaN()), 3}, []bool{false, false, true}, 3)
	_, err := s.AUPRO(0.3)
	if !errors.Is(err, ErrNaN) || !strings.Contains(err.Error(), "image 2, pixel 1") {
		t.Errorf("NaN: %v", err)
	}
	var d PixelSet
	d.Add([]float32{1, 2}, []bool{true, true}, 1)
	if _, err := d.AUPRO(0.3); !errors.Is(err, ErrOneClass) {
		t.Errorf("no normal pixel: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Add with a bad width did not panic")
		}
	}()
	s.Add([]float32{1, 2, 3}, []bool{true, false, false}, 2)
}
