package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/synth"
)

// capture runs the command line and returns its exit code, stdout and stderr.
func capture(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	oldOut, oldErr := os.Stdout, os.Stderr
	ro, wo, _ := os.Pipe()
	re, we, _ := os.Pipe()
	os.Stdout, os.Stderr = wo, we
	outc, errc := make(chan string), make(chan string)
	go func() { b, _ := io.ReadAll(ro); outc <- string(b) }()
	go func() { b, _ := io.ReadAll(re); errc <- string(b) }()
	code := run(args)
	wo.Close()
	we.Close()
	os.Stdout, os.Stderr = oldOut, oldErr
	return code, <-outc, <-errc
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"train", "--no-such-flag"}, 2, "flag provided but not defined: -no-such-flag"},
		{[]string{"train", "--data", t.TempDir()}, 2, "-o MODEL is required"},
		{[]string{"train", "--data", t.TempDir(), "-o", "x.crd"}, 1, "no images"},
		{[]string{"predict", "x.png"}, 2, "-m MODEL is required"},
		{[]string{"predict", "-m", "x.crd", "--batch", "-1", "x.png"}, 2, "--batch must be 0 or more, not -1"},
		{[]string{"eval", "-m", "missing.crd", "--data", t.TempDir()}, 1, ""},
		{[]string{"train", "--data", "x", "-o", "y", "--lambda-mode", "sideways"}, 2, "sideways"},
		{[]string{"train", "--data", "x", "-o", "y", "--precision", "fp8"}, 2, `--precision: unknown precision "fp8"`},
		{[]string{"bench", "--trunk", "--precision", "fp8"}, 2, `--precision: unknown precision "fp8"`},
		{[]string{"backbone", "teleport"}, 2, "unknown backbone subcommand"},
	}
	for _, c := range cases {
		code, _, stderr := capture(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("crd %s: exit %d, stderr %q; want exit %d and %q", strings.Join(c.args, " "), code, stderr, c.code, c.msg)
		}
	}
	if code, stdout, _ := capture(t, "train", "--help"); code != 0 || !strings.Contains(stdout, "Examples:") {
		t.Errorf("train --help: exit %d, %q", code, stdout)
	}
}

func TestCorruptModelFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.crd")
	if err := os.WriteFile(path, []byte("CRDMODEL\x01\x00\x00\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := capture(t, "predict", "-m", path, path)
	if code != 1 || !strings.Contains(stderr, path) {
		t.Fatalf("exit %d, stderr %q: want an error naming the model file", code, stderr)
	}
}

// evalJSON runs crd eval --json --report on model and data and returns
// the metrics.
func evalJSON(t *testing.T, model, data, report string) map[string]any {
	t.Helper()
	code, stdout, stderr := capture(t, "eval", "-m", model, "--data", data, "--json", "--report", report, "--quiet")
	if code != 0 {
		t.Fatalf("eval: %s", stderr)
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(stdout), &ev); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, stdout)
	}
	return ev
}

