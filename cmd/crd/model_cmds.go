package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/crd-ad/crd/preprocess"
	"os"
	"slices"

	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/modelfile"
)

func runMerge(ctx context.Context, args []string) error {
	fs := newFlags("merge", "-o OUT [--calib DIR] MODEL...", `  crd merge -o line3.crd shard1.crd shard2.crd shard3.crd
  crd merge -o line3.crd --calib holdout_good/ shard1.crd shard2.crd
`)
	var out, calib, threshold, norm string
	var quiet, raw, force bool
	fs.StringVar(&out, "o", "", "output model file")
	fs.BoolVar(&force, "force", false, "replace -o even if it is not a crd model file")
	fs.StringVar(&calib, "calib", "", "normal images that none of the models saw, to set the merged model's thresholds")
	fs.StringVar(&threshold, "threshold", detector.DefaultTrainOptions().Threshold.String(), "threshold rule for --calib: "+thresholdRules)
	fs.StringVar(&norm, "norm", "", normCalibHelp)
	fs.BoolVar(&raw, "raw-scores", false, rawScoresHelp)
	fs.BoolVar(&quiet, "quiet", false, "no progress bars or stage timings")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if out == "" || len(pos) < 2 {
		return usagef("need -o OUT and at least two models")
	}
	if err := checkCalibFlags(threshold, norm); err != nil {
		return err
	}
	if err := checkModelOutput(out, force, pos); err != nil {
		return err
	}
	seen := map[[32]byte]string{}
	for _, path := range pos {
		sum, err := fileDigest(path)
		if err != nil {
			return err
		}
		if first, dup := seen[sum]; dup {
			return fmt.Errorf("%q and %q are the same model (same checksum): merging it twice would count its images twice", first, path)
		}
		seen[sum] = path
	}
	var ds []*detector.Detector
	for _, path := range pos {
		d, err := detector.Load(path)
		if err != nil {
			return err
		}
		ds = append(ds, d)
	}
	m, err := detector.Merge(ds)
	if err != nil {
		return err
	}
	if calib != "" {
		if err := calibrateWith(ctx, m, calib, threshold, norm, raw, quiet); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(os.Stderr, "note: %s has no thresholds yet; set them with 'crd calibrate -m %s --data NORMAL_IMAGES'\n", out, out)
	}
	if err := m.Save(out, true); err != nil {
		return err
	}
	if !quiet {
		images, patches := m.Method.Counts()
		fmt.Fprintf(os.Stderr, "merged %d models (%d images, %d patches) into %s\n", len(ds), images, patches, out)
	}
	return nil
}

const normCalibHelp = "per-position score normalisation: on, off or shrunk (default: the one training picked, else on)"

// checkCalibFlags checks the threshold rule and normalisation flags of
// calibrate and merge.
func checkCalibFlags(threshold, norm string) error {
	if _, err := detector.ParseThresholdRule(threshold); err != nil {
		return usagef("--threshold: %v", err)
	}
	if norm != "" {
		if _, err := detector.ParseNormMode(norm); err != nil {
			return usagef("--norm: %v", err)
		}
	}
	return nil
}

// calibrateWith calibrates d on the images of dir with the given threshold
// rule and normalisation ("": the model's own).
func calibrateWith(ctx context.Context, d *detector.Detector, dir, threshold, norm string, raw, quiet bool) error {
	paths, err := expandPaths([]string{dir})
	if err != nil {
		return err
	}
	rule, err := detector.ParseThresholdRule(threshold)
	if err != nil {
		return err
	}
	p := newProgress(quiet)
	defer p.done()
	opts := detector.DefaultTrainOptions()
	opts.Threshold, opts.Progress, opts.RawScores, opts.Norm = rule, p.update, raw, detector.NormMode(norm)
	if !quiet {
		opts.Log = os.Stderr
	}
	return d.Calibrate(ctx, paths, opts)
}

