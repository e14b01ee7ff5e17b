package report

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/knn"
	"github.com/crd-ad/crd/preprocess"
)

// EvalReport is the HTML report of one Detector.Evaluate run, what `crd eval --report` writes: pass its Add method
// as detector.EvalOptions.OnImage so that the gallery sees every test image as it is scored, then call Write with
// the evaluation.
//
//	rep := report.NewEvalReport("report", d, cat, report.GalleryOptions{})
//	ev, err := d.Evaluate(ctx, cat, detector.EvalOptions{OnImage: rep.Add})
//	...
//	err = rep.Write(ev)
type EvalReport struct {
	dir     string
	d       *detector.Detector
	cat     *dataset.Category
	gallery *Gallery
}

// NewEvalReport starts the report of evaluating d on cat, written to dir. When d is calibrated and opts gives no
// map range, each card's heat map is stretched around the pixel threshold (GalleryOptions.MapThreshold), so the
// threshold is the same colour on every card.
func NewEvalReport(dir string, d *detector.Detector, cat *dataset.Category, opts GalleryOptions) *EvalReport {
	if opts.MapHi <= opts.MapLo && opts.MapThreshold <= 0 && d.Calibrated() {
		opts.MapThreshold = d.Calibration.PixelThreshold
	}
	return &EvalReport{dir: dir, d: d, cat: cat, gallery: NewGallery(dir, opts)}
}

// Gallery returns the report's gallery.
func (e *EvalReport) Gallery() *Gallery { return e.gallery }

// Add adds one scored test image to the gallery; its signature is that of detector.EvalOptions.OnImage. The picture
// shows the image as the network saw it (resized and cropped) with its anomaly map and ground-truth mask.
func (e *EvalReport) Add(r *detector.Result, s dataset.Sample, mask []bool) error {
	rel, err := filepath.Rel(e.cat.Dir, s.Path)
	if err != nil {
		rel = filepath.Base(s.Path)
	}
	var m *dataset.Mask
	if mask != nil {
		m = &dataset.Mask{Pix: mask, W: r.Map.W, H: r.Map.H}
	}
	return e.gallery.Add(Item{Outcome: Outcome{Name: filepath.ToSlash(rel), Defect: s.Defect, Score: r.Score,
		NormScore: r.Normalized, Threshold: e.d.Calibration.ImageThreshold, Predicted: r.Defect},
		Image: e.d.InputImage(r.Image), Map: r.Map, Mask: m})
}

// Write writes dir/index.html for ev: the model summary from the detector's header, the given stage timings
// followed by the evaluation's own, the metrics, curves and gallery, and the metrics that could not be computed as
// notes. It returns the gallery's first write error, if any.
func (e *EvalReport) Write(ev *detector.Evaluation, timings ...Timing) error {
	if err := e.gallery.Err(); err != nil {
		return err
	}
	hd := e.d
	lambda := math.NaN()
	extra := []KV{{Key: "input", Value: hd.InputSummary()}}
	switch m := hd.Method.(type) {
	case *crd.Model:
		lambda = m.Options.Lambda
		extra = append(extra, KV{Key: "lambda scaling", Value: fmt.Sprintf("%s (absolute %.4g), score %s", m.Options.Mode, m.Lambda, m.Options.Score)})
	case *knn.Model:
		extra = append(extra, KV{Key: "coreset ratio", Value: fmt.Sprint(m.Ratio())})
	}
	extra = append(extra, KV{Key: "threshold rule", Value: fmt.Sprintf("%s on %d held-out normal images", hd.Calibration.ImageMethod, hd.Calibration.HeldOut)})
	extra = append(extra, selectionKVs(hd, ev)...)
	trainImages, _ := hd.Method.Counts()
	tm := append(timings[:len(timings):len(timings)],
		Timing{Name: "evaluate", Total: time.Duration(ev.Seconds * float64(time.Second)), Items: ev.Overall.NImages})
	return WriteHTML(e.dir, &Report{
		Title:    fmt.Sprintf("crd evaluation: %s", e.cat.Name),
		Subtitle: fmt.Sprintf("%s, %s", e.cat.Dir, time.Now().Format("2006-01-02 15:04")),
		Model: Model{Method: hd.Method.Name(), Backbone: fmt.Sprintf("%s %v", hd.Backbone, hd.Layers), Dim: hd.Method.Dim(), Lambda: lambda,
			Threshold: hd.Calibration.ImageThreshold, TrainImages: int(trainImages), Timings: tm, Extra: extra},
		Evaluation: ev,
		Gallery:    e.gallery,
		Notes:      ev.Overall.Missing,
	})
}

