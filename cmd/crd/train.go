package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/tile"
)

// trainFlags are the flags shared by train and demo.
type trainFlags struct {
	backbone, method, lambdaMode, score, threshold, norm string
	tile, scale, precision                               string
	lambda, coreset, holdout                             float64
	size, batch, synthetic                               int
	maxPixels                                            int64
	seed                                                 uint64
	noGram, skipBad, quiet, rawScores                    bool
	// fs tells which flags were given.
	fs *flag.FlagSet
}

func (t *trainFlags) register(fs *flag.FlagSet) {
	t.fs = fs
	def := detector.DefaultTrainOptions()
	fs.StringVar(&t.backbone, "backbone", def.Backbone, "backbone: inception_v3, wide_resnet50_2 or resnet18 (see 'crd backbone list')")
	fs.StringVar(&t.method, "method", "crd", "scorer: crd, or knn for the PatchCore nearest-neighbour baseline")
	fs.StringVar(&t.precision, "precision", def.Precision.String(), "arithmetic of the backbone's convolutions, kept in the model: float32, or bf16 (inputs and weights rounded to bfloat16, float32 sums; the AVX512_BF16 kernel where the CPU has it, else emulated)")
	fs.Float64Var(&t.lambda, "lambda", def.Solve.Lambda, "CRD regulariser lambda, read according to --lambda-mode; without this flag training also tries 0.3x and 3x it on synthetic defects and keeps the best")
	fs.StringVar(&t.lambdaMode, "lambda-mode", string(def.Solve.Mode), "relative (lambda times trace(G)/d) or absolute (the paper's lambda = 5 is --lambda 5 --lambda-mode absolute)")
	fs.StringVar(&t.score, "score", string(def.Solve.Score), "CRD patch score: residual (the paper's ||M y||^2) or objective (lambda y^T (G + lambda I)^-1 y)")
	fs.Float64Var(&t.coreset, "coreset", def.Coreset, "knn: coreset ratio in (0, 1]; 1 keeps the whole memory bank")
	fs.Float64Var(&t.holdout, "holdout", def.Holdout, "fraction of normal images held out of the model to set the thresholds")
	fs.StringVar(&t.threshold, "threshold", def.Threshold.String(), thresholdHelp)
	fs.StringVar(&t.norm, "norm", "auto", "per-position score normalisation: on, off, shrunk, or auto (the best of the three on synthetic defects painted on the held-out images)")
	fs.BoolVar(&t.rawScores, "raw-scores", false, rawScoresHelp+" (the same as --norm off)")
	fs.IntVar(&t.synthetic, "synthetic", detector.DefaultSyntheticPerImage, "synthetic defects painted on each held-out image to choose the settings on: more make the choice surer, each costs one backbone pass per held-out image")
	fs.IntVar(&t.size, "size", 0, "input size (resize and crop side); 0 keeps the backbone's default")
	fs.StringVar(&t.tile, "tile", "", "SIZE[:OVERLAP]: keep the aspect ratio and cut the scaled image into SIZE x SIZE tiles (the backbone's input side), neighbours overlapping by at least OVERLAP pixels (default 0), instead of squashing it to one square; all images must have the training images' size")
	fs.StringVar(&t.scale, "scale", "auto", "with --tile: the factor applied to the image's width and height before tiling, or auto (the short side becomes SIZE)")
	fs.IntVar(&t.batch, "batch", def.Batch, "images per backbone call")
	fs.Int64Var(&t.maxPixels, "max-pixels", 0, maxPixelsHelp)
	fs.Uint64Var(&t.seed, "seed", def.Seed, "seed of the hold-out split and the coreset")
	fs.BoolVar(&t.noGram, "no-gram", false, "do not keep G in the model file: half the size, but it can no longer be updated or merged")
	fs.BoolVar(&t.skipBad, "skip-bad", false, "warn about unreadable images and go on, instead of stopping")
	fs.BoolVar(&t.quiet, "quiet", false, "no progress bars or stage timings")
}

const thresholdHelp = "threshold rule on held-out normal images: " + thresholdRules

const thresholdRules = "fpr:R (the score a fraction R of normal images is expected to exceed, from a log-normal fit to their scores; fpr:R:gumbel for a Gumbel fit), max (the largest score), or quantile:Q"

