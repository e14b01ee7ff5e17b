//go:build experiment

// The model-selection and threshold experiment of issue 12, on the
// development data sets. It computes each data set's features once (cached
// in $CRD_EXPERIMENT_CACHE, default /tmp/crd-select-cache) and evaluates
// every candidate and threshold rule from them:
//
//	go test -tags experiment -run TestSelectionExperiment -timeout 2h -v ./detector
//
// CRD_EXPERIMENT_DATA lists the category folders (colon-separated; default
// ../../shared/data/ball_screw and ../../shared/data/screw from the
// repository root's parent).
package detector

import (
	"context"
	"encoding/gob"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/metrics"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/selection"
)

// experimentCache is what the experiment keeps of one data set: the
// validation grids and the test grids under each lambda factor. The Gram
// matrix is kept apart as a model file.
type experimentCache struct {
	Factors     []float64
	Val         ValidationGrids
	Test        [][][]float32 // [scorer][test image]
	W, H        []int         // test image sizes
	GramSec     float64       // features and Gram of the training images
	ValSec      float64       // features and scoring of the validation set
	Preprocess  preprocess.Params
	TrainImages int
}

func experimentData(t *testing.T) []string {
	if s := os.Getenv("CRD_EXPERIMENT_DATA"); s != "" {
		return strings.Split(s, ":")
	}
	return []string{"../../shared/data/ball_screw", "../../shared/data/screw"}
}

// strengthTag reads CRD_SYNTH_STRENGTH ("lo,hi", default
// DefaultSyntheticStrength) and names the validation cache after it.
func strengthTag(t *testing.T) ([2]float64, string) {
	st := DefaultSyntheticStrength()
	if s := os.Getenv("CRD_SYNTH_STRENGTH"); s != "" {
		if _, err := fmt.Sscanf(s, "%g,%g", &st[0], &st[1]); err != nil {
			t.Fatal(err)
		}
	}
	return st, fmt.Sprintf("s%g-%g-x%d", st[0], st[1], perImage(t))
}

// perImage reads CRD_SYNTH_PER, the synthetic defects per held-out image
// (default DefaultSyntheticPerImage).
func perImage(t *testing.T) int {
	if s := os.Getenv("CRD_SYNTH_PER"); s != "" {
		var n int
		if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n < 1 {
			t.Fatalf("CRD_SYNTH_PER=%q", s)
		}
		return n
	}
	return DefaultSyntheticPerImage
}

func readGob(path string, v any) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return gob.NewDecoder(f).Decode(v) == nil
}

func writeGob(path string, v any) {
	if f, err := os.Create(path); err == nil {
		gob.NewEncoder(f).Encode(v)
		f.Close()
	}
}