// CropView returns img as the network saw it: resized and cropped by p, with values in [0, 1] (not normalised).
func CropView(img *dataset.RGB, p preprocess.Params) *dataset.RGB {
	c := p.Crop
	out := dataset.NewRGB(c, c)
	raw := p
	raw.Mean, raw.Std = [3]float64{}, [3]float64{1, 1, 1}
	preprocess.Image(img, raw, out.Pix)
	return out
}

// HeatmapRange is the range of m that the heat maps of d's predictions span:
// 0 to twice the pixel threshold, so that red means "above the threshold";
// without a calibration, the map's own range.
func HeatmapRange(d *detector.Detector, m anomalymap.Map) (lo, hi float64) {
	lo, hi = 0.0, 2*d.Calibration.PixelThreshold
	if !d.Calibrated() || hi <= 0 {
		lo, hi = float64(slices.Min(m.Pix)), float64(slices.Max(m.Pix))
	}
	return lo, hi
}

// WritePredictionPNGs writes what `crd predict --out` writes for one result: the heat map of its anomaly map over the
// original image (heatPath) and the binary defect mask, the map above the pixel threshold (maskPath; empty for an
// uncalibrated model), both at the original image's size. The colour map spans 0 to twice the pixel threshold, so
// red means "above the threshold"; without a calibration it spans the map's own range.
func WritePredictionPNGs(d *detector.Detector, r *detector.Result, heatPath, maskPath string) error {
	m := d.PixelMapOriginal(r)
	lo, hi := HeatmapRange(d, m)
	return writePrediction(heatPath, maskPath, r.Image, m, lo, hi, d.Calibrated(), float32(d.Calibration.PixelThreshold))
}

// writePrediction is WritePredictionPNGs for the original image img and its anomaly map m: the heat map of m over
// img, as Overlay(img, m, lo, hi, 0.45) gives it, and the mask of m above thr (all 0 unless calibrated), each
// computed row by row as it is encoded.
func writePrediction(heatPath, maskPath string, img *dataset.RGB, m anomalymap.Map, lo, hi float64, calibrated bool, thr float32) error {
	w, h := m.W, m.H
	bl := newBlender(img, m, linear(lo, hi), 0.45)
	if err := writePNGRows(heatPath, w, h, pngRGB, func(y int, row []byte) { bl.blend(row, 3, y*w, w) }); err != nil {
		return err
	}
	return writePNGRows(maskPath, w, h, pngGrey, func(y int, row []byte) {
		for x, v := range m.Pix[y*w : (y+1)*w] {
			row[x] = 0
			if calibrated && v > thr {
				row[x] = 255
			}
		}
	})
}

// selectionKVs are the report lines on the expected false-reject rate (and the test set's actual one) and on the
// settings training chose on synthetic defects.
func selectionKVs(d *detector.Detector, ev *detector.Evaluation) []KV {
	var kv []KV
	if fr := d.Calibration.FalseReject; fr != nil {
		kv = append(kv, KV{Key: "expected false-reject rate", Value: detector.FormatRate(fr)})
	}
	good, flagged := 0, 0
	for _, r := range ev.Images {
		if r.Truth == dataset.Good {
			good++
			if r.Defect {
				flagged++
			}
		}
	}
	if good > 0 && d.Calibrated() {
		kv = append(kv, KV{Key: "test false-reject rate", Value: fmt.Sprintf("%.1f%% (%d of %d normal test images)", 100*float64(flagged)/float64(good), flagged, good)})
	}
	sel := d.Selection
	if sel == nil {
		return kv
	}
	var c []string
	for _, f := range sel.Candidates {
		c = append(c, fmt.Sprintf("%s %.3f / %.3f", f.Name, f.ImageAUROC, f.AUPRO))
	}
	how := fmt.Sprintf("of %d candidates on %d synthetic defects, the map's setting by AUPRO and the image score's normalisation by image AUROC, each kept at the default unless another is better by 2 standard errors (image AUROC / AUPRO: %s)",
		len(sel.Candidates), sel.SyntheticImages, strings.Join(c, ", "))
	if len(sel.Fixed) > 0 {
		how += fmt.Sprintf("; %s not chosen (fixed by flags, or too few held-out images)", strings.Join(sel.Fixed, " and "))
	}
	kv = append(kv, KV{Key: "settings", Value: sel.Picked + " (" + how + ")"},
		KV{Key: "synthetic defects caught", Value: fmt.Sprintf("%.0f%% of %d at the image threshold", 100*sel.CatchRate, sel.SyntheticImages)})
	return kv
}
