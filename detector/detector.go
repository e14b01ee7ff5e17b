// Package detector is the library behind the crd command: train a model on
// normal images, score new images (image score, pass/fail, anomaly map), and
// evaluate on MVTec-layout data. A Go service embeds it the same way the CLI
// does: Load a model file, then call Predict on images.
//
// The data path reads straight through: image file -> decode (dataset) ->
// preprocess -> backbone -> patch features (patchfeat) -> patch scores (crd or
// knn) -> image score and anomaly map (anomalymap) -> threshold.
package detector

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/knn"
	"github.com/crd-ad/crd/modelfile"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
)

// Sigma is the standard deviation, in input pixels, of the Gaussian that
// smooths anomaly maps (PatchCore / anomalib use 4).
const Sigma = 4.0

// Scorer turns one image's d x P patch-feature matrix into P patch scores.
// crd.Model and knn.Model implement it. Score must be safe for concurrent use.
type Scorer interface {
	Score(y []float32, p int, out []float32)
}

// Detector is a trained model ready to score images.
type Detector struct {
	// Header is the model file's metadata: method, backbone,
	// preprocessing, lambda, calibration.
	Header modelfile.Header
	// CRD is the CRD model when Header.Method is "crd".
	CRD *crd.Model
	// KNN is the nearest-neighbour model when Header.Method is "knn".
	KNN *knn.Model

	mu  sync.Mutex
	ext *Extractor
}

// Scorer returns the detector's patch scorer.
func (d *Detector) Scorer() Scorer {
	if d.CRD != nil {
		return d.CRD
	}
	return d.KNN
}

// ModelBytes is the size of the scorer's numeric payload as deployed: M for
// CRD (float32 d x d), the memory bank and its norms for kNN.
func (d *Detector) ModelBytes() int64 {
	if d.CRD != nil {
		return int64(len(d.CRD.M)) * 4
	}
	return int64(len(d.KNN.Bank()))*4 + int64(d.KNN.Len())*4
}

// syncHeader copies the model's own fields (method, d, lambda, counts) into
// the header.
func (d *Detector) syncHeader() {
	h := &d.Header
	switch {
	case d.CRD != nil:
		d.CRD.FillHeader(h)
	case d.KNN != nil:
		h.Method, h.Coreset, h.D = knn.Method, d.KNN.Ratio(), d.KNN.D()
		h.NumPatches, h.NumImages = d.KNN.NumPatches(), d.KNN.NumImages()
	}
}

// Save writes the model file atomically. keepGram keeps G (CRD only), which
// makes the model updatable and mergeable at twice the file size.
func (d *Detector) Save(path string, keepGram bool) error {
	d.syncHeader()
	f := &modelfile.File{Header: d.Header}
	switch {
	case d.CRD != nil:
		f.Arrays = d.CRD.Arrays(keepGram)
	case d.KNN != nil:
		f.Arrays = d.KNN.Arrays()
	default:
		return fmt.Errorf("save %s: detector has no model", path)
	}
	return modelfile.Write(path, f)
}

// Load reads a model file and checks that its backbone is known.
func Load(path string) (*Detector, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, err
	}
	d := &Detector{Header: f.Header}
	switch f.Header.Method {
	case crd.Method:
		d.CRD, err = crd.FromFile(f)
	case knn.Method:
		d.KNN, err = knn.FromFile(f)
	default:
		err = fmt.Errorf("unknown method %q", f.Header.Method)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkPositionMean(f.Header.Calibration); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	info, err := backbone.Lookup(f.Header.Backbone)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if info.Dim() != f.Header.D || !slices.Equal(info.Layers, f.Header.Layers) {
		return nil, fmt.Errorf("%s: model was made with backbone %s layers %v (d = %d), but this build's %s has layers %v (d = %d)",
			path, f.Header.Backbone, f.Header.Layers, f.Header.D, info.Name, info.Layers, info.Dim())
	}
	return d, nil
}

// extractor loads the backbone on first use.
func (d *Detector) extractor() (*Extractor, error) {
	if d.ext == nil {
		e, err := NewExtractor(d.Header.Backbone, d.Header.Preprocess)
		if err != nil {
			return nil, err
		}
		d.ext = e
	}
	return d.ext, nil
}

// Result is the verdict on one image, the one per-image result type of
// prediction and evaluation. Its JSON form (one entry of an evaluation's
// "images") holds the path, true defect type, scores and verdict; the grid,
// map and image are left out.
type Result struct {
	// Index is the image's position in the paths given to PredictFiles.
	Index int    `json:"-"`
	Path  string `json:"path"`
	// Truth is the image's true defect type (dataset.Good for a normal
	// image) when it comes from a labelled test set, as in an Evaluation;
	// empty otherwise.
	Truth string `json:"defect_type,omitempty"`
	// Score is the image score: the largest patch score, after the
	// per-position normalisation when the model has one (see
	// modelfile.Calibration.PositionMean).
	Score float64 `json:"score"`
	// Normalized maps Score to [0, 1] with the threshold at 0.5 (0 for an
	// uncalibrated model).
	Normalized float64 `json:"normalized"`
	// Defect is Score > the image threshold (never, uncalibrated).
	Defect bool `json:"predicted_defect"`
	// Grid is the patch-score grid (normalised per position when the model
	// has a normalisation).
	Grid anomalymap.Map `json:"-"`
	// Map is the anomaly map in the network's input space (after resize and
	// crop, so Crop x Crop): the grid upsampled bilinearly and blurred.
	Map anomalymap.Map `json:"-"`
	// Image is the decoded original image.
	Image *dataset.RGB `json:"-"`
}