func loadOrCompute(t *testing.T, cat *dataset.Category) (*experimentCache, *Detector, [2]float64) {
	dir := os.Getenv("CRD_EXPERIMENT_CACHE")
	if dir == "" {
		dir = "/tmp/crd-select-cache"
	}
	os.MkdirAll(dir, 0o755)
	opts := DefaultTrainOptions()
	info, err := backbone.Lookup(opts.Backbone)
	if err != nil {
		t.Fatal(err)
	}
	train, held := SplitHoldout(cat.Train, opts.Holdout, opts.Seed)
	ext, err := NewExtractor(opts.Backbone, preprocess.Params{})
	if err != nil {
		t.Fatal(err)
	}
	d := &Detector{ext: ext, Backbone: info.Name, Layers: info.Layers, Preprocess: ext.Preprocess}
	ctx := context.Background()
	c := &experimentCache{Factors: DefaultLambdaFactors(), Preprocess: ext.Preprocess, TrainImages: len(train)}

	// Gram matrix, as a model file with G.
	gramPath := filepath.Join(dir, cat.Name+".gram.crd")
	var acc *crd.Accumulator
	if g, err := Load(gramPath); err == nil {
		acc = g.Method.(*crd.Model).Acc
	} else {
		t0 := time.Now()
		acc = crd.NewAccumulator(info.Dim())
		if err := ext.RunBatches(ctx, train, func(items []*Item, f *nn.Tensor) error {
			acc.AddBatch(f.Data, f.N, f.H*f.W)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		m, err := acc.Solve(opts.Solve)
		if err != nil {
			t.Fatal(err)
		}
		g := &Detector{Method: m, Backbone: d.Backbone, Layers: d.Layers, Preprocess: d.Preprocess, Calibration: Calibration{ImageMethod: Uncalibrated}}
		if err := g.Save(gramPath, true); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: Gram matrix in %s", cat.Name, time.Since(t0).Round(time.Second))
	}
	var scorers []Method
	for _, f := range c.Factors {
		so := opts.Solve
		so.Lambda *= f
		m, err := acc.Solve(so)
		if err != nil {
			t.Fatal(err)
		}
		scorers = append(scorers, m)
	}

	// Validation grids, per synthetic strength.
	strength, tag := strengthTag(t)
	valPath := filepath.Join(dir, cat.Name+".val-"+tag+".gob")
	if !readGob(valPath, &c.Val) {
		t1 := time.Now()
		imgs := loadImages(t, held)
		v, err := d.ScoreValidation(ctx, imgs, scorers, opts.Seed, strength, perImage(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Val = *v
		writeGob(valPath, v)
		t.Logf("%s: validation set in %s", cat.Name, time.Since(t1).Round(time.Second))
	}

	// Test grids.
	type testGrids struct {
		Test [][][]float32
		W, H []int
	}
	var tg testGrids
	testPath := filepath.Join(dir, cat.Name+".test.gob")
	if !readGob(testPath, &tg) {
		paths := make([]string, len(cat.Test))
		for i, s := range cat.Test {
			paths[i] = s.Path
		}
		tg.Test = make([][][]float32, len(scorers))
		for s := range scorers {
			tg.Test[s] = make([][]float32, len(paths))
		}
		tg.W, tg.H = make([]int, len(paths)), make([]int, len(paths))
		if err := ext.Run(ctx, paths, func(it *Item) error {
			f := it.Features
			for s, sc := range scorers {
				g := make([]float32, f.H*f.W)
				sc.Score(f.Data, f.H*f.W, g)
				tg.Test[s][it.Index] = g
			}
			tg.W[it.Index], tg.H[it.Index] = it.Image.W, it.Image.H
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		writeGob(testPath, tg)
	}
	c.Test, c.W, c.H = tg.Test, tg.W, tg.H
	return c, d, strength
}

// evalTest calibrates d with candidate cand (and image score
// normalisation img) and rule on the cached validation grids and evaluates
// it on the cached test grids.
func evalTest(t *testing.T, d *Detector, cat *dataset.Category, c *experimentCache, cand Candidate, img NormMode, rule ThresholdRule) *Evaluation {
	d.CalibrateModes(c.Val.Normal[cand.Scorer], c.Val.GH, c.Val.GW, rule, cand.Norm, img)
	e := d.NewEvaluator(cat)
	for i, g := range c.Test[cand.Scorer] {
		r := d.FromGrid(slices.Clone(g), c.Val.GH, c.Val.GW)
		r.Index = i
		if _, err := e.Add(r, c.W[i], c.H[i]); err != nil {
			t.Fatal(err)
		}
	}
	return e.Finish()
}

// atThreshold calibrates d with candidate cand, image score normalisation
// img and rule and returns the test images' confusion at the stored image
// threshold.
func atThreshold(t *testing.T, d *Detector, cat *dataset.Category, c *experimentCache, cand Candidate, img NormMode, rule ThresholdRule) metrics.ConfusionMatrix {
	d.CalibrateModes(c.Val.Normal[cand.Scorer], c.Val.GH, c.Val.GW, rule, cand.Norm, img)
	var scores []float64
	var labels []bool
	for i, g := range c.Test[cand.Scorer] {
		scores = append(scores, imageScore(g, c.Val.GH, c.Val.GW, d.Calibration))
		labels = append(labels, cat.Test[i].Anomalous())
	}
	cm, err := metrics.Confusion(scores, labels, d.Calibration.ImageThreshold)
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func TestSelectionExperiment(t *testing.T) {
	rules := []string{"max", "fpr:0.01", "fpr:0.02", "fpr:0.05", "fpr:0.01:gumbel", "fpr:0.02:gumbel", "fpr:0.05:gumbel"}
	for _, dir := range experimentData(t) {
		cat, err := dataset.OpenCategory(dir)
		if err != nil {
			t.Fatal(err)
		}
		c, d, strength := loadOrCompute(t, cat)
		var b strings.Builder
		fmt.Fprintf(&b, "\n### %s (%d train, %d held-out normal + %d synthetic, %d test)\n\n", cat.Name, c.TrainImages, len(c.Val.Normal[0]), len(c.Val.Defect[0]), len(cat.Test))
		fmt.Fprintf(&b, "| candidate | synth image AUROC | synth AUPRO | image z | map z | test image AUROC | test pixel AUROC | test AUPRO |\n|---|---|---|---|---|---|---|---|\n")
		cands := Candidates(NormModes(), c.Factors, len(c.Factors))
		t0 := time.Now()
		ch, err := d.Choose(&c.Val, cands)
		if err != nil {
			t.Fatal(err)
		}
		chooseSec := time.Since(t0).Seconds()
		tests := make([]*Evaluation, len(cands))
		for i, cand := range cands {
			f := ch.Figures[i]
			tests[i] = evalTest(t, d, cat, c, cand, cand.Norm, ThresholdRule{Quantile: 1})
			o := tests[i].Overall
			mark := ""
			switch {
			case i == ch.Map && i == ch.Image:
				mark = " (picked)"
			case i == ch.Map:
				mark = " (picked for the map)"
			case i == ch.Image:
				mark = " (picked for the image score)"
			}
			mi, si, _ := selection.Paired(ch.ImageValues[i], ch.ImageValues[0])
			mp, sp, _ := selection.Paired(ch.MapValues[i], ch.MapValues[0])
			fmt.Fprintf(&b, "| %s%s | %.1f | %.1f | %+.1f | %+.1f | %.1f | %.1f | %.1f |\n", cand, mark, 100*f.ImageAUROC, 100*f.AUPRO, mi/si, mp/sp, 100*o.ImageAUROC, 100*o.PixelAUROC, 100*o.AUPRO)
		}
		pick, pickImg := cands[ch.Map], cands[ch.Image]
		o, oi := tests[ch.Map].Overall, tests[ch.Image].Overall
		fmt.Fprintf(&b, "\npick: %s, image score norm=%s (synthetic strength %v; choice %.1f s): test image AUROC %.1f, pixel AUROC %.1f, AUPRO %.1f\n",
			pick, pickImg.Norm, strength, chooseSec, 100*oi.ImageAUROC, 100*o.PixelAUROC, 100*o.AUPRO)
		// The floors of issue 12: against the best candidate in hindsight
		// and the better of norm on and off at lambda 1x.
		var best, onOff [3]float64
		for i := range best {
			best[i], onOff[i] = -1, -1
		}
		for i, cand := range cands {
			m := tests[i].Overall
			v := [3]float64{m.ImageAUROC, m.PixelAUROC, m.AUPRO}
			for k := range v {
				best[k] = max(best[k], v[k])
				if cand.LambdaFactor == 1 && cand.Norm != NormShrunk {
					onOff[k] = max(onOff[k], v[k])
				}
			}
		}
		got := [3]float64{oi.ImageAUROC, o.PixelAUROC, o.AUPRO}
		fmt.Fprintf(&b, "pick minus best in hindsight: %+.2f / %+.2f / %+.2f; pick minus better of on/off at 1x: %+.2f / %+.2f / %+.2f\n\n",
			100*(got[0]-best[0]), 100*(got[1]-best[1]), 100*(got[2]-best[2]), 100*(got[0]-onOff[0]), 100*(got[1]-onOff[1]), 100*(got[2]-onOff[2]))
		fmt.Fprintf(&b, "| candidate | rule | threshold | expected FRR (90%% interval) | test FRR | accuracy | precision | recall | synthetic catch |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, pc := range [][2]Candidate{{cands[0], cands[0]}, {pick, pickImg}} {
			cand, img := pc[0], pc[1].Norm
			for _, rs := range rules {
				rule, err := ParseThresholdRule(rs)
				if err != nil {
					t.Fatal(err)
				}
				cm := atThreshold(t, d, cat, c, cand, img, rule)
				cal := d.Calibration
				val, _, _ := d.Validate(&c.Val, Candidate{Norm: img, LambdaFactor: cand.LambdaFactor, Scorer: cand.Scorer})
				fr := "-"
				if cal.FalseReject != nil {
					fr = fmt.Sprintf("%.1f%% (%.1f-%.1f%%)", 100*cal.FalseReject.Expected, 100*cal.FalseReject.Low, 100*cal.FalseReject.High)
				}
				fmt.Fprintf(&b, "| %s, image %s | %s | %.4g | %s | %.1f%% (%d/%d) | %.1f%% | %.1f%% | %.1f%% | %.0f%% |\n", cand, img, cal.ImageMethod, cal.ImageThreshold, fr,
					100*cm.FPR(), cm.FP, cm.FP+cm.TN, 100*cm.Accuracy(), 100*cm.Precision(), 100*cm.Recall(), 100*val.CatchRate(cal.ImageThreshold))
			}
		}
		t.Log(b.String())
		os.WriteFile(filepath.Join(os.TempDir(), "crd-select-"+cat.Name+".md"), []byte(b.String()), 0o644)
	}
}

// TestSelectionFigures prints other validation figures of every candidate
// from the cached grids.
func TestSelectionFigures(t *testing.T) {
	for _, dir := range experimentData(t) {
		cat, err := dataset.OpenCategory(dir)
		if err != nil {
			t.Fatal(err)
		}
		c, d, _ := loadOrCompute(t, cat)
		var b strings.Builder
		fmt.Fprintf(&b, "\n%s\n| candidate | img AUROC | pix AUROC | AUPRO@0.3 | AUPRO@0.05 | normal-pixel p99 / defect-pixel median |\n", cat.Name)
		for _, m := range NormModes() {
			for k, f := range c.Factors {
				cand := Candidate{Norm: m, LambdaFactor: f, Scorer: k}
				loo, _ := divisors(c.Val.Normal[k], c.Val.GH*c.Val.GW, m)
				var px metrics.PixelSet
				var sc []float64
				var lb []bool
				per := c.Val.per()
				for i, g := range c.Val.Normal[k] {
					r := d.fromGrid(divided(g, loo[i]), c.Val.GH, c.Val.GW, nil)
					px.Add(r.Map.Pix, make([]bool, len(r.Map.Pix)), r.Map.W)
					sc, lb = append(sc, r.Score), append(lb, false)
					for q := i * per; q < (i+1)*per; q++ {
						r = d.fromGrid(divided(c.Val.Defect[k][q], loo[i]), c.Val.GH, c.Val.GW, nil)
						px.Add(r.Map.Pix, c.Val.Masks[q], r.Map.W)
						sc, lb = append(sc, r.Score), append(lb, true)
					}
				}
				ia, _ := metrics.AUROC(sc, lb)
				pa, _ := px.AUROC()
				p3, _ := px.AUPRO(0.3)
				p05, _ := px.AUPRO(0.05)
				fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.1f | %.1f |\n", cand, 100*ia, 100*pa, 100*p3, 100*p05)
			}
		}
		t.Log(b.String())
	}
}
