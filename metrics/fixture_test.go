package metrics

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// fixture is testdata/fixture.json, made by testdata/make_fixture.py with
// scikit-learn and scipy.
type fixture struct {
	Generator string `json:"generator"`
	Sets      []struct {
		Name          string    `json:"name"`
		Float32       bool      `json:"float32"`
		Scores        []float64 `json:"scores"`
		Labels        []int     `json:"labels"`
		AUROC         *float64  `json:"auroc"`
		F1Max         float64   `json:"f1max"`
		F1Threshold   float64   `json:"f1_threshold"`
		ROCFPR        []float64 `json:"roc_fpr"`
		ROCTPR        []float64 `json:"roc_tpr"`
		ROCThresholds []float64 `json:"roc_thresholds"`
		PRPrecision   []float64 `json:"pr_precision"`
		PRRecall      []float64 `json:"pr_recall"`
		PRThresholds  []float64 `json:"pr_thresholds"`
	} `json:"sets"`
	AUPRO []struct {
		Name   string `json:"name"`
		Images []struct {
			H    int       `json:"h"`
			W    int       `json:"w"`
			Map  []float32 `json:"map"`
			Mask []int     `json:"mask"`
		} `json:"images"`
		Regions  int       `json:"regions"`
		Limits   []float64 `json:"limits"`
		AUPRO    []float64 `json:"aupro"`
		CurveFPR []float64 `json:"curve_fpr"`
		CurvePRO []float64 `json:"curve_pro"`
	} `json:"aupro"`
}

func loadFixture(t *testing.T) *fixture {
	t.Helper()
	b, err := os.ReadFile("testdata/fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func bools(a []int) []bool {
	out := make([]bool, len(a))
	for i, v := range a {
		out[i] = v != 0
	}
	return out
}

func closeSlices(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if !near(got[i], want[i], tol) {
			t.Errorf("%s[%d] = %v, want %v", what, i, got[i], want[i])
			return
		}
	}
}

func TestScikitLearnFixture(t *testing.T) {
	f := loadFixture(t)
	if len(f.Sets) < 5 {
		t.Fatalf("fixture has %d sets", len(f.Sets))
	}
	for _, c := range f.Sets {
		labels := bools(c.Labels)
		if c.AUROC != nil {
			got, err := AUROC(c.Scores, labels)
			if err != nil || !near(got, *c.AUROC, 1e-9) {
				t.Errorf("%s: AUROC = %v, %v; scikit-learn %v", c.Name, got, err, *c.AUROC)
			}
			fpr, tpr, thr, err := ROC(c.Scores, labels)
			if err != nil {
				t.Fatal(err)
			}
			closeSlices(t, c.Name+" ROC fpr", fpr, c.ROCFPR, 1e-12)
			closeSlices(t, c.Name+" ROC tpr", tpr, c.ROCTPR, 1e-12)
			closeSlices(t, c.Name+" ROC thresholds", thr[1:], c.ROCThresholds, 0)
		}
		f1, thr, err := F1Max(c.Scores, labels)
		if err != nil || !near(f1, c.F1Max, 1e-9) || thr != c.F1Threshold {
			t.Errorf("%s: F1Max = %v at %v, %v; scikit-learn %v at %v", c.Name, f1, thr, err, c.F1Max, c.F1Threshold)
		}
		p, r, pthr, err := PRCurve(c.Scores, labels)
		if err != nil {
			t.Fatal(err)
		}
		closeSlices(t, c.Name+" precision", p, c.PRPrecision, 1e-12)
		closeSlices(t, c.Name+" recall", r, c.PRRecall, 1e-12)
		closeSlices(t, c.Name+" PR thresholds", pthr, c.PRThresholds, 0)

		if c.Float32 {
			// The float32 path: AUROC32 and a PixelSet split into rows.
			sc := float32s(c.Scores)
			got, err := AUROC32(sc, labels)
			if err != nil || !near(got, *c.AUROC, 1e-9) {
				t.Errorf("%s: AUROC32 = %v, %v; scikit-learn %v", c.Name, got, err, *c.AUROC)
			}
			var s PixelSet
			const w = 50
			for i := 0; i < len(sc); i += w {
				s.Add(sc[i:i+w], labels[i:i+w], w)
			}
			got, _ = s.AUROC()
			f1, thr, _ := s.F1Max()
			if !near(got, *c.AUROC, 1e-9) || !near(f1, c.F1Max, 1e-9) || float64(thr) != c.F1Threshold {
				t.Errorf("%s: PixelSet AUROC %v F1 %v at %v; scikit-learn %v, %v at %v",
					c.Name, got, f1, thr, *c.AUROC, c.F1Max, c.F1Threshold)
			}
		}
	}
}

func TestAUPROFixture(t *testing.T) {
	f := loadFixture(t)
	if len(f.AUPRO) == 0 {
		t.Fatal("fixture has no AUPRO cases")
	}
	for _, c := range f.AUPRO {
		var s PixelSet
		maps := make([][]float32, len(c.Images))
		masks := make([][]bool, len(c.Images))
		widths := make([]int, len(c.Images))
		for i, im := range c.Images {
			maps[i], masks[i], widths[i] = im.Map, bools(im.Mask), im.W
			s.Add(im.Map, masks[i], im.W)
		}
		if s.Regions() != c.Regions {
			t.Errorf("%s: %d regions, scipy.ndimage.label found %d", c.Name, s.Regions(), c.Regions)
		}
		for k, lim := range c.Limits {
			got, err := s.AUPRO(lim)
			if err != nil || math.Abs(got-c.AUPRO[k]) > 1e-6 {
				t.Errorf("%s: AUPRO(%g) = %v, %v; reference %v", c.Name, lim, got, err, c.AUPRO[k])
			}
			got2, err := AUPRO(maps, masks, widths, lim)
			if err != nil || got2 != got {
				t.Errorf("%s: AUPRO function = %v, %v; PixelSet %v", c.Name, got2, err, got)
			}
		}
		curve, err := s.PROCurve(1, 0)
		if err != nil {
			t.Fatal(err)
		}
		closeSlices(t, c.Name+" PRO curve fpr", curve.X, c.CurveFPR, 1e-12)
		closeSlices(t, c.Name+" PRO curve pro", curve.Y, c.CurvePRO, 1e-12)
	}
}
