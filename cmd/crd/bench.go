package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/crd-ad/crd/bench"
	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/internal/atomicfile"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/weights"
)

func runBench(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "serve" {
		return runBenchServe(ctx, args[1:])
	}
	fs := newFlags("bench", "--data DIR [--json] [--plot FILE] [--lambdas LIST]", `  crd bench --data mvtec/screw
  crd bench --data mvtec/screw --max-train 100 --plot growth.svg --lambdas 1e-4,1e-3,1e-2,1e-1
  crd bench --data DIR --json > bench.json
  crd bench --trunk --backbone resnet18 --batch 8 --rounds 5 --json    # the backbone alone, random weights
  crd bench --trunk --profile-layers --batch 1                          # time and GFLOP/s of every step
  crd bench serve -m MODEL --data DIR         # load test of crd serve: see crd bench serve --help
`)
	var data, plot, lambdas, coresets, fractions, backboneName, lambdaMode, score, precision string
	var lambda, holdout float64
	var maxTrain, size, timing, batch int
	var asJSON, asMarkdown, quiet, trunk, profileLayers, cachedWeights bool
	var rounds int
	fs.StringVar(&data, "data", "", "an MVTec AD layout category")
	fs.StringVar(&backboneName, "backbone", "inception_v3", "backbone")
	fs.IntVar(&size, "size", 0, "input size; 0 keeps the backbone's default")
	fs.Float64Var(&lambda, "lambda", crd.DefaultLambda, "CRD lambda")
	fs.StringVar(&lambdaMode, "lambda-mode", string(crd.DefaultLambdaMode), "relative or absolute")
	fs.StringVar(&score, "score", string(crd.DefaultScore), "residual or objective")
	fs.StringVar(&coresets, "coresets", "1,0.1,0.01", "kNN coreset ratios to compare (1 = full memory bank)")
	fs.StringVar(&lambdas, "lambdas", "", "comma-separated lambdas for a CRD sensitivity sweep (in --lambda-mode)")
	fs.StringVar(&plot, "plot", "", "write an SVG chart of distance-step time and model size against training-set size")
	fs.StringVar(&fractions, "fractions", "0.1,0.25,0.5,1", "training-set fractions for --plot")
	fs.IntVar(&timing, "timing-images", 10, "test images timed per point of --plot")
	fs.Float64Var(&holdout, "holdout", detector.DefaultTrainOptions().Holdout, "fraction of training images held out to calibrate every method (per-position normalisation); 0 = raw scores only")
	fs.IntVar(&maxTrain, "max-train", 0, "use a seeded random subset of this many training images (0 = all)")
	fs.IntVar(&batch, "batch", detector.DefaultBatch, "images per backbone call")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&asMarkdown, "markdown", false, "print the comparison and lambda tables as Markdown, as docs/benchmarks.md shows them")
	fs.BoolVar(&quiet, "quiet", false, "no progress or log lines")
	fs.BoolVar(&trunk, "trunk", false, "time the backbone's forward pass alone on a random batch (no --data): images/s per round and their median")
	fs.BoolVar(&profileLayers, "profile-layers", false, "with --trunk: time every convolution, pooling, concatenation and layout step (median over the rounds)")
	fs.BoolVar(&cachedWeights, "cached-weights", false, "with --trunk: use the cached weights instead of random ones")
	fs.IntVar(&rounds, "rounds", 5, "with --trunk: timed forward passes")
	fs.StringVar(&precision, "precision", "float32", "with --trunk: the convolutions' arithmetic, float32 or bf16")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected arguments %q", pos)
	}
	if trunk || profileLayers {
		if err := checkSize(size); err != nil {
			return err
		}
		if err := checkBatch(batch); err != nil {
			return err
		}
		if rounds < 1 {
			return usagef("--rounds %d: want at least 1", rounds)
		}
		prec, err := nn.ParsePrecision(precision)
		if err != nil {
			return usagef("--precision: %v", err)
		}
		b, err := runTrunkBench(ctx, backboneName, size, batch, rounds, !cachedWeights, profileLayers, prec)
		if err != nil {
			return err
		}
		return writeTrunkBench(b, asJSON)
	}
	if err := checkFraction("holdout", holdout, 0, 1, false); err != nil {
		return err
	}
	if maxTrain < 0 {
		return usagef("--max-train %d: want 0 (all) or a number of images", maxTrain)
	}
	if timing < 1 {
		return usagef("--timing-images %d: want at least 1", timing)
	}
	if err := checkSize(size); err != nil {
		return err
	}
	if err := checkBatch(batch); err != nil {
		return err
	}
	o := bench.Options{Backbone: backboneName, MaxTrain: maxTrain, Holdout: holdout, Seed: 1, Batch: batch, TimingImages: timing,
		Solve: crd.SolveOptions{Lambda: lambda, Mode: crd.LambdaMode(lambdaMode), Score: crd.ScoreKind(score)}}
	if err := o.Solve.Validate(); err != nil {
		return usagef("%v", err)
	}
	if o.Coresets, err = parseList("coresets", coresets, ratio, "a ratio in (0, 1]"); err != nil {
		return err
	}
	if o.Lambdas, err = parseList("lambdas", lambdas, positive, "a positive number"); err != nil {
		return err
	}
	if plot != "" {
		if o.Fractions, err = parseList("fractions", fractions, ratio, "a fraction in (0, 1]"); err != nil {
			return err
		}
		if err := atomicfile.CheckTarget(plot); err != nil {
			return err
		}
	}
	cat, err := openCategory(data)
	if err != nil {
		return err
	}
	if size > 0 {
		if o.Preprocess, err = sizedPreprocess(backboneName, size); err != nil {
			return err
		}
	}
	p := newProgress(quiet)
	defer p.done()
	o.Progress = p.update
	if !quiet {
		o.Log = func(format string, a ...any) { p.done(); fmt.Fprintf(os.Stderr, format+"\n", a...) }
	}
	rep, err := bench.Run(ctx, cat, o)
	if err != nil {
		return err
	}
	p.done()
	if plot != "" {
		svg := bench.PlotSVG(rep.Growth, fmt.Sprintf("%s, %s: distance step and model size vs training images", rep.Category, rep.Backbone))
		if err := weights.WriteFileAtomic(plot, []byte(svg)); err != nil {
			return err
		}
	}
	if err := writeBenchReport(rep, asJSON, asMarkdown); err != nil {
		return err
	}
	if plot != "" && !asJSON && !asMarkdown {
		fmt.Printf("\nplot: %s\n", plot)
	}
	return nil
}

