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
	"strconv"
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
	"github.com/crd-ad/crd/tile"
)

// Sigma is the standard deviation, in input pixels, of the Gaussian that
// smooths anomaly maps (PatchCore / anomalib use 4).
const Sigma = 4.0

// Detector is a trained model ready to score images: the method that scores
// patch features, the features it expects (backbone, layers,
// preprocessing) and the calibration. Its Predict methods may be called
// concurrently; Train, Load and Merge make one, Save writes it to a model
// file.
type Detector struct {
	// Method scores patch features: a *crd.Model or a *knn.Model.
	Method Method
	// Backbone is the registered backbone name and Layers its feature
	// layers, in concatenation order.
	Backbone string
	Layers   []string
	// Preprocess is the input transform the features are computed with
	// (for a tiled model: each tile's, its Crop the tile side).
	Preprocess preprocess.Params
	// Tiling, when set, scales images keeping their aspect ratio and cuts
	// them into overlapping tiles (package tile) instead of squashing them
	// to the input square; nil for a squashed model. A tiled model's
	// method counts tiles as images (Method.Counts).
	Tiling *tile.Spec
	// Precision is the arithmetic of the backbone's convolutions, chosen
	// at training (nn.Float32, the zero value, or nn.BF16); the features
	// are computed with it whenever the model runs.
	Precision nn.Precision
	// Calibration holds the thresholds and normalisation fitted on held-out
	// normal images.
	Calibration Calibration
	// Selection, when set, records how training chose the normalisation
	// and lambda on synthetic defects.
	Selection *Selection
	// JPEG names the JPEG decoder of the build that made the model
	// (dataset.JPEGDecoder; empty for a model made before it was
	// recorded). Another decoder gives JPEG pixels a few levels apart
	// where chroma is subsampled, so scores of JPEG images move slightly
	// (JPEGMismatch).
	JPEG string
	// Created is an RFC 3339 timestamp; Tool names the program and version
	// that made the model.
	Created, Tool string
	// Source is the file Load read the detector from (empty for one built
	// in memory); errors about the model name it.
	Source string
	// Limits bounds the image and mask files the detector reads (the zero
	// value: dataset's defaults). Set it before the first prediction.
	Limits dataset.Limits
	// Batch is the number of images per backbone call when the detector
	// predicts (0: DefaultBatch). Set it before the first prediction.
	Batch int

	mu  sync.Mutex // guards ext
	ext *Extractor
}

// New returns an uncalibrated detector that scores with m the features of
// the named backbone, computed with preprocessing pre (the backbone's
// default when pre.Crop is 0). It checks that m's feature dimension is the
// backbone's; the backbone itself is loaded on first use.
func New(m Method, backboneName string, pre preprocess.Params) (*Detector, error) {
	info, err := backbone.Lookup(backboneName)
	if err != nil {
		return nil, err
	}
	if pre.Crop == 0 {
		pre = info.Preprocess
	}
	d := &Detector{Method: m, Backbone: info.Name, Layers: slices.Clone(info.Layers), Preprocess: pre,
		Calibration: Calibration{ImageMethod: Uncalibrated}, JPEG: dataset.JPEGDecoder(), Created: time.Now().UTC().Format(time.RFC3339), Tool: Tool}
	if err := d.checkBackbone(); err != nil {
		return nil, err
	}
	return d, nil
}

// checkBackbone reports a backbone that is unknown to this build or that
// does not compute the features the method expects.
func (d *Detector) checkBackbone() error {
	info, err := backbone.Lookup(d.Backbone)
	if err != nil {
		return err
	}
	if info.Dim() != d.Method.Dim() || !slices.Equal(info.Layers, d.Layers) {
		return fmt.Errorf("model was made with backbone %s layers %v (d = %d), but this build's %s has layers %v (d = %d)",
			d.Backbone, d.Layers, d.Method.Dim(), info.Name, info.Layers, info.Dim())
	}
	return nil
}

// JPEGMismatch returns, for a model made by a build whose JPEG decoder is
// not this build's, a note saying so; "" where they are the same or the
// model does not say.
func (d *Detector) JPEGMismatch() string {
	if d.JPEG == "" || d.JPEG == dataset.JPEGDecoder() {
		return ""
	}
	return fmt.Sprintf("the model was made by a build that decodes JPEG with %s, this build decodes it with %s: their pixels differ by a few levels where chroma is subsampled, so JPEG images score slightly differently than at training (other formats do not)", d.JPEG, dataset.JPEGDecoder())
}