const rawScoresHelp = "do not divide patch scores by the held-out normal mean at each grid position (thresholds on raw scores)"

// options turns the flags into detector options.
func (t *trainFlags) options(p *progress) (detector.TrainOptions, error) {
	o := detector.DefaultTrainOptions()
	o.Backbone, o.Method, o.Coreset, o.Holdout, o.Seed, o.Batch, o.SkipBad = t.backbone, t.method, t.coreset, t.holdout, t.seed, t.batch, t.skipBad
	o.Solve = crd.SolveOptions{Lambda: t.lambda, Mode: crd.LambdaMode(t.lambdaMode), Score: crd.ScoreKind(t.score)}
	if err := o.Solve.Validate(); err != nil {
		return o, usagef("%v", err)
	}
	var err error
	if o.Precision, err = nn.ParsePrecision(t.precision); err != nil {
		return o, usagef("--precision: %v", err)
	}
	if err := checkFraction("holdout", t.holdout, 0, 1, false); err != nil {
		return o, err
	}
	if t.method == "knn" && !ratio(t.coreset) {
		return o, usagef("--coreset %g: want a ratio in (0, 1]", t.coreset)
	}
	if err := checkSize(t.size); err != nil {
		return o, err
	}
	if err := checkBatch(t.batch); err != nil {
		return o, err
	}
	if t.synthetic < 1 || t.synthetic > 64 {
		return o, usagef("--synthetic %d: want 1 to 64 defects per held-out image", t.synthetic)
	}
	o.SyntheticPerImage = t.synthetic
	limits, err := imageLimits(t.maxPixels)
	if err != nil {
		return o, err
	}
	o.Limits = limits
	rule, err := detector.ParseThresholdRule(t.threshold)
	if err != nil {
		return o, usagef("--threshold: %v", err)
	}
	o.Threshold, o.RawScores = rule, t.rawScores
	if t.norm != "auto" {
		if o.Norm, err = detector.ParseNormMode(t.norm); err != nil {
			return o, usagef("--norm: %v", err)
		}
	}
	if t.fs != nil {
		t.fs.Visit(func(f *flag.Flag) {
			if f.Name == "lambda" {
				o.LambdaFactors = []float64{1}
			}
		})
	}
	if t.size > 0 {
		o.Preprocess, err = sizedPreprocess(t.backbone, t.size)
		if err != nil {
			return o, err
		}
	}
	if o.Tiling, err = t.tiling(); err != nil {
		return o, err
	}
	o.Progress = p.update
	o.Warn = warner(p)
	if !t.quiet {
		o.Log = os.Stderr
	}
	return o, nil
}

// tiling reads --tile and --scale: nil without --tile.
func (t *trainFlags) tiling() (*tile.Spec, error) {
	scaleSet := false
	if t.fs != nil {
		t.fs.Visit(func(f *flag.Flag) { scaleSet = scaleSet || f.Name == "scale" })
	}
	if t.tile == "" {
		if scaleSet {
			return nil, usagef("--scale %s needs --tile SIZE[:OVERLAP]", t.scale)
		}
		return nil, nil
	}
	if t.size > 0 {
		return nil, usagef("--size and --tile both set the input side: give one (--tile SIZE)")
	}
	s, err := tile.Parse(t.tile, t.scale)
	if err != nil {
		return nil, usagef("--tile %s --scale %s: %v", t.tile, t.scale, err)
	}
	if s.Size < minInputSize || s.Size > preprocess.MaxCrop {
		return nil, usagef("--tile %s: want a tile side from %d to %d pixels", t.tile, minInputSize, preprocess.MaxCrop)
	}
	return &s, nil
}

