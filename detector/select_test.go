package detector

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/dataset"
)

func TestTrainSelectsOnSyntheticDefects(t *testing.T) {
	cat := setup(t)
	o := tinyOptions()
	// 10 of the 12 images held out: enough to choose on (MinSelectImages).
	o.Holdout = 0.85
	o.Threshold = ThresholdRule{Quantile: 1, Rate: 0.05}
	d, err := Train(context.Background(), cat.Train, o)
	if err != nil {
		t.Fatal(err)
	}
	sel := d.Selection
	if sel == nil || len(sel.Candidates) != len(NormModes())*len(DefaultLambdaFactors()) || sel.SyntheticImages != 10*DefaultSyntheticPerImage || len(sel.Fixed) != 0 {
		t.Fatalf("selection %+v", sel)
	}
	picked := -1
	for i, c := range sel.Candidates {
		if strings.HasPrefix(sel.Picked, c.Name) {
			picked = i
		}
		if math.Abs(c.Figure-(c.ImageAUROC+c.AUPRO)/2) > 1e-12 {
			t.Errorf("%s: figure %g is not the mean of %g and %g", c.Name, c.Figure, c.ImageAUROC, c.AUPRO)
		}
	}
	if picked < 0 || sel.Candidates[0].Name != "norm=on lambda=1x" {
		t.Fatalf("picked %q, candidates %+v", sel.Picked, sel.Candidates)
	}
	// The image score's normalisation is stored apart only where it differs.
	if c := d.Calibration; (sel.ImageNorm != sel.Norm) != (c.ImageNorm != "") || (c.ImageNorm != "" && string(c.ImageNorm) != sel.ImageNorm) {
		t.Errorf("selection norms %s / %s, calibration image norm %q", sel.Norm, sel.ImageNorm, c.ImageNorm)
	}
	// The model is the picked one: its lambda is the factor times the one given.
	if want, got := o.Solve.Lambda*sel.LambdaFactor, d.Method.(*crd.Model).Options.Lambda; math.Abs(got-want) > 1e-15 {
		t.Errorf("model lambda %g, want %g x %g", got, o.Solve.Lambda, sel.LambdaFactor)
	}
	if (sel.Norm == string(NormOff)) != (d.Calibration.PositionMean == nil) {
		t.Errorf("norm %s but position means %v", sel.Norm, d.Calibration.PositionMean != nil)
	}
	fr := d.Calibration.FalseReject
	if fr == nil || math.Abs(fr.Expected-0.05) > 1e-9 || !(sel.CatchRate >= 0 && sel.CatchRate <= 1) {
		t.Errorf("false reject %+v, catch rate %g", fr, sel.CatchRate)
	}

	// Flags fix the normalisation and lambda: one candidate.
	o.Norm, o.LambdaFactors = NormShrunk, []float64{1}
	f, err := Train(context.Background(), cat.Train, o)
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Selection; len(s.Candidates) != 1 || s.Picked != "norm=shrunk lambda=1x" || !slices.Equal(s.Fixed, []string{"norm", "lambda"}) {
		t.Errorf("fixed selection %+v", s)
	}

	// Too few held-out images to choose on: the default candidate only.
	o = tinyOptions()
	o.Holdout = 0.25
	f, err = Train(context.Background(), cat.Train, o)
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Selection; len(s.Candidates) != 1 || s.Picked != "norm=on lambda=1x" || s.SyntheticImages != 3*DefaultSyntheticPerImage {
		t.Errorf("selection on 3 held-out images %+v", s)
	}
}

// TestCalibrateModes: with one normalisation for the map and another for
// the image score, the image threshold is fitted on the image scores of the
// held-out grids normalised leave-one-out by the image mode, the map
// follows the pixel mode, and a result's score is the grid's maximum under
// the image mode.
func TestCalibrateModes(t *testing.T) {
	const gh, gw = 3, 4
	r := rand.New(rand.NewPCG(5, 6))
	grids := make([][]float32, 8)
	for i := range grids {
		grids[i] = make([]float32, gh*gw)
		for j := range grids[i] {
			// Position j has a normal level of 1 + j.
			grids[i][j] = float32((1 + float64(j)) * (0.5 + r.Float64()))
		}
	}
	d := &Detector{Preprocess: tinyInfo.Preprocess}
	rule := ThresholdRule{Quantile: 1}
	d.CalibrateModes(grids, gh, gw, rule, NormOff, NormOn)
	c := d.Calibration
	if c.PositionMean != nil || c.ImageNorm != NormOn || len(c.ImagePositionMean) != gh*gw {
		t.Fatalf("calibration %+v", c)
	}
	// Independently: each held-out grid divided by the mean of the others.
	want := looMax(grids)
	if math.Abs(c.ImageThreshold-want) > 1e-5*want {
		t.Errorf("image threshold %g, want %g", c.ImageThreshold, want)
	}
	g := slices.Clone(grids[0])
	res := d.FromGrid(slices.Clone(g), gh, gw)
	wantScore := math.Inf(-1)
	for j, v := range g {
		wantScore = math.Max(wantScore, float64(v/c.ImagePositionMean[j]))
	}
	if res.Score != wantScore || !slices.Equal(res.Grid.Pix, g) {
		t.Errorf("score %g, want %g; map grid changed: %v", res.Score, wantScore, !slices.Equal(res.Grid.Pix, g))
	}
	// The same mode for both stores no image normalisation of its own.
	d.CalibrateModes(grids, gh, gw, rule, NormOn, NormOn)
	if d.Calibration.ImageNorm != "" || d.Calibration.ImagePositionMean != nil {
		t.Errorf("one mode for both: image norm %q", d.Calibration.ImageNorm)
	}
	// It survives the model file.
	d.CalibrateModes(grids, gh, gw, rule, NormShrunk, NormOff)
	if d.Calibration.ImageNorm != NormOff || d.Calibration.PositionMean == nil {
		t.Fatalf("calibration %+v", d.Calibration)
	}
	if err := checkPositionMean(d.Calibration); err != nil {
		t.Error(err)
	}
	bad := d.Calibration
	bad.ImageNorm = "sideways"
	if checkPositionMean(bad) == nil {
		t.Error("unknown image norm accepted")
	}
	bad.ImageNorm, bad.ImagePositionMean = NormOn, nil
	if checkPositionMean(bad) == nil {
		t.Error("image norm on without means accepted")
	}
}

