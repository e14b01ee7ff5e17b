package main

import (
	"fmt"
	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/knn"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/report"
)

// mapRange is the anomaly-map range shown by the colour map: the pixel
// threshold sits in the middle, so red means "above threshold". Without a
// calibration the map's own range is used.
func mapRange(d *detector.Detector, m []float32) (lo, hi float64) {
	if d.Calibrated() && d.Calibration.PixelThreshold > 0 {
		return 0, 2 * d.Calibration.PixelThreshold
	}
	return float64(slices.Min(m)), float64(slices.Max(m))
}

// writeVisuals writes predict's heatmap overlay on the original image and
// the binary defect mask (map above the pixel threshold).
func writeVisuals(d *detector.Detector, r *detector.Result, heatPath, maskPath string) error {
	m := d.PixelMapOriginal(r)
	lo, hi := mapRange(d, m)
	if err := report.WritePNG(heatPath, report.Overlay(r.Image, m, lo, hi, 0.45)); err != nil {
		return err
	}
	mask := make([]bool, len(m))
	if d.Calibrated() {
		thr := float32(d.Calibration.PixelThreshold)
		for i, v := range m {
			mask[i] = v > thr
		}
	}
	return report.MaskPNG(maskPath, mask, r.Image.W, r.Image.H)
}

// cropView is the image as the network saw it: resized and cropped, with
// values in [0, 1].
func cropView(img *dataset.RGB, p preprocess.Params) *dataset.RGB {
	c := p.Crop
	out := dataset.NewRGB(c, c)
	raw := p
	raw.Mean, raw.Std = [3]float64{}, [3]float64{1, 1, 1}
	preprocess.Image(img.Pix, img.W, img.H, raw, out.Pix)
	return out
}

// htmlReport streams evaluation results into a gallery and writes the HTML
// report at the end.
type htmlReport struct {
	dir     string
	d       *detector.Detector
	cat     *dataset.Category
	gallery *report.Gallery
}

func newHTMLReport(dir string, d *detector.Detector, cat *dataset.Category, max int) (*htmlReport, error) {
	opts := report.GalleryOptions{Max: max}
	if d.Calibrated() {
		opts.MapLo, opts.MapHi = 0, 2*d.Calibration.PixelThreshold
	}
	return &htmlReport{dir: dir, d: d, cat: cat, gallery: report.NewGallery(dir, opts)}, nil
}

func (h *htmlReport) add(r *detector.Result, s dataset.Sample, mask []bool) error {
	rel, err := filepath.Rel(h.cat.Dir, s.Path)
	if err != nil {
		rel = filepath.Base(s.Path)
	}
	thr := h.d.Calibration.ImageThreshold
	return h.gallery.Add(report.Item{Name: filepath.ToSlash(rel), Defect: s.Defect, Score: r.Score, NormScore: r.Normalized,
		Threshold: thr, Predicted: r.Defect, Image: cropView(r.Image, h.d.Preprocess), Map: r.Map, Mask: mask})
}

func toReportMetrics(name string, m detector.Metrics) report.Metrics {
	return report.Metrics{Name: name, NImages: m.NImages, NDefective: m.NDefect, ImageAUROC: m.ImageAUROC, PixelAUROC: m.PixelAUROC,
		AUPRO: m.AUPRO, ImageF1Max: m.F1Max, PixelF1Max: m.PixelF1Max, Accuracy: m.Accuracy, Precision: m.Precision, Recall: m.Recall}
}

func (h *htmlReport) finish(ev *detector.Evaluation, timings map[string]float64) error {
	if err := h.gallery.Err(); err != nil {
		return err
	}
	hd := h.d
	lambda := math.NaN()
	extra := []report.KV{{Key: "input", Value: fmt.Sprintf("resize %d, crop %d", hd.Preprocess.Resize, hd.Preprocess.Crop)}}
	switch m := hd.Method.(type) {
	case *crd.Model:
		lambda = m.Options.Lambda
		extra = append(extra, report.KV{Key: "lambda scaling", Value: fmt.Sprintf("%s (absolute %.4g), score %s", m.Options.Mode, m.Lambda, m.Options.Score)})
	case *knn.Model:
		extra = append(extra, report.KV{Key: "coreset ratio", Value: fmt.Sprint(m.Ratio())})
	}
	extra = append(extra, report.KV{Key: "threshold rule", Value: fmt.Sprintf("%s on %d held-out normal images", hd.Calibration.ImageMethod, hd.Calibration.HeldOut)})
	var tm []report.Timing
	names := make([]string, 0, len(timings))
	for k := range timings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		tm = append(tm, report.Timing{Name: k, Total: time.Duration(timings[k] * float64(time.Second))})
	}
	tm = append(tm, report.Timing{Name: "evaluate", Total: time.Duration(ev.Seconds * float64(time.Second)), Items: ev.Overall.NImages})
	images, _ := hd.Method.Counts()
	rep := &report.Report{
		Title:    fmt.Sprintf("crd evaluation: %s", h.cat.Name),
		Subtitle: fmt.Sprintf("%s, %s", h.cat.Dir, time.Now().Format("2006-01-02 15:04")),
		Model: report.Model{Method: hd.Method.Name(), Backbone: fmt.Sprintf("%s %v", hd.Backbone, hd.Layers), Dim: hd.Method.Dim(), Lambda: lambda,
			Threshold: hd.Calibration.ImageThreshold, TrainImages: int(images), Timings: tm, Extra: extra},
		Overall:  toReportMetrics("all", ev.Overall),
		ImageROC: report.Curve{X: ev.ImageROC.X, Y: ev.ImageROC.Y, AUC: ev.Overall.ImageAUROC},
		PixelROC: report.Curve{X: ev.PixelROC.X, Y: ev.PixelROC.Y, AUC: ev.Overall.PixelAUROC},
		PRO:      report.Curve{X: ev.PRO.X, Y: ev.PRO.Y, AUC: ev.Overall.AUPRO},
		Gallery:  h.gallery,
		Notes:    ev.Overall.Missing,
	}
	keys := make([]string, 0, len(ev.PerDefect))
	for k := range ev.PerDefect {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rep.PerDefect = append(rep.PerDefect, toReportMetrics(k, ev.PerDefect[k]))
	}
	return report.WriteHTML(h.dir, rep)
}
