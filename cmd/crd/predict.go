package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/report"
)

// prediction is the --json record of one image.
type prediction struct {
	Path       string  `json:"path"`
	Score      float64 `json:"score"`
	Normalized float64 `json:"normalized"`
	Label      string  `json:"label"`
	Threshold  float64 `json:"threshold"`
	Heatmap    string  `json:"heatmap,omitempty"`
	Mask       string  `json:"mask,omitempty"`
}

// expandPaths turns files and folders into image files.
func expandPaths(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		if st.IsDir() {
			imgs, skipped, err := dataset.ListImagesSkipped(a)
			if err != nil {
				return nil, err
			}
			warnSkipped(skipped)
			out = append(out, imgs...)
		} else {
			out = append(out, a)
		}
	}
	return out, nil
}

// outBatch is predict's default batch when it writes heat maps: the PNG
// writer shares the cores with the trunk, which at one image a call (with
// its activations in the caches) then lost 1.13-1.17x against 8 images a
// call in interleaved runs on 301 ball_screw images, while without --out
// one image a call was 1.07-1.1x faster (docs/profile.md).
const outBatch = 8

func runPredict(ctx context.Context, args []string) error {
	fs := newFlags("predict", "-m MODEL [--out DIR] [--json] PATH...", `  crd predict -m ball_screw.crd part_0001.png part_0002.png
  crd predict -m ball_screw.crd --out heatmaps/ --json incoming/      # every image in a folder
`)
	var model, out string
	var asJSON, skipBad, quiet bool
	var maxPixels int64
	var batch int
	fs.StringVar(&model, "m", "", "model file")
	fs.IntVar(&batch, "batch", 0, fmt.Sprintf("images per backbone call (0: %d, or %d with --out, the faster choices measured)", detector.DefaultBatch, outBatch))
	fs.Int64Var(&maxPixels, "max-pixels", 0, maxPixelsHelp)
	fs.StringVar(&out, "out", "", "write a heatmap overlay PNG and a binary defect-mask PNG per image into this folder")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per image")
	fs.BoolVar(&skipBad, "skip-bad", false, "warn about unreadable images and go on")
	fs.BoolVar(&quiet, "quiet", false, "no progress bar")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if model == "" {
		return usagef("-m MODEL is required")
	}
	if batch < 0 {
		return usagef("--batch must be 0 or more, not %d", batch)
	}
	if len(pos) == 0 {
		return usagef("no images given")
	}
	paths, err := expandPaths(pos)
	if err != nil {
		return err
	}
	d, err := loadModel(model, maxPixels)
	if err != nil {
		return err
	}
	d.Batch = batch
	if batch == 0 && out != "" {
		d.Batch = outBatch
	}
	if !d.Calibrated() {
		fmt.Fprintf(os.Stderr, "warning: %s has no threshold (run 'crd calibrate'): every image is labelled ok\n", oneLine(model))
	}
	if out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
	}
	p := newProgress(quiet || asJSON)
	defer p.done()
	enc := json.NewEncoder(os.Stdout)
	if !asJSON {
		fmt.Printf("%-50s %12s %10s  %s\n", "image", "score", "normalized", "label")
	}
	n, defects := 0, 0
	names := newOutputNames(out, paths)
	warn := warner(p)
	// emit writes one result's files and prints its line, in input order.
	emit := func(r *detector.Result, pr prediction) error {
		if out != "" {
			var err error
			detector.InStage(ctx, detector.StageOutput, func() { err = report.WritePredictionPNGs(d, r, pr.Heatmap, pr.Mask) })
			if err != nil {
				return err
			}
		}
		n++
		if r.Defect {
			defects++
		}
		p.update("predict", n, len(paths))
		if asJSON {
			return enc.Encode(pr)
		}
		p.done()
		fmt.Printf("%-50s %12.6g %10.3f  %s\n", oneLine(r.Path), r.Score, r.Normalized, pr.Label)
		return nil
	}
	// With --out, the heat maps are written by another goroutine while the
	// backbone runs the next images.
	w := newOrderedWriter(emit, out != "")
	err = d.PredictFiles(ctx, paths, skipBad, warn, func(r *detector.Result) error {
		pr := prediction{Path: r.Path, Score: r.Score, Normalized: r.Normalized, Label: "ok", Threshold: d.Calibration.ImageThreshold}
		if r.Defect {
			pr.Label = "defect"
		}
		if out != "" {
			pr.Heatmap, pr.Mask = names.next(r.Path)
		}
		return w.add(r, pr)
	})
	if werr := w.close(); err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("none of the %d images could be read", len(paths))
	}
	if !asJSON && !quiet {
		fmt.Fprintf(os.Stderr, "%d images, %d flagged as defect\n", n, defects)
	}
	return nil
}

// outputNames gives each predicted image its own heat-map and mask file
// names in the output folder: NAME.EXT.heatmap.png and NAME.EXT.mask.png,
// with "-2", "-3", ... added when two inputs share a name or when the name
// is taken by one of the inputs (so an input is never overwritten).
type outputNames struct {
	dir   string
	taken map[string]bool
}

func newOutputNames(dir string, inputs []string) *outputNames {
	o := &outputNames{dir: dir, taken: map[string]bool{}}
	for _, in := range inputs {
		o.taken[absPath(in)] = true
	}
	return o
}

// next returns the heat-map and mask paths for the image at path.
func (o *outputNames) next(path string) (heatmap, mask string) {
	base := filepath.Base(path)
	for i := 1; ; i++ {
		stem := base
		if i > 1 {
			stem = fmt.Sprintf("%s-%d", base, i)
		}
		heatmap = filepath.Join(o.dir, stem+".heatmap.png")
		mask = filepath.Join(o.dir, stem+".mask.png")
		if !o.taken[absPath(heatmap)] && !o.taken[absPath(mask)] {
			o.taken[absPath(heatmap)], o.taken[absPath(mask)] = true, true
			return heatmap, mask
		}
	}
}

// absPath is path made absolute and clean (path itself if that fails).
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return filepath.Clean(path)
}

// orderedWriter hands results to emit in order, in the caller's goroutine
// or, when async, in a goroutine of its own so that the caller can go on
// (a few results are queued). After emit's first error no more results are
// emitted and add returns that error.
type orderedWriter struct {
	emit  func(*detector.Result, prediction) error
	queue chan writeJob
	done  chan struct{}
	mu    sync.Mutex
	err   error
}

type writeJob struct {
	r  *detector.Result
	pr prediction
}

// writeQueue is how many results wait for an asynchronous orderedWriter.
const writeQueue = 4

func newOrderedWriter(emit func(*detector.Result, prediction) error, async bool) *orderedWriter {
	w := &orderedWriter{emit: emit}
	if async {
		w.queue, w.done = make(chan writeJob, writeQueue), make(chan struct{})
		go func() {
			defer close(w.done)
			for j := range w.queue {
				if w.failed() == nil {
					w.fail(emit(j.r, j.pr))
				}
			}
		}()
	}
	return w
}

func (w *orderedWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *orderedWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

// add emits r (now or later); it returns the first error of emit so far.
func (w *orderedWriter) add(r *detector.Result, pr prediction) error {
	if err := w.failed(); err != nil {
		return err
	}
	if w.queue == nil {
		w.fail(w.emit(r, pr))
		return w.failed()
	}
	w.queue <- writeJob{r, pr}
	return nil
}

// close waits for the queued results and returns emit's first error.
func (w *orderedWriter) close() error {
	if w.queue == nil {
		return w.failed()
	}
	close(w.queue)
	<-w.done
	return w.failed()
}