func TestShrunkDivisors(t *testing.T) {
	got := Shrink([]float32{1, 3, 8})
	// Overall mean 4: (1+4)/2, (3+4)/2, (8+4)/2.
	if want := []float32{2.5, 3.5, 6}; !slices.Equal(got, want) {
		t.Errorf("Shrink = %v, want %v", got, want)
	}
	grids := [][]float32{{1, 2}, {3, 6}, {5, 10}}
	loo, all := divisors(grids, 2, NormShrunk)
	// All: means (3, 6), overall 4.5, shrunk (3.75, 5.25). Image 0 left
	// out: means (4, 8), overall 6, shrunk (5, 7).
	if !slices.Equal(all, []float32{3.75, 5.25}) || !slices.Equal(loo[0], []float32{5, 7}) {
		t.Errorf("divisors all %v, leave-one-out %v", all, loo[0])
	}
	if loo, all := divisors(grids, 2, NormOff); all != nil || loo[1] != nil {
		t.Error("NormOff has divisors")
	}
}

func TestSyntheticSet(t *testing.T) {
	cat := setup(t)
	var imgs []*dataset.RGB
	for _, p := range cat.Train[:5] {
		img, err := dataset.LoadImage(p)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	info := tinyInfo.Preprocess
	a, ma, err := SyntheticSet(imgs, info, 1, DefaultSyntheticStrength(), 2)
	if err != nil {
		t.Fatal(err)
	}
	// Painted on one core, in order: the same images (each defect has its
	// own generator).
	procs := runtime.GOMAXPROCS(1)
	b, mb, _ := SyntheticSet(imgs, info, 1, DefaultSyntheticStrength(), 2)
	runtime.GOMAXPROCS(procs)
	if len(a) != 2*len(imgs) {
		t.Fatalf("%d synthetic images of %d, 2 each", len(a), len(imgs))
	}
	for i := range a {
		if !slices.Equal(a[i].Pix, b[i].Pix) || !slices.Equal(ma[i], mb[i]) {
			t.Fatalf("image %d differs between two runs with the same seed (all cores, one core)", i)
		}
		if len(ma[i]) != info.Crop*info.Crop || !slices.Contains(ma[i], true) {
			t.Errorf("image %d: mask of %d values, none set", i, len(ma[i]))
		}
		src := imgs[i/2]
		if slices.Equal(a[i].Pix, src.Pix) {
			t.Errorf("image %d was not painted", i)
		}
		if i%2 == 1 && slices.Equal(a[i].Pix, a[i-1].Pix) {
			t.Errorf("copies %d and %d of image %d are alike", i-1, i, i/2)
		}
	}
}

// TestScoreValidationMatchesPrediction: the validation grids of the normal
// images are the raw grids prediction gives, and the painted copies' grids
// differ from them.
func TestScoreValidationMatchesPrediction(t *testing.T) {
	cat, d := trainTiny(t)
	paths := cat.Train[:4]
	imgs := loadImages(t, paths)
	v, err := d.ScoreValidation(context.Background(), imgs, []Method{d.Method}, 1, [2]float64{1, 1}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := rawGrids(t, d, paths)
	for i := range want {
		if !slices.Equal(v.Normal[0][i], want[i]) {
			t.Fatalf("image %d: validation grid differs from the predicted raw grid", i)
		}
		if slices.Equal(v.Defect[0][i], want[i]) {
			t.Errorf("image %d: the painted copy scores like the original", i)
		}
	}
}

// TestRecalibrateKeepsBothNormalisations: calibrating a trained model
// again (crd calibrate, crd merge) keeps the map's and the image score's
// normalisations its selection picked, unless the options fix one.
func TestRecalibrateKeepsBothNormalisations(t *testing.T) {
	cat, d := trainTiny(t)
	d.Selection = &Selection{Norm: string(NormOff), ImageNorm: string(NormShrunk)}
	if err := d.Calibrate(context.Background(), cat.Train[:4], DefaultTrainOptions()); err != nil {
		t.Fatal(err)
	}
	c := d.Calibration
	if c.PositionMean != nil || c.ImageNorm != NormShrunk || c.ImagePositionMean == nil {
		t.Errorf("recalibrated: map means %v, image norm %q", c.PositionMean != nil, c.ImageNorm)
	}
	fixed := DefaultTrainOptions()
	fixed.Norm = NormOn
	if err := d.Calibrate(context.Background(), cat.Train[:4], fixed); err != nil {
		t.Fatal(err)
	}
	if c := d.Calibration; c.PositionMean == nil || c.ImageNorm != "" {
		t.Errorf("--norm on: map means %v, image norm %q", c.PositionMean != nil, c.ImageNorm)
	}
}

// trainTiny trains the tiny test model with a quarter of the images held
// out (too few to choose settings on: the default candidate is kept).
func trainTiny(t *testing.T) (*dataset.Category, *Detector) {
	t.Helper()
	cat := setup(t)
	o := tinyOptions()
	o.Holdout = 0.25
	d, err := Train(context.Background(), cat.Train, o)
	if err != nil {
		t.Fatal(err)
	}
	return cat, d
}