// score computes the grid, image score and map of one image's features.
func (d *Detector) score(it *Item) *Result {
	f := it.Features
	grid := make([]float32, f.H*f.W)
	d.Scorer().Score(f.Data, f.H*f.W, grid)
	r := d.FromGrid(grid, f.H, f.W)
	r.Index, r.Path, r.Image = it.Index, it.Path, it.Image
	return r
}

// FromGrid turns a gh x gw patch-score grid into a Result: the grid divided
// in place by the calibration's per-position normal means (when the model
// has them), the image score (the grid's maximum, before any blur), the
// anomaly map (the grid upsampled bilinearly to the input size and blurred
// with a Gaussian of sigma Sigma) and the verdict at the stored threshold.
func (d *Detector) FromGrid(grid []float32, gh, gw int) *Result {
	normalizePositions(grid, gh, gw, d.Header.Calibration)
	c := d.Header.Preprocess.Crop
	r := &Result{Grid: anomalymap.Map{Pix: grid, W: gw, H: gh}}
	r.Score = float64(slices.Max(grid))
	r.Map = anomalymap.FromGrid(r.Grid, c, c, Sigma)
	if d.Calibrated() {
		cal := d.Header.Calibration
		r.Normalized = Normalize(r.Score, cal.ImageThreshold, cal)
		r.Defect = r.Score > cal.ImageThreshold
	}
	return r
}

// PredictFiles scores image files in order, calling fn for each result.
// Unreadable images are errors unless skipBad is set, in which case warn is
// told about them.
func (d *Detector) PredictFiles(paths []string, skipBad bool, warn func(error), fn func(*Result) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, err := d.extractor()
	if err != nil {
		return err
	}
	e.SkipBad, e.Warn = skipBad, warn
	return e.Run(paths, func(it *Item) error { return fn(d.score(it)) })
}

// Predict scores one image file.
func (d *Detector) Predict(path string) (*Result, error) {
	var res *Result
	err := d.PredictFiles([]string{path}, false, nil, func(r *Result) error { res = r; return nil })
	return res, err
}

// PixelMapOriginal returns r's anomaly map on the original image's pixel
// grid (pixels outside the crop window get 0).
func (d *Detector) PixelMapOriginal(r *Result) anomalymap.Map {
	return preprocess.ToOriginal(r.Map, r.Image.W, r.Image.H, d.Header.Preprocess, 0)
}

// Stage reports progress: stage names the step, done of total items.
type Stage func(stage string, done, total int)

// TrainOptions configure Train.
type TrainOptions struct {
	// Backbone is the registered backbone name.
	Backbone string
	// Preprocess overrides the backbone's default input transform when its
	// Crop is set.
	Preprocess modelfile.Preprocess
	// Method is "crd" (default) or "knn".
	Method string
	// Solve are the CRD settings (lambda, its mode, the score kind).
	Solve crd.SolveOptions
	// Coreset is the kNN coreset ratio in (0, 1].
	Coreset float64
	// Holdout is the fraction of normal images kept out of the model to
	// calibrate the thresholds (default 0.1; 0 disables calibration).
	Holdout float64
	// Threshold is the rule that turns held-out scores into thresholds.
	Threshold ThresholdRule
	// RawScores skips the per-position normalisation that calibration
	// otherwise fits (see CalibrateGrids): thresholds are then on raw scores.
	RawScores bool
	// Seed fixes the hold-out split and the coreset selection.
	Seed uint64
	// Batch is the backbone batch size.
	Batch int
	// SkipBad turns unreadable images into warnings.
	SkipBad bool
	// Warn receives warnings; Progress receives progress.
	Warn     func(error)
	Progress Stage
	// Log receives one line per finished stage with its duration.
	Log io.Writer
}

// DefaultTrainOptions are the settings `crd train` uses without flags.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{
		Backbone:  "inception_v3",
		Method:    crd.Method,
		Solve:     crd.DefaultSolveOptions(),
		Coreset:   0.1,
		Holdout:   0.1,
		Threshold: ThresholdRule{Quantile: 1},
		Seed:      1,
		Batch:     8,
	}
}

func (o *TrainOptions) progress(stage string, done, total int) {
	if o.Progress != nil {
		o.Progress(stage, done, total)
	}
}

func (o *TrainOptions) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

