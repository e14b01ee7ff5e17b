package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/synth"
)

func runDemo(ctx context.Context, args []string) error {
	fs := newFlags("demo", "[--out DIR] [--quick]", `  crd demo                      # writes crd-demo/: data, model and report
  crd demo --out /tmp/demo --quick
`)
	var t trainFlags
	t.register(fs)
	var out string
	var quick bool
	var seed uint64
	fs.StringVar(&out, "out", "crd-demo", "folder for the generated data, the model and the report (a previous demo there is replaced; anything else is left alone)")
	fs.BoolVar(&quick, "quick", false, "a smaller data set, for a smoke test")
	fs.Uint64Var(&seed, "data-seed", 1, "seed of the synthetic data set")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected arguments %q", pos)
	}
	say := func(format string, a ...any) {
		if !t.quiet {
			fmt.Fprintf(os.Stderr, format+"\n", a...)
		}
	}
	dataDir := filepath.Join(out, "surface")
	modelPath := filepath.Join(out, "model.crd")
	reportDir := filepath.Join(out, "report")
	if err := prepareDemoDir(out, dataDir, reportDir, modelPath); err != nil {
		return err
	}

	timings := map[string]float64{}
	t0 := time.Now()
	o := synth.DefaultOptions()
	o.Seed = seed
	if quick {
		o.NumTrain, o.NumTestGood, o.NumPerDefect, o.Size = 16, 4, 3, 160
	}
	if err := synth.Generate(dataDir, o); err != nil {
		return err
	}
	timings["generate data"] = time.Since(t0).Seconds()
	say("1/3 generated %d training and %d test images (%s) in %s: %s", o.NumTrain, o.NumTestGood+o.NumPerDefect*len(synth.DefectTypes()),
		fmt.Sprint(synth.DefectTypes()), time.Since(t0).Round(time.Millisecond), dataDir)

	cat, err := dataset.OpenCategory(dataDir)
	if err != nil {
		return err
	}
	p := newProgress(t.quiet)
	defer p.done()
	opts, err := t.options(p)
	if err != nil {
		return err
	}
	t1 := time.Now()
	d, err := detector.Train(ctx, cat.Train, opts)
	if err != nil {
		return err
	}
	if err := d.Save(modelPath, !t.noGram); err != nil {
		return err
	}
	p.done()
	timings["train"] = time.Since(t1).Seconds()
	nImages, _ := d.Method.Counts()
	say("2/3 trained a %s model on %d images with backbone %s in %s: %s", d.Method.Name(), nImages, d.Backbone,
		time.Since(t1).Round(time.Millisecond), modelPath)

	t2 := time.Now()
	ev, err := evaluate(ctx, d, cat, reportDir, 60, false, p, timings)
	if err != nil {
		return err
	}
	p.done()
	timings["evaluate"] = time.Since(t2).Seconds()
	say("3/3 evaluated %d test images in %s", ev.Overall.NImages, time.Since(t2).Round(time.Millisecond))
	if !t.quiet {
		printEval(os.Stdout, d, ev)
	}
	say("report: %s", filepath.Join(reportDir, "index.html"))
	return nil
}

// demoMarker is the file by which crd recognises a folder that a previous
// demo wrote.
const demoMarker = ".crd-demo"

// prepareDemoDir makes out ready for a demo run. The demo's own outputs
// (data, report, model) are replaced only when the marker file shows that a
// previous demo wrote them; if any of them exists without the marker, the
// demo refuses rather than delete a user's files.
func prepareDemoDir(out string, dataDir, reportDir, modelPath string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	marker := filepath.Join(out, demoMarker)
	_, err := os.Lstat(marker)
	ours := err == nil
	for _, p := range []string{dataDir, reportDir, modelPath} {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if !ours {
			return fmt.Errorf("%s already exists and was not written by 'crd demo' (no %s in %s): choose another --out, or move it away", p, demoMarker, out)
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return os.WriteFile(marker, []byte("written by 'crd demo'; crd replaces surface/, report/ and model.crd here on the next demo run\n"), 0o644)
}