// trainImages resolves --data: an MVTec category (its train/good images) or
// a plain folder of images.
func trainImages(dir string) ([]string, error) {
	if dir == "" {
		return nil, usagef("--data is required")
	}
	if st, err := os.Stat(filepath.Join(dir, "train", "good")); err == nil && st.IsDir() {
		cat, err := dataset.OpenCategory(dir)
		if err != nil {
			return nil, err
		}
		if len(cat.Train) == 0 {
			return nil, fmt.Errorf("%s: no images in train/good", dir)
		}
		warnSkipped(cat.Skipped)
		return cat.Train, nil
	}
	if cats, err := dataset.FindCategories(dir); err == nil && len(cats) > 1 {
		return nil, fmt.Errorf("%s holds %d categories (%s): train one model per category, e.g. --data %s",
			dir, len(cats), strings.Join(cats, ", "), cats[0])
	}
	paths, skipped, err := dataset.ListImagesSkipped(dir)
	if err != nil {
		return nil, err
	}
	warnSkipped(skipped)
	return paths, nil
}

func runTrain(ctx context.Context, args []string) error {
	fs := newFlags("train", "--data DIR -o MODEL [flags]", `  crd train --data mvtec/screw -o screw.crd
  crd train --data images/good -o line3.crd --backbone wide_resnet50_2 --lambda 5 --lambda-mode absolute
  crd train --data new_good/ -o line3.crd --resume line3.crd     # add normal images to a model
  crd train --data mvtec/screw -o screw-knn.crd --method knn --coreset 0.1
  crd train --data ball_screw -o ball_screw.crd --tile 299:32     # keep the aspect ratio: short side 299, 3 tiles
  crd train --data mvtec/screw -o screw.crd --tile 299:64 --scale 0.5  # 1024 x 1024 -> 512 x 512 in 2 x 2 tiles
`)
	var t trainFlags
	t.register(fs)
	var data, out, resume string
	var force bool
	fs.StringVar(&data, "data", "", "training images: an MVTec category folder (uses train/good) or a folder of normal images")
	fs.StringVar(&out, "o", "", "output model file")
	fs.StringVar(&resume, "resume", "", "add the images to this model (saved with G) instead of starting anew")
	fs.BoolVar(&force, "force", false, "replace -o even if it is not a crd model file")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected arguments %q (images go in --data DIR)", pos)
	}
	if out == "" {
		return usagef("-o MODEL is required")
	}
	if resume != "" {
		if err := resumeConflicts(fs); err != nil {
			return err
		}
	}
	p := newProgress(t.quiet)
	defer p.done()
	opts, err := t.options(p)
	if err != nil {
		return err
	}
	paths, err := trainImages(data)
	if err != nil {
		return err
	}
	if err := checkModelOutput(out, force, paths); err != nil {
		return err
	}
	var d *detector.Detector
	if resume != "" {
		if d, err = detector.Load(resume); err != nil {
			return err
		}
		d.Limits = opts.Limits
		err = d.AddNormals(ctx, paths, opts)
	} else {
		d, err = detector.Train(ctx, paths, opts)
	}
	if err != nil {
		return err
	}
	p.done()
	if err := d.Save(out, !t.noGram); err != nil {
		return err
	}
	if !t.quiet {
		fmt.Fprintf(os.Stderr, "wrote %s\n", out)
	}
	return nil
}

// resumeConflicts rejects the flags that --resume cannot honour: the model
// being extended fixes the backbone, input size, method, precision and CRD
// settings.
func resumeConflicts(fs *flag.FlagSet) error {
	fixed := map[string]bool{"backbone": true, "size": true, "tile": true, "scale": true, "method": true, "lambda": true, "lambda-mode": true,
		"score": true, "coreset": true, "precision": true}
	var set []string
	fs.Visit(func(f *flag.Flag) {
		if fixed[f.Name] {
			set = append(set, "--"+f.Name)
		}
	})
	if len(set) > 0 {
		return usagef("--resume keeps the model's own settings; %s cannot change them (train a new model instead)", strings.Join(set, ", "))
	}
	return nil
}

// sizedPreprocess is the backbone's default preprocessing at another input
// size, keeping its resize-to-crop ratio.
func sizedPreprocess(name string, size int) (preprocess.Params, error) {
	p, err := defaultPreprocess(name)
	if err != nil {
		return p, err
	}
	if p.Resize > 0 && p.Resize != p.Crop {
		p.Resize = int(float64(size)*float64(p.Resize)/float64(p.Crop) + 0.5)
	} else {
		p.Resize = size
	}
	p.Crop = size
	return p, nil
}
