package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/crd-ad/crd/crd"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/report"
)

// openCategory resolves --data for eval: one MVTec category.
func openCategory(dir string) (*dataset.Category, error) {
	if dir == "" {
		return nil, usagef("--data is required")
	}
	cats, err := dataset.FindCategories(dir)
	if err != nil {
		return nil, err
	}
	if len(cats) > 1 {
		return nil, fmt.Errorf("%s holds %d categories (%s): evaluate each with its own model, e.g. --data %s",
			dir, len(cats), strings.Join(cats, ", "), cats[0])
	}
	cat, err := dataset.OpenCategory(cats[0])
	if err != nil {
		return nil, err
	}
	warnSkipped(cat.Skipped)
	return cat, nil
}

func runEval(ctx context.Context, args []string) error {
	fs := newFlags("eval", "-m MODEL --data DIR [--json] [--report DIR]", `  crd eval -m screw.crd --data mvtec/screw
  crd eval -m screw.crd --data mvtec/screw --json --report report/
`)
	var model, data, reportDir string
	var asJSON, skipBad, quiet bool
	var gallery int
	var maxPixels int64
	fs.StringVar(&model, "m", "", "model file")
	fs.Int64Var(&maxPixels, "max-pixels", 0, maxPixelsHelp)
	fs.StringVar(&data, "data", "", "an MVTec AD layout category: test/<type>/ and ground_truth/<type>/")
	fs.StringVar(&reportDir, "report", "", "write an HTML report (metrics, ROC and PRO curves, worst cases) into this folder")
	fs.IntVar(&gallery, "gallery", 60, "images in the report's gallery, worst first")
	fs.BoolVar(&asJSON, "json", false, "print the metrics as one JSON object")
	fs.BoolVar(&skipBad, "skip-bad", false, "warn about unreadable images and go on")
	fs.BoolVar(&quiet, "quiet", false, "no progress bar")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if model == "" || len(pos) > 0 {
		return usagef("need -m MODEL and --data DIR")
	}
	cat, err := openCategory(data)
	if err != nil {
		return err
	}
	d, err := loadModel(model, maxPixels)
	if err != nil {
		return err
	}
	p := newProgress(quiet)
	defer p.done()
	ev, err := evaluate(ctx, d, cat, reportDir, gallery, skipBad, p, nil)
	if err != nil {
		return err
	}
	p.done()
	if asJSON {
		return writeEvalJSON(os.Stdout, d, ev)
	}
	printEval(os.Stdout, d, ev)
	if reportDir != "" && !quiet {
		fmt.Fprintf(os.Stderr, "report: %s/index.html\n", reportDir)
	}
	return nil
}

// evaluate runs the evaluation, writing the HTML report when dir is set.
func evaluate(ctx context.Context, d *detector.Detector, cat *dataset.Category, dir string, gallery int, skipBad bool, p *progress, timings map[string]float64) (*detector.Evaluation, error) {
	opts := detector.EvalOptions{SkipBad: skipBad, Progress: p.update,
		Warn: warner(p)}
	var rep *report.EvalReport
	if dir != "" {
		rep = report.NewEvalReport(dir, d, cat, report.GalleryOptions{Max: gallery})
		opts.OnImage = rep.Add
	}
	ev, err := d.Evaluate(ctx, cat, opts)
	if err != nil {
		return nil, err
	}
	if rep != nil {
		if err := rep.Write(ev, stageTimings(timings)...); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

func writeEvalJSON(w io.Writer, d *detector.Detector, ev *detector.Evaluation) error {
	// The overall metrics are the top-level keys; per-defect rows and the
	// per-image scores follow.
	b, err := json.Marshal(ev.Overall)
	if err != nil {
		return err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	out["per_defect"] = ev.PerDefect
	out["images"] = ev.Images
	out["seconds"] = ev.Seconds
	lambda, mode := 0.0, ""
	if m, ok := d.Method.(*crd.Model); ok {
		lambda, mode = m.Options.Lambda, string(m.Options.Mode)
	}
	out["model"] = map[string]any{"method": d.Method.Name(), "backbone": d.Backbone, "d": d.Method.Dim(),
		"lambda": lambda, "lambda_mode": mode, "image_threshold": d.Calibration.ImageThreshold,
		"false_reject": d.Calibration.FalseReject, "selection": d.Selection}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.1f", 100*v)
}

func printEval(w io.Writer, d *detector.Detector, ev *detector.Evaluation) {
	fmt.Fprintf(w, "%-14s %7s %7s %7s %7s %7s %7s %7s %6s\n", "defect type", "img-AUC", "pix-AUC", "AUPRO", "F1-max", "acc", "prec", "recall", "images")
	row := func(name string, m detector.Metrics) {
		fmt.Fprintf(w, "%-14s %7s %7s %7s %7s %7s %7s %7s %6d\n", name, pct(m.ImageAUROC), pct(m.PixelAUROC), pct(m.AUPRO),
			pct(m.F1Max), pct(m.Accuracy), pct(m.Precision), pct(m.Recall), m.NImages)
	}
	names := make([]string, 0, len(ev.PerDefect))
	for k := range ev.PerDefect {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		row(k, ev.PerDefect[k])
	}
	row("all", ev.Overall)
	for _, m := range ev.Overall.Missing {
		fmt.Fprintf(w, "note: %s\n", m)
	}
	fmt.Fprintf(w, "%s model, backbone %s, %d test images in %.1fs\n", d.Method.Name(), d.Backbone, ev.Overall.NImages, ev.Seconds)
	fmt.Fprintf(w, "thresholds: %s\n", d.CalibrationSummary())
	if s := d.Selection; s != nil {
		how := fmt.Sprintf("picked on %d synthetic defects", s.SyntheticImages)
		if len(s.Fixed) > 0 {
			how = fmt.Sprintf("%s not chosen (fixed by flags, or too few held-out images)", strings.Join(s.Fixed, " and "))
		}
		fmt.Fprintf(w, "settings: %s, %s\n", s.Picked, how)
	}
}