// Raw returns a detector that shares d's method and backbone but has no
// calibration: its scores are the method's raw patch scores, and it flags
// nothing.
func (d *Detector) Raw() *Detector {
	d.mu.Lock()
	defer d.mu.Unlock()
	return &Detector{Method: d.Method, Backbone: d.Backbone, Layers: d.Layers, Preprocess: d.Preprocess, Tiling: d.Tiling,
		Precision: d.Precision, JPEG: d.JPEG, Calibration: Calibration{ImageMethod: Uncalibrated}, Created: d.Created, Tool: d.Tool, ext: d.ext}
}

// Updatable reports whether the model kept the training statistics that
// AddNormals and Merge need (a CRD model with its Gram matrix G).
func (d *Detector) Updatable() bool {
	m, ok := d.Method.(*crd.Model)
	return ok && m.Acc != nil
}

// Save writes the model file atomically. keepGram keeps G (CRD only), which
// makes the model updatable and mergeable at twice the file size.
func (d *Detector) Save(path string, keepGram bool) error {
	if d.Method == nil {
		return fmt.Errorf("save %s: detector has no model", path)
	}
	hdr, err := d.MarshalHeader()
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return modelfile.Write(path, &modelfile.File{Header: hdr, Arrays: d.Method.Arrays(keepGram)})
}