func runCalibrate(ctx context.Context, args []string) error {
	fs := newFlags("calibrate", "-m MODEL --data DIR [-o OUT]", `  crd calibrate -m line3.crd --data holdout_good/
  crd calibrate -m line3.crd --data holdout_good/ --threshold quantile:0.99 -o line3_q99.crd
`)
	var model, data, out, threshold, norm string
	var quiet, raw, force bool
	var maxPixels int64
	fs.StringVar(&model, "m", "", "model file")
	fs.Int64Var(&maxPixels, "max-pixels", 0, maxPixelsHelp)
	fs.BoolVar(&force, "force", false, "replace -o even if it is not a crd model file")
	fs.StringVar(&data, "data", "", "normal images that are not in the model")
	fs.StringVar(&out, "o", "", "output model file (default: overwrite MODEL)")
	fs.StringVar(&threshold, "threshold", detector.DefaultTrainOptions().Threshold.String(), thresholdHelp)
	fs.StringVar(&norm, "norm", "", normCalibHelp)
	fs.BoolVar(&raw, "raw-scores", false, rawScoresHelp)
	fs.BoolVar(&quiet, "quiet", false, "no progress bars or stage timings")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if model == "" || data == "" || len(pos) > 0 {
		return usagef("need -m MODEL and --data DIR")
	}
	if err := checkCalibFlags(threshold, norm); err != nil {
		return err
	}
	if out == "" {
		out = model
	}
	calibImages, err := expandPaths([]string{data})
	if err != nil {
		return err
	}
	if err := checkModelOutput(out, force, calibImages); err != nil {
		return err
	}
	d, err := loadModel(model, maxPixels)
	if err != nil {
		return err
	}
	if err := calibrateWith(ctx, d, data, threshold, norm, raw, quiet); err != nil {
		return err
	}
	return d.Save(out, d.Updatable())
}

func runInfo(ctx context.Context, args []string) error {
	fs := newFlags("info", "MODEL", "  crd info line3.crd\n")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("give one model file")
	}
	f, err := modelfile.Read(pos[0])
	if err != nil {
		return err
	}
	type arr struct {
		Name  string `json:"name"`
		Shape []int  `json:"shape"`
		Type  string `json:"dtype"`
	}
	var arrays []arr
	for _, a := range f.Arrays {
		t := "float32"
		if a.F64 != nil {
			t = "float64"
		}
		arrays = append(arrays, arr{a.Name, a.Shape, t})
	}
	d, err := detector.Decode(f)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	// The per-position means are summarised, not listed.
	type posNorm struct {
		Grid string  `json:"grid"`
		Min  float32 `json:"min"`
		Max  float32 `json:"max"`
	}
	summary := d.CalibrationSummary()
	summarise := func(m *[]float32) *posNorm {
		if len(*m) == 0 {
			return nil
		}
		c := d.Calibration
		pn := &posNorm{fmt.Sprintf("%dx%d", c.GridH, c.GridW), slices.Min(*m), slices.Max(*m)}
		*m = nil
		return pn
	}
	pn := summarise(&d.Calibration.PositionMean)
	ipn := summarise(&d.Calibration.ImagePositionMean)
	h, err := d.MarshalHeader()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Summary      string          `json:"summary"`
		Input        string          `json:"input"`
		Precision    string          `json:"precision,omitempty"`
		Header       json.RawMessage `json:"header"`
		PositionNorm *posNorm        `json:"position_norm,omitempty"`
		ImageNorm    *posNorm        `json:"image_position_norm,omitempty"`
		Arrays       []arr           `json:"arrays"`
	}{summary, d.InputSummary(), bf16Runs(d.Precision), h, pn, ipn, arrays})
}

func runBackbone(ctx context.Context, args []string) error {
	fs := newFlags("backbone", "list | fetch NAME | import NAME FILE", `  crd backbone list
  crd backbone fetch inception_v3                       # the offline default, from the npm package nsfwjs@4.4.0
  crd backbone import wide_resnet50_2 wide_resnet50_2-95faca4d.pth
`)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("need a subcommand: list, fetch or import")
	}
	switch {
	case pos[0] == "list" && len(pos) == 1:
		fmt.Printf("%-18s %-16s %5s %6s  %s\n", "name", "layers", "d", "input", "weights")
		for _, n := range backbone.Names() {
			info, _ := backbone.Lookup(n)
			fmt.Printf("%-18s %-16s %5d %6d  %s\n", n, fmt.Sprint(info.Layers), info.Dim(), info.Preprocess.Crop, info.Weights)
		}
		return nil
	case pos[0] == "fetch" && len(pos) == 2:
		return backbone.Fetch(pos[1], backbone.FetchOptions{Log: os.Stderr})
	case pos[0] == "import" && len(pos) == 3:
		return backbone.Import(pos[1], pos[2])
	}
	return usagef("unknown backbone subcommand %q: want 'list', 'fetch NAME' or 'import NAME FILE'", pos)
}

func defaultPreprocess(name string) (preprocess.Params, error) {
	info, err := backbone.Lookup(name)
	if err != nil {
		return preprocess.Params{}, err
	}
	return info.Preprocess, nil
}