// TestEndToEnd runs train, predict, eval, info, merge and calibrate with the
// default backbone on a small synthetic category. It needs the inception_v3
// weights (scripts/setup.sh fetches them); without them it skips, except in
// CI, where it fails.
func TestEndToEnd(t *testing.T) {
	requireBackbone(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "surface")
	model := filepath.Join(dir, "m.crd")
	// An explicit lambda, so that the shard trained below merges with this
	// model (automatic selection may pick another multiple).
	synthModel(t, data, model, synth.Options{Seed: 5, Size: 96, NumTrain: 10, NumTestGood: 3, NumPerDefect: 2}, "107", "0.2", "--lambda", "0.01")
	img := filepath.Join(data, "test", "spot", "000.png")
	out := filepath.Join(dir, "out")
	code, stdout, stderr := capture(t, "predict", "-m", model, "--json", "--out", out, img, filepath.Join(data, "test", "good"))
	if code != 0 {
		t.Fatalf("predict: %s", stderr)
	}
	var preds []prediction
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var p prediction
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("predict --json line %q: %v", sc.Text(), err)
		}
		preds = append(preds, p)
	}
	if len(preds) != 4 || preds[0].Path != img {
		t.Fatalf("predictions %+v", preds)
	}
	// A model made by a build with another JPEG decoder gets a warning.
	if strings.Contains(stderr, "decodes JPEG") {
		t.Errorf("predict with this build's model warned: %s", stderr)
	}
	d, err := detector.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	d.JPEG = "another-decoder"
	other := filepath.Join(dir, "other-jpeg.crd")
	if err := d.Save(other, true); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := capture(t, "predict", "-m", other, img); code != 0 || !strings.Contains(stderr, "warning: "+other) || !strings.Contains(stderr, "another-decoder") {
		t.Errorf("predict with another JPEG decoder's model: exit %d, stderr %q", code, stderr)
	}
	// --out ran 8 images a backbone call; one and three a call give the
	// same scores (the convolutions' work is cut differently, so to float32
	// rounding, not bit for bit).
	for _, batch := range []string{"1", "3"} {
		code, stdout, stderr := capture(t, "predict", "-m", model, "--json", "--batch", batch, img, filepath.Join(data, "test", "good"))
		if code != 0 {
			t.Fatalf("predict --batch %s: %s", batch, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != len(preds) {
			t.Fatalf("predict --batch %s: %d lines, want %d", batch, len(lines), len(preds))
		}
		for i, l := range lines {
			var p prediction
			if err := json.Unmarshal([]byte(l), &p); err != nil {
				t.Fatalf("predict --batch %s line %q: %v", batch, l, err)
			}
			if p.Path != preds[i].Path || math.Abs(p.Score-preds[i].Score) > 1e-4*math.Abs(preds[i].Score) {
				t.Errorf("predict --batch %s: %s scored %v, at batch 8 %v", batch, p.Path, p.Score, preds[i].Score)
			}
		}
	}
	for _, p := range preds {
		if p.Label != "ok" && p.Label != "defect" || (p.Label == "defect") != (p.Score > p.Threshold) {
			t.Fatalf("inconsistent label: %+v", p)
		}
		for _, f := range []string{p.Heatmap, p.Mask} {
			if st, err := os.Stat(f); err != nil || st.Size() == 0 {
				t.Fatalf("missing output %s: %v", f, err)
			}
		}
	}
	report := filepath.Join(dir, "report")
	ev := evalJSON(t, model, data, report)
	for _, k := range []string{"image_auroc", "pixel_auroc", "aupro", "f1_max", "n_images", "per_defect"} {
		if _, ok := ev[k]; !ok {
			t.Fatalf("eval --json lacks %q: %v", k, ev)
		}
	}
	if ev["n_images"].(float64) != 9 {
		t.Fatalf("n_images = %v, want 9", ev["n_images"])
	}
	html, err := os.ReadFile(filepath.Join(report, "index.html"))
	if err != nil || !bytes.Contains(html, []byte("<svg")) {
		t.Fatalf("report: %v", err)
	}
	// Two shards merge; the merged model then takes a calibration.
	m2 := filepath.Join(dir, "m2.crd")
	if code, _, stderr := capture(t, "train", "--data", filepath.Join(data, "test", "good"), "-o", m2, "--size", "107", "--holdout", "0", "--quiet"); code != 0 {
		t.Fatalf("train shard: %s", stderr)
	}
	merged := filepath.Join(dir, "merged.crd")
	if code, _, stderr := capture(t, "merge", "-o", merged, "--quiet", model, m2); code != 0 {
		t.Fatalf("merge: %s", stderr)
	}
	code, stdout, _ = capture(t, "info", merged)
	if code != 0 || !strings.Contains(stdout, `"num_images": 11`) {
		t.Fatalf("info of merged model: %s", stdout)
	}
	if code, _, stderr := capture(t, "calibrate", "-m", merged, "--data", filepath.Join(data, "test", "good"), "--quiet"); code != 0 {
		t.Fatalf("calibrate: %s", stderr)
	}
	// Calibration stored the per-position normalisation of the 11 x 11 grid
	// (inception_v3 at 107).
	code, stdout, _ = capture(t, "info", merged)
	if code != 0 || !strings.Contains(stdout, `"grid": "11x11"`) || strings.Contains(stdout, "position_mean") {
		t.Fatalf("info of calibrated model: %s", stdout)
	}
	// An image score normalised apart from the map is summarised too.
	md, err := detector.Load(merged)
	if err != nil {
		t.Fatal(err)
	}
	md.Calibration.ImageNorm, md.Calibration.ImagePositionMean = detector.NormShrunk, detector.Shrink(md.Calibration.PositionMean)
	if err := md.Save(merged, true); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = capture(t, "info", merged)
	if code != 0 || !strings.Contains(stdout, `"image_position_norm"`) || strings.Contains(stdout, "position_mean") || !strings.Contains(stdout, "image score: divided") {
		t.Fatalf("info of a model with an image score normalisation: %s", stdout)
	}
	// bench: one kNN row besides CRD, calibrated on 2 held-out images.
	code, stdout, stderr = capture(t, "bench", "--data", data, "--size", "107", "--coresets", "1", "--holdout", "0.2",
		"--lambdas", "1e-2", "--json", "--quiet")
	if code != 0 {
		t.Fatalf("bench: %s", stderr)
	}
	var rep struct {
		HeldOut int `json:"held_out_images"`
		Train   int `json:"train_images"`
		Methods []struct {
			Method     string             `json:"method"`
			DistanceMs float64            `json:"distance_ms"`
			ModelBytes int64              `json:"model_bytes"`
			ImageAUROC float64            `json:"image_auroc"`
			Raw        map[string]float64 `json:"raw"`
		} `json:"methods"`
		Lambdas []map[string]any `json:"lambdas"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, stdout)
	}
	if rep.HeldOut != 2 || rep.Train != 8 || len(rep.Methods) != 2 || len(rep.Lambdas) != 1 {
		t.Fatalf("bench report: %+v", rep)
	}
	for _, m := range rep.Methods {
		if m.DistanceMs <= 0 || m.ModelBytes <= 0 || m.ImageAUROC <= 0 || m.Raw["pixel_auroc"] <= 0 {
			t.Fatalf("bench row: %+v", m)
		}
	}
	// A model of another input size does not merge.
	m3 := filepath.Join(dir, "m3.crd")
	if code, _, stderr := capture(t, "train", "--data", filepath.Join(data, "test", "good"), "-o", m3, "--size", "139", "--holdout", "0", "--quiet"); code != 0 {
		t.Fatalf("train 139: %s", stderr)
	}
	if code, _, stderr := capture(t, "merge", "-o", filepath.Join(dir, "bad.crd"), model, m3); code != 1 || !strings.Contains(stderr, "preprocess") {
		t.Fatalf("merging different input sizes: exit %d, %s", code, stderr)
	}
}
