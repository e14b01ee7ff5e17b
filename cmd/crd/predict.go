package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

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
			imgs, err := dataset.ListImages(a)
			if err != nil {
				return nil, err
			}
			out = append(out, imgs...)
		} else {
			out = append(out, a)
		}
	}
	return out, nil
}

func runPredict(ctx context.Context, args []string) error {
	fs := newFlags("predict", "-m MODEL [--out DIR] [--json] PATH...", `  crd predict -m ball_screw.crd part_0001.png part_0002.png
  crd predict -m ball_screw.crd --out heatmaps/ --json incoming/      # every image in a folder
`)
	var model, out string
	var asJSON, skipBad, quiet bool
	fs.StringVar(&model, "m", "", "model file")
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
	if len(pos) == 0 {
		return usagef("no images given")
	}
	paths, err := expandPaths(pos)
	if err != nil {
		return err
	}
	d, err := detector.Load(model)
	if err != nil {
		return err
	}
	if !d.Calibrated() {
		fmt.Fprintf(os.Stderr, "warning: %s has no threshold (run 'crd calibrate'): every image is labelled ok\n", model)
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
	warn := func(err error) { p.done(); fmt.Fprintf(os.Stderr, "warning: %v\n", err) }
	err = d.PredictFiles(ctx, paths, skipBad, warn, func(r *detector.Result) error {
		n++
		pr := prediction{Path: r.Path, Score: r.Score, Normalized: r.Normalized, Label: "ok", Threshold: d.Calibration.ImageThreshold}
		if r.Defect {
			pr.Label = "defect"
			defects++
		}
		if out != "" {
			pr.Heatmap, pr.Mask = names.next(r.Path)
			var err error
			detector.InStage(ctx, detector.StageOutput, func() { err = report.WritePredictionPNGs(d, r, pr.Heatmap, pr.Mask) })
			if err != nil {
				return err
			}
		}
		p.update("predict", n, len(paths))
		if asJSON {
			return enc.Encode(pr)
		}
		p.done()
		fmt.Printf("%-50s %12.6g %10.3f  %s\n", r.Path, r.Score, r.Normalized, pr.Label)
		return nil
	})
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