// writeBenchReport prints a comparison report on stdout: as JSON, as the
// Markdown tables of docs/benchmarks.md, or as text tables.
func writeBenchReport(rep *bench.Report, asJSON, asMarkdown bool) error {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if asMarkdown {
		fmt.Print(bench.Markdown(rep))
		return nil
	}
	fmt.Printf("%s: %d training, %d held-out and %d test images, backbone %s (d = %d, %d patches per image), BLAS %s, crd's AVX-512 kernels %v, feature extraction %.0f ms per image\n",
		rep.Category, rep.TrainImages, rep.HeldOut, rep.TestImages, rep.Backbone, rep.D, rep.Patches, rep.BLAS, rep.FusedAVX512, rep.ExtractMsMed)
	fmt.Printf("accuracy with the per-position normalisation fitted on the held-out images; raw: without it\n\n")
	fmt.Printf("%-15s %9s %12s %12s %12s %8s %8s %8s %11s %10s   %8s %8s %8s\n", "method", "train s", "model bytes", "distance ms", "e2e ms",
		"img-AUC", "pix-AUC", "AUPRO", "dist x CRD", "mem x CRD", "raw img", "raw pix", "raw PRO")
	for _, r := range rep.Rows {
		fmt.Printf("%-15s %9.1f %12d %12.2f %12.1f %8.2f %8.2f %8.2f %11.1f %10.1f   %8.2f %8.2f %8.2f\n", r.Method, r.TrainSeconds, r.ModelBytes,
			r.DistanceMs, r.EndToEndMs, 100*r.ImageAUROC, 100*r.PixelAUROC, 100*r.AUPRO, r.SpeedupVsCRD, r.MemoryVsCRD,
			100*r.Raw.ImageAUROC, 100*r.Raw.PixelAUROC, 100*r.Raw.AUPRO)
	}
	if len(rep.Lambdas) > 0 {
		fmt.Printf("\n%-10s %-9s %12s %8s %8s %8s   %8s %8s %8s\n", "lambda", "mode", "absolute", "img-AUC", "pix-AUC", "AUPRO", "raw img", "raw pix", "raw PRO")
		for _, l := range rep.Lambdas {
			fmt.Printf("%-10g %-9s %12.4g %8.2f %8.2f %8.2f   %8.2f %8.2f %8.2f\n", l.Lambda, l.Mode, l.LambdaAbs, 100*l.ImageAUROC, 100*l.PixelAUROC, 100*l.AUPRO,
				100*l.Raw.ImageAUROC, 100*l.Raw.PixelAUROC, 100*l.Raw.AUPRO)
		}
	}
	return nil
}