// Load reads a model file (format versions modelfile.MinVersion to
// modelfile.Version) and checks that its backbone is known. Its errors name
// the file.
func Load(path string) (*Detector, error) {
	f, err := modelfile.Read(path)
	if err != nil {
		return nil, err
	}
	d, err := Decode(f)
	if err == nil {
		err = d.checkBackbone()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d.Source = path
	return d, nil
}

// name is how errors refer to the detector: its quoted file name, or
// "model i+1" (of a list) when it was not loaded from a file.
func (d *Detector) name(i int) string {
	if d.Source != "" {
		return strconv.Quote(d.Source)
	}
	return fmt.Sprintf("model %d", i+1)
}

// extractor loads the backbone on first use.
func (d *Detector) extractor() (*Extractor, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ext == nil {
		// The scorer's one-time work overlaps the backbone's loading.
		if p, ok := d.Method.(interface{ Prepare() }); ok {
			go p.Prepare()
		}
		e, err := NewExtractor(d.Backbone, d.Preprocess)
		if err == nil {
			err = e.SetTiling(d.Tiling)
		}
		if err == nil {
			err = e.SetPrecision(d.Precision)
		}
		if err != nil {
			return nil, err
		}
		e.Limits = d.Limits
		if d.Batch > 0 {
			e.Batch = d.Batch
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
	// Index is the image's position in the paths given to PredictFiles
	// (or in the images given to PredictImages).
	Index int    `json:"-"`
	Path  string `json:"path"`
	// Truth is the image's true defect type (dataset.Good for a normal
	// image) when it comes from a labelled test set, as in an Evaluation;
	// empty otherwise.
	Truth string `json:"defect_type,omitempty"`
	// Score is the image score: the largest patch score, after the
	// per-position normalisation when the model has one (see
	// Calibration.PositionMean).
	Score float64 `json:"score"`
	// Normalized maps Score to [0, 1] with the threshold at 0.5 (0 for an
	// uncalibrated model).
	Normalized float64 `json:"normalized"`
	// Defect is Score > the image threshold (never, uncalibrated).
	Defect bool `json:"predicted_defect"`
	// Grid is the patch-score grid (normalised per position when the model
	// has a normalisation); a tiled model's is its tiles' grids stacked top
	// to bottom.
	Grid anomalymap.Map `json:"-"`
	// Map is the anomaly map in the network's input space (after resize and
	// crop, so Crop x Crop; for a tiled model the scaled image, see
	// InputSize): the grid upsampled bilinearly and blurred (tile by tile,
	// then stitched).
	Map anomalymap.Map `json:"-"`
	// Image is the decoded original image.
	Image *dataset.RGB `json:"-"`
}

// score computes the grid, image score and map of one image's features,
// normalised and judged by cal (nil: raw scores, no verdict). A stored
// per-position normalisation for another grid is an error: judging raw
// scores against a normalised threshold would be silently wrong.
func (d *Detector) score(it *Item, cal *Calibration) (*Result, error) {
	var grid []float32
	var gh, gw int // tiles stacked
	InStage(context.Background(), StageScore, func() { grid, gh, gw = scoreTiles(d.Method, it) })
	if cal != nil && (cal.PositionMean != nil || cal.ImagePositionMean != nil) && (cal.GridH != gh || cal.GridW != gw) {
		return nil, fmt.Errorf("%s: the model's per-position normalisation is for a %d x %d grid, but the features are %d x %d",
			d.name(0), cal.GridH, cal.GridW, gh, gw)
	}
	var r *Result
	InStage(context.Background(), StageMap, func() { r = d.fromGrid(grid, gh, gw, cal) })
	r.Index, r.Path, r.Image = it.Index, it.Path, it.Image
	return r, nil
}

// FromGrid turns a gh x gw patch-score grid into a Result: the grid divided
// in place by the calibration's per-position normal means (when the model
// has them), the image score (the grid's maximum, before any blur), the
// anomaly map (the grid upsampled bilinearly to the input size and blurred
// with a Gaussian of sigma Sigma; a tiled model's grid is its tiles' grids
// stacked, each mapped so and the maps stitched) and the verdict at the
// stored threshold.
func (d *Detector) FromGrid(grid []float32, gh, gw int) *Result {
	return d.fromGrid(grid, gh, gw, &d.Calibration)
}

// fromGrid is FromGrid with the calibration given: nil scores raw.
func (d *Detector) fromGrid(grid []float32, gh, gw int, cal *Calibration) *Result {
	r := &Result{Grid: anomalymap.Map{Pix: grid, W: gw, H: gh}}
	ownImageNorm := cal != nil && cal.ImageNorm != ""
	if ownImageNorm {
		// From the raw grid, before the map's normalisation below.
		r.Score = imageScore(grid, gh, gw, *cal)
	}
	if cal != nil {
		normalizePositions(grid, gh, gw, *cal)
	}
	if !ownImageNorm {
		r.Score = float64(slices.Max(grid))
	}
	r.Map = d.anomalyMap(r.Grid)
	if cal != nil && cal.calibrated() {
		r.Normalized = Normalize(r.Score, cal.ImageThreshold, *cal)
		r.Defect = r.Score > cal.ImageThreshold
	}
	return r
}

// PredictFiles scores image files in order, calling fn for each result.
// Unreadable images are errors unless skipBad is set, in which case warn is
// told about them. It stops when ctx is done, with ctx's error.
func (d *Detector) PredictFiles(ctx context.Context, paths []string, skipBad bool, warn func(error), fn func(*Result) error) error {
	return d.predictFiles(ctx, paths, badImages{skipBad, warn}, &d.Calibration, fn)
}

// predictFiles is PredictFiles with the calibration given (nil: raw
// scores, as calibration needs them).
func (d *Detector) predictFiles(ctx context.Context, paths []string, bad badImages, cal *Calibration, fn func(*Result) error) error {
	e, err := d.extractor()
	if err != nil {
		return err
	}
	return e.run(ctx, paths, bad, scoreLayers(d.Method), eachItem(func(it *Item) error {
		r, err := d.score(it, cal)
		if err != nil {
			return err
		}
		return fn(r)
	}))
}

// Predict scores one image file.
func (d *Detector) Predict(ctx context.Context, path string) (*Result, error) {
	var res *Result
	err := d.PredictFiles(ctx, []string{path}, false, nil, func(r *Result) error { res = r; return nil })
	return res, err
}

// PredictImages scores already-decoded images as one backbone batch (so a
// server can batch concurrent requests) and returns their results in order,
// with Result.Index the position in imgs and Path empty. It may be called
// concurrently: images are preprocessed and scored in the caller's
// goroutine, and the backbone runs one batch at a time. A nil image is an
// error. ctx is checked before the backbone runs.
func (d *Detector) PredictImages(ctx context.Context, imgs []*dataset.RGB) ([]*Result, error) {
	if len(imgs) == 0 {
		return nil, nil
	}
	e, err := d.extractor()
	if err != nil {
		return nil, err
	}
	_, errs, x := e.prepare(len(imgs), func(k int) (*dataset.RGB, error) {
		if imgs[k] == nil || imgs[k].W <= 0 || imgs[k].H <= 0 || len(imgs[k].Pix) < 3*imgs[k].W*imgs[k].H {
			return nil, fmt.Errorf("predict: image %d is empty or its pixels do not match its size", k)
		}
		return imgs[k], e.fits(imgs[k], fmt.Sprintf("predict: image %d", k))
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bf, err := e.features(x, scoreLayers(d.Method))
	if err != nil {
		return nil, err
	}
	defer e.recycle(bf)
	res := make([]*Result, len(imgs))
	for k, img := range imgs {
		it := bf.item(k, e.tiles())
		it.Index, it.Image = k, img
		if res[k], err = d.score(it, &d.Calibration); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// PixelMapOriginal returns r's anomaly map on the original image's pixel
// grid (pixels outside the crop window get 0; a tiled model sees them all).
func (d *Detector) PixelMapOriginal(r *Result) anomalymap.Map {
	if d.Tiling != nil {
		return preprocess.FromResized(r.Map, r.Image.W, r.Image.H)
	}
	return preprocess.ToOriginal(r.Map, r.Image.W, r.Image.H, d.Preprocess, 0)
}

// Stage reports progress: stage names the step, done of total items.
type Stage func(stage string, done, total int)

// TrainOptions configure Train.
type TrainOptions struct {
	// Backbone is the registered backbone name.
	Backbone string
	// Preprocess overrides the backbone's default input transform when its
	// Crop is set.
	Preprocess preprocess.Params
	// Tiling, when set, makes a tiled model (see Detector.Tiling): its Size
	// overrides Preprocess (TilePreprocess), and its image size, when 0, is
	// taken from the first readable training image.
	Tiling *tile.Spec
	// Precision is the arithmetic of the backbone's convolutions
	// (nn.Float32 by default); the model keeps it.
	Precision nn.Precision
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
	// Norm fixes the per-position normalisation; "" lets training choose
	// among NormModes on synthetic defects (RawScores fixes NormOff).
	Norm NormMode
	// LambdaFactors are the multiples of Solve.Lambda that CRD training
	// chooses among (nil: DefaultLambdaFactors; one value fixes it).
	LambdaFactors []float64
	// SyntheticPerImage is the number of synthetic defects painted on each
	// held-out image to choose the settings on (0: DefaultSyntheticPerImage).
	SyntheticPerImage int
	// Seed fixes the hold-out split and the coreset selection.
	Seed uint64
	// Batch is the backbone batch size (DefaultBatch).
	Batch int
	// SkipBad turns unreadable images into warnings.
	SkipBad bool
	// Limits bounds the image files read (the zero value: dataset's
	// defaults); the trained detector keeps it.
	Limits dataset.Limits
	// Warn receives warnings; Progress receives progress.
	Warn     func(error)
	Progress Stage
	// Log receives one line per finished stage with its duration.
	Log io.Writer
}

// DefaultTrainOptions are the settings `crd train` uses without flags. The
// threshold rule is fpr:0.05, the score that 5% of normal images are
// expected to exceed by a log-normal fit to the held-out scores. On
// ball_screw and screw it gave the best accuracy of the rules measured
// (max, fpr:0.01, 0.02, 0.05) and the only recall of at least 60% and 25%
// there, with the test sets' false-reject rates inside the stated
// intervals (docs/accuracy.md). A line that cannot re-inspect 5% of
// its good parts sets fpr:0.01 and catches fewer defects.
func DefaultTrainOptions() TrainOptions {
	return TrainOptions{
		Backbone:  "inception_v3",
		Method:    crd.Method,
		Solve:     crd.DefaultSolveOptions(),
		Coreset:   0.1,
		Holdout:   0.1,
		Threshold: ThresholdRule{Quantile: 1, Rate: 0.05},
		Seed:      1,
		Batch:     DefaultBatch,
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
// memory bank for kNN), then the held-out images set the thresholds. It
// stops when ctx is done, with ctx's error.
func Train(ctx context.Context, paths []string, opts TrainOptions) (*Detector, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("train: no training images")
	}
	if opts.Method != "" && opts.Method != crd.Method && opts.Method != knn.Method {
		return nil, fmt.Errorf("train: unknown method %q (want crd or knn)", opts.Method)
	}
	train, held := SplitHoldout(paths, opts.Holdout, opts.Seed)
	if opts.SkipBad {
		train, held = readableHoldout(train, held, opts.Limits, opts.Warn)
	}
	ext, err := newTrainExtractor(paths, &opts)
	if err != nil {
		return nil, err
	}
	if opts.Batch > 0 {
		ext.Batch = opts.Batch
	}
	ext.SkipBad, ext.Warn = opts.SkipBad, opts.Warn
	// One model per candidate lambda factor (one model for kNN, factors
	// nil); without held-out images only the first.
	var ms []Method
	var factors []float64
	if opts.Method == knn.Method {
		var m Method
		m, err = trainKNN(ctx, ext, train, &opts)
		ms = []Method{m}
	} else {
		factors = opts.lambdaFactors()
		if len(held) == 0 {
			factors = factors[:1]
		}
		ms, err = trainCRD(ctx, ext, train, factors, &opts)
	}
	if err != nil {
		return nil, err
	}
	d, err := New(ms[0], opts.Backbone, ext.Preprocess)
	if err != nil {
		return nil, err
	}
	d.ext, d.Limits, d.Tiling, d.Precision = ext, opts.Limits, ext.tiling, opts.Precision
	if len(held) == 0 {
		return d, d.Calibrate(ctx, held, opts)
	}
	k, err := d.selectAndCalibrate(ctx, held, ms, factors, opts)
	if err != nil {
		return nil, err
	}
	d.Method = ms[k]
	return d, nil
}

// trainCRD streams the features of paths into a Gram matrix and solves it
// once for each factor times the lambda given.
func trainCRD(ctx context.Context, ext *Extractor, paths []string, factors []float64, opts *TrainOptions) ([]Method, error) {
	t0 := time.Now()
	acc := crd.NewAccumulator(ext.Net.Info().Dim())
	done := 0
	err := ext.RunBatches(ctx, paths, func(items []*Item, f *nn.Tensor) error {
		acc.AddBatch(f.Data, f.N, f.H*f.W)
		done += len(items)
		opts.progress("train", done, len(paths))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if acc.NumImages() == 0 {
		return nil, fmt.Errorf("train: no readable training images")
	}
	opts.logf("features and Gram matrix: %d images (%d backbone inputs), %d patches in %s", done, acc.NumImages(), acc.NumPatches(), since(t0))
	t1 := time.Now()
	var ms []Method
	for _, f := range factors {
		so := opts.Solve
		so.Lambda *= f
		m, err := acc.Solve(so)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	opts.logf("solve (d = %d, %d lambdas): %s", acc.D(), len(ms), since(t1))
	return ms, nil
}

// trainKNN collects the features of paths into a memory bank and selects
// its coreset.
func trainKNN(ctx context.Context, ext *Extractor, paths []string, opts *TrainOptions) (Method, error) {
	t0 := time.Now()
	b := knn.NewBankBuilder(ext.Net.Info().Dim(), 0)
	done := 0
	err := ext.Run(ctx, paths, func(it *Item) error {
		f := it.Features
		for t := 0; t < f.N; t++ {
			b.Add(f.Image(t).Data, f.H*f.W)
		}
		done++
		opts.progress("train", done, len(paths))
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
	n := b.Len()
	m, err := b.Build(ctx, knn.CoresetOptions{Ratio: opts.Coreset, Seed: opts.Seed,
		Progress: func(done, total int) { opts.progress("coreset", done, total) }})
	if err != nil {
		return nil, err
	}
	opts.logf("coreset (ratio %g, %d of %d patches): %s", opts.Coreset, m.Len(), n, since(t1))
	return m, nil
}

// Uncalibrated is the Calibration.ImageMethod of a model without
// thresholds: it scores images but flags none of them.
const Uncalibrated = "none"

// Calibrated reports whether the model has thresholds.
func (d *Detector) Calibrated() bool { return d.Calibration.calibrated() }

// calibrated reports whether c holds thresholds.
func (c *Calibration) calibrated() bool {
	return c.ImageMethod != "" && c.ImageMethod != Uncalibrated
}

// Calibrate sets the per-position normalisation and the thresholds from
// normal images that are not in the model (see CalibrateGrids), scored raw.
// With no images it marks the model Uncalibrated. On error (or when ctx is
// done) the old calibration is kept.
func (d *Detector) Calibrate(ctx context.Context, normals []string, opts TrainOptions) error {
	if len(normals) == 0 {
		d.Calibration = Calibration{ImageMethod: Uncalibrated}
		opts.logf("calibration: no held-out images, no threshold set")
		return nil
	}
	t0 := time.Now()
	var grids [][]float32
	gh, gw := 0, 0
	err := d.predictFiles(ctx, normals, badImages{opts.SkipBad, opts.Warn}, nil, func(r *Result) error {
		grids = append(grids, r.Grid.Pix)
		gh, gw = r.Grid.H, r.Grid.W
		opts.progress("calibrate", len(grids), len(normals))
		return nil
	})
	if err == nil && len(grids) == 0 {
		err = fmt.Errorf("calibrate: no readable held-out images")
	}
	if err != nil {
		return err
	}
	d.CalibrateModes(grids, gh, gw, opts.Threshold, opts.normFor(d), opts.imageNormFor(d))
	opts.logf("calibration (%s): %s", since(t0), d.CalibrationSummary())
	return nil
}

// Tool names the program written into model files.
const Tool = "crd 0.2"

func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }
