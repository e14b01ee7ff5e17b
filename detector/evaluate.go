package detector

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/internal/parallel"
	"github.com/crd-ad/crd/metrics"
)

// FPRLimit is the false-positive-rate limit of AUPRO (MVTec AD uses 0.3).
const FPRLimit = 0.3

// Metrics are the scores of one evaluation (all test images, or the normal
// images together with one defect type). A metric that cannot be computed
// (for example pixel metrics without masks) is NaN and listed in Missing.
type Metrics struct {
	ImageAUROC float64 `json:"image_auroc"`
	PixelAUROC float64 `json:"pixel_auroc"`
	AUPRO      float64 `json:"aupro"`
	// F1Max is the best image-level F1 over all thresholds; PixelF1Max the
	// same over pixels.
	F1Max      float64 `json:"f1_max"`
	PixelF1Max float64 `json:"pixel_f1_max"`
	// Accuracy, Precision and Recall are image-level, at the model's stored
	// threshold (NaN for an uncalibrated model).
	Accuracy  float64 `json:"accuracy"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	NImages   int     `json:"n_images"`
	NDefect   int     `json:"n_defect"`
	// Missing explains metrics that are NaN.
	Missing []string `json:"missing,omitempty"`
}

// NewMetrics returns metrics with every rate NaN (not computed) and no images.
func NewMetrics() Metrics {
	nan := math.NaN()
	return Metrics{ImageAUROC: nan, PixelAUROC: nan, AUPRO: nan, F1Max: nan, PixelF1Max: nan,
		Accuracy: nan, Precision: nan, Recall: nan}
}

// MarshalJSON writes NaN metrics as null.
func (m Metrics) MarshalJSON() ([]byte, error) {
	out := map[string]any{}
	for k, v := range map[string]float64{"image_auroc": m.ImageAUROC, "pixel_auroc": m.PixelAUROC, "aupro": m.AUPRO,
		"f1_max": m.F1Max, "pixel_f1_max": m.PixelF1Max, "accuracy": m.Accuracy, "precision": m.Precision, "recall": m.Recall} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			out[k] = nil
		} else {
			out[k] = v
		}
	}
	out["n_images"], out["n_defect"] = m.NImages, m.NDefect
	if len(m.Missing) > 0 {
		out["missing"] = m.Missing
	}
	return json.Marshal(out)
}

// Evaluation is the result of Evaluate.
type Evaluation struct {
	Overall   Metrics            `json:"overall"`
	PerDefect map[string]Metrics `json:"per_defect"`
	// Images are the test images' results in the order they were scored, with Truth
	// set and without their grids, maps and pictures.
	Images []Result `json:"images"`
	// Curves for plots: image-level and pixel-level ROC, and the PRO curve
	// up to FPRLimit.
	ImageROC metrics.Curve `json:"-"`
	PixelROC metrics.Curve `json:"-"`
	PRO      metrics.Curve `json:"-"`
	Seconds  float64       `json:"seconds"`
}

// EvalOptions configure Evaluate.
type EvalOptions struct {
	// SkipBad makes an unreadable image, or one whose mask is unreadable
	// or not of its size, a warning (through Warn): the image is left out.
	// Evaluate still fails when no image is left.
	SkipBad  bool
	Warn     func(error)
	Progress Stage
	// OnImage, when set, sees every test image's result with its sample and
	// its ground-truth mask in the network's input space (nil for normal
	// images and defect types without masks), for galleries.
	OnImage func(r *Result, s dataset.Sample, mask []bool) error
}

// Evaluator accumulates test results of one category and computes the
// metrics. Detector.Evaluate drives it from image files; a benchmark can feed
// it results computed from stored features.
type Evaluator struct {
	d       *Detector
	cat     *dataset.Category
	overall *metrics.PixelSet
	per     map[string]*metrics.PixelSet
	scored  []Result
	scores  []float64
	labels  []bool
	good    [][]float32 // maps of normal images, added to every per-defect set at the end
	masks   map[int][]bool
	// same: the category has one defect type, with masks, so its row is
	// the overall one (the same images and pixels) and is not computed
	// twice; per is then empty and good unused.
	same bool
}

// NewEvaluator starts an evaluation of d on cat's test images.
func (d *Detector) NewEvaluator(cat *dataset.Category) *Evaluator {
	e := &Evaluator{d: d, cat: cat, overall: &metrics.PixelSet{}, per: map[string]*metrics.PixelSet{}, masks: map[int][]bool{}}
	// Every map has the input's size: room for all of them at once, so that
	// the pixel sets are not copied over and over while they grow.
	w, h := d.InputSize()
	e.overall.Grow(len(cat.Test) * w * h)
	e.same = len(cat.Defects) == 1 && !slices.Contains(cat.NoMasks, cat.Defects[0])
	if !e.same {
		for _, t := range cat.Defects {
			if !slices.Contains(cat.NoMasks, t) {
				e.per[t] = &metrics.PixelSet{}
			}
		}
	}
	return e
}

// Mask returns test sample i's ground-truth mask in the network's input
// space, or nil for normal images and defect types without masks. It checks
// that the mask has its image's size (w x h).
func (e *Evaluator) Mask(i, w, h int) ([]bool, error) {
	s := e.cat.Test[i]
	if !s.Anomalous() || s.MaskPath == "" {
		return nil, nil
	}
	if m, ok := e.masks[i]; ok {
		return m, nil
	}
	m, err := e.d.Limits.LoadMask(s.MaskPath)
	if err != nil {
		return nil, err
	}
	if m.W != w || m.H != h {
		return nil, fmt.Errorf("mask %s is %dx%d but its image %s is %dx%d", s.MaskPath, m.W, m.H, s.Path, w, h)
	}
	t := e.d.InputMask(m)
	e.masks[i] = t
	return t, nil
}

// Add records the result for test sample r.Index, whose original image is
// w x h pixels, and returns its transformed mask (see Mask).
func (e *Evaluator) Add(r *Result, w, h int) ([]bool, error) {
	s := e.cat.Test[r.Index]
	mask, err := e.Mask(r.Index, w, h)
	if err != nil {
		return nil, err
	}
	c := r.Map.W
	switch {
	case !s.Anomalous():
		e.overall.Add(r.Map.Pix, make([]bool, len(r.Map.Pix)), c)
		if !e.same {
			e.good = append(e.good, slices.Clone(r.Map.Pix))
		}
	case mask != nil:
		e.overall.Add(r.Map.Pix, mask, c)
		if !e.same {
			e.per[s.Defect].Add(r.Map.Pix, mask, c)
		}
	}
	e.scored = append(e.scored, Result{Index: r.Index, Path: s.Path, Truth: s.Defect, Score: r.Score, Normalized: r.Normalized, Defect: r.Defect})
	e.scores = append(e.scores, r.Score)
	e.labels = append(e.labels, s.Anomalous())
	return mask, nil
}

// Finish computes the metrics, overall and per defect type. The rows are
// independent (each its own pixel set, sorted and swept), so they are
// computed on all cores, the overall one (with the curves) first. A single
// defect type's row is the overall one.
func (e *Evaluator) Finish() *Evaluation {
	ev := &Evaluation{PerDefect: map[string]Metrics{}, Images: e.scored}
	if e.same {
		ev.Overall = e.d.metricsOf(e.scores, e.labels, e.overall, true, ev)
		ev.PerDefect[e.cat.Defects[0]] = ev.Overall
		return ev
	}
	rows := make([]Metrics, 1+len(e.cat.Defects))
	parallel.For(len(rows), 0, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			if k == 0 {
				rows[0] = e.d.metricsOf(e.scores, e.labels, e.overall, true, ev)
				continue
			}
			rows[k] = e.defectMetrics(e.cat.Defects[k-1])
		}
	})
	ev.Overall = rows[0]
	for k, t := range e.cat.Defects {
		ev.PerDefect[t] = rows[k+1]
	}
	return ev
}

// defectMetrics is the row of defect type t: its images against the normal
// ones, its pixel set completed with the normal images' maps.
func (e *Evaluator) defectMetrics(t string) Metrics {
	var sc []float64
	var lb []bool
	for k, s := range e.scored {
		if s.Truth == t || s.Truth == dataset.Good {
			sc = append(sc, e.scores[k])
			lb = append(lb, e.labels[k])
		}
	}
	ps := e.per[t]
	if ps != nil {
		w, h := e.d.InputSize()
		ps.Grow(len(e.good) * w * h)
		empty := make([]bool, w*h)
		for _, m := range e.good {
			ps.Add(m, empty, w)
		}
	}
	return e.d.metricsOf(sc, lb, ps, false, nil)
}

// Evaluate scores every test image of an MVTec-layout category and computes
// image AUROC, pixel AUROC, AUPRO and F1-max, overall and per defect type
// (each defect type against the normal test images). Pixel metrics are
// computed in the network's input space, with masks brought there by the
// same resize and crop as the images (nearest neighbour), as anomalib does;
// a tiled model's input space is the scaled image (see InputSize). It stops when ctx is done, with ctx's error.
func (d *Detector) Evaluate(ctx context.Context, cat *dataset.Category, opts EvalOptions) (*Evaluation, error) {
	if len(cat.Test) == 0 {
		return nil, fmt.Errorf("evaluate %s: no test images", cat.Dir)
	}
	t0 := time.Now()
	paths := make([]string, len(cat.Test))
	for i, s := range cat.Test {
		paths[i] = s.Path
	}
	e := d.NewEvaluator(cat)
	done := 0
	err := d.PredictFiles(ctx, paths, opts.SkipBad, opts.Warn, func(r *Result) error {
		mask, err := e.Add(r, r.Image.W, r.Image.H)
		if err != nil {
			if !opts.SkipBad {
				return err
			}
			// A corrupt or mis-sized mask: the image is skipped, as an
			// unreadable image would be.
			if opts.Warn != nil {
				opts.Warn(fmt.Errorf("%w (image %s skipped)", err, r.Path))
			}
			return nil
		}
		done++
		if opts.Progress != nil {
			opts.Progress("evaluate", done, len(paths))
		}
		if opts.OnImage != nil {
			return opts.OnImage(r, cat.Test[r.Index], mask)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if done == 0 {
		return nil, fmt.Errorf("evaluate %s: none of the %d test images could be read (each was skipped)", cat.Dir, len(paths))
	}
	ev := e.Finish()
	ev.Seconds = time.Since(t0).Seconds()
	return ev, nil
}

// metricsOf computes one row of metrics; with curves set it also fills the
// evaluation's curves.
func (d *Detector) metricsOf(scores []float64, labels []bool, px *metrics.PixelSet, curves bool, ev *Evaluation) Metrics {
	m := NewMetrics()
	m.NImages = len(scores)
	for _, l := range labels {
		if l {
			m.NDefect++
		}
	}
	miss := func(what string, err error) { m.Missing = append(m.Missing, fmt.Sprintf("%s: %v", what, err)) }
	if v, err := metrics.AUROC(scores, labels); err == nil {
		m.ImageAUROC = v
	} else {
		miss("image_auroc", err)
	}
	if v, _, err := metrics.F1Max(scores, labels); err == nil {
		m.F1Max = v
	} else {
		miss("f1_max", err)
	}
	if d.Calibrated() {
		if cm, err := metrics.Confusion(scores, labels, d.Calibration.ImageThreshold); err == nil {
			m.Accuracy, m.Precision, m.Recall = cm.Accuracy(), cm.Precision(), cm.Recall()
		}
	} else {
		miss("accuracy", fmt.Errorf("the model has no threshold"))
	}
	if curves {
		if fpr, tpr, _, err := metrics.ROC(scores, labels); err == nil {
			ev.ImageROC = metrics.Curve{X: fpr, Y: tpr}
		}
	}
	if px == nil || px.Defects() == 0 {
		miss("pixel metrics", fmt.Errorf("no ground-truth masks"))
		return m
	}
	if v, err := px.AUROC(); err == nil {
		m.PixelAUROC = v
	} else {
		miss("pixel_auroc", err)
	}
	if v, _, err := px.F1Max(); err == nil {
		m.PixelF1Max = v
	} else {
		miss("pixel_f1_max", err)
	}
	if v, err := px.AUPRO(FPRLimit); err == nil {
		m.AUPRO = v
	} else {
		miss("aupro", err)
	}
	if curves {
		if c, err := px.ROC(500); err == nil {
			ev.PixelROC = c
		}
		if c, err := px.PROCurve(FPRLimit, 500); err == nil {
			ev.PRO = c
		}
	}
	return m
}