// Train builds a detector from normal images: features of all but the
// held-out images go into the model (a streamed Gram matrix for CRD, a
// memory bank for kNN), then the held-out images set the thresholds.
func Train(paths []string, opts TrainOptions) (*Detector, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("train: no training images")
	}
	train, held := SplitHoldout(paths, opts.Holdout, opts.Seed)
	ext, err := NewExtractor(opts.Backbone, opts.Preprocess)
	if err != nil {
		return nil, err
	}
	if opts.Batch > 0 {
		ext.Batch = opts.Batch
	}
	ext.SkipBad, ext.Warn = opts.SkipBad, opts.Warn
	info := ext.Net.Info()
	d := &Detector{ext: ext, Header: modelfile.Header{
		Backbone:   info.Name,
		Layers:     slices.Clone(info.Layers),
		Preprocess: ext.Preprocess,
		Created:    time.Now().UTC().Format(time.RFC3339),
		Tool:       Tool,
	}}
	t0 := time.Now()
	switch opts.Method {
	case "", crd.Method:
		acc := crd.NewAccumulator(info.Dim())
		err = ext.RunBatches(train, func(items []*Item, f *nn.Tensor) error {
			acc.AddBatch(f.Data, f.N, f.H*f.W)
			opts.progress("train", int(acc.NumImages()), len(train))
			return nil
		})
		if err != nil {
			return nil, err
		}
		if acc.NumImages() == 0 {
			return nil, fmt.Errorf("train: no readable training images")
		}
		opts.logf("features and Gram matrix: %d images, %d patches in %s", acc.NumImages(), acc.NumPatches(), since(t0))
		t1 := time.Now()
		d.CRD, err = acc.Solve(opts.Solve)
		if err != nil {
			return nil, err
		}
		opts.logf("solve (d = %d): %s", info.Dim(), since(t1))
	case knn.Method:
		b := knn.NewBankBuilder(info.Dim(), 0)
		err = ext.Run(train, func(it *Item) error {
			b.Add(it.Features.Data, it.Features.H*it.Features.W)
			opts.progress("train", b.Images(), len(train))
			return nil
		})
		if err != nil {
			return nil, err
		}
		if b.Images() == 0 {
			return nil, fmt.Errorf("train: no readable training images")
		}
		opts.logf("features and memory bank: %d images, %d patches in %s", b.Images(), b.Len(), since(t0))
		t1 := time.Now()
		d.KNN, err = b.Build(context.Background(), knn.CoresetOptions{Ratio: opts.Coreset, Seed: opts.Seed,
			Progress: func(done, total int) { opts.progress("coreset", done, total) }})
		if err != nil {
			return nil, err
		}
		opts.logf("coreset (ratio %g, %d of %d patches): %s", opts.Coreset, d.KNN.Len(), b.Len(), since(t1))
	default:
		return nil, fmt.Errorf("train: unknown method %q (want crd or knn)", opts.Method)
	}
	d.syncHeader()
	if err := d.Calibrate(held, opts); err != nil {
		return nil, err
	}
	return d, nil
}

// Uncalibrated is the Calibration.ImageMethod of a model without
// thresholds: it scores images but flags none of them.
const Uncalibrated = "none"

// Calibrated reports whether the model has thresholds.
func (d *Detector) Calibrated() bool {
	m := d.Header.Calibration.ImageMethod
	return m != "" && m != Uncalibrated
}

// Calibrate sets the per-position normalisation and the thresholds from
// normal images that are not in the model (see CalibrateGrids). With no
// images it marks the model Uncalibrated. On error the old calibration is
// kept.
func (d *Detector) Calibrate(normals []string, opts TrainOptions) error {
	if len(normals) == 0 {
		d.Header.Calibration = modelfile.Calibration{ImageMethod: Uncalibrated}
		opts.logf("calibration: no held-out images, no threshold set")
		return nil
	}
	t0 := time.Now()
	old := d.Header.Calibration
	// Raw scores: no normalisation while the held-out images are scored.
	d.Header.Calibration = modelfile.Calibration{ImageMethod: Uncalibrated}
	var grids [][]float32
	gh, gw := 0, 0
	err := d.PredictFiles(normals, opts.SkipBad, opts.Warn, func(r *Result) error {
		grids = append(grids, r.Grid.Pix)
		gh, gw = r.Grid.H, r.Grid.W
		opts.progress("calibrate", len(grids), len(normals))
		return nil
	})
	if err == nil && len(grids) == 0 {
		err = fmt.Errorf("calibrate: no readable held-out images")
	}
	if err != nil {
		d.Header.Calibration = old
		return err
	}
	d.CalibrateGrids(grids, gh, gw, opts.Threshold, !opts.RawScores)
	cal := d.Header.Calibration
	norm := "raw scores"
	if cal.PositionMean != nil {
		norm = fmt.Sprintf("scores divided by the %d x %d per-position normal means", gh, gw)
	}
	opts.logf("calibration on %d held-out images: %s, image threshold %.6g (%s), pixel threshold %.6g, %s",
		len(grids), norm, cal.ImageThreshold, opts.Threshold, cal.PixelThreshold, since(t0))
	return nil
}

// Tool names the program written into model files.
const Tool = "crd 0.2"

func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }
