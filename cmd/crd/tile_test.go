package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crd-ad/crd/synth"
)

// TestTiledEndToEnd: crd train --tile, then predict, eval with a report and
// info use the model's tiling; heat maps come back at the original size.
func TestTiledEndToEnd(t *testing.T) {
	requireBackbone(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "surface")
	model := filepath.Join(dir, "tiled.crd")
	if err := synth.Generate(data, synth.Options{Seed: 5, Size: 96, NumTrain: 8, NumTestGood: 2, NumPerDefect: 1}); err != nil {
		t.Fatal(err)
	}
	// 96 x 96 at scale 1 in 2 x 2 tiles of 75, overlapping by 54.
	if code, _, stderr := capture(t, "train", "--data", data, "-o", model, "--tile", "75:16", "--scale", "1", "--holdout", "0.25", "--lambda", "0.01", "--quiet"); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	code, stdout, stderr := capture(t, "info", model)
	if code != 0 || !strings.Contains(stdout, "96 x 96 images scaled to 96 x 96, 4 tiles of 75 x 75") || !strings.Contains(stdout, `"image_w": 96`) {
		t.Fatalf("info: exit %d, %s %s", code, stdout, stderr)
	}
	img := filepath.Join(data, "test", "spot", "000.png")
	out := filepath.Join(dir, "out")
	code, stdout, stderr = capture(t, "predict", "-m", model, "--json", "--out", out, img)
	if code != 0 {
		t.Fatalf("predict: %s", stderr)
	}
	var p prediction
	if err := json.Unmarshal([]byte(stdout), &p); err != nil || p.Heatmap == "" {
		t.Fatalf("predict --json %q: %v", stdout, err)
	}
	f, err := os.Open(p.Heatmap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != 96 || cfg.Height != 96 {
		t.Fatalf("heat map %v, %v; want 96 x 96", cfg, err)
	}
	report := filepath.Join(dir, "report")
	if ev := evalJSON(t, model, data, report); ev["n_images"].(float64) != 5 {
		t.Fatalf("eval --json: %v", ev)
	}
	if html, err := os.ReadFile(filepath.Join(report, "index.html")); err != nil || !strings.Contains(string(html), "4 tiles of 75 x 75") {
		t.Fatalf("report: %v", err)
	}
	// An image of another size is an error naming it.
	other := filepath.Join(dir, "other")
	if err := synth.Generate(other, synth.Options{Seed: 1, Size: 80, NumTrain: 1, NumTestGood: 1, NumPerDefect: 1}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(other, "test", "good", "000.png")
	if code, _, stderr := capture(t, "predict", "-m", model, bad); code != 1 || !strings.Contains(stderr, bad) || !strings.Contains(stderr, "80 x 80") {
		t.Fatalf("predict on another size: exit %d, %s", code, stderr)
	}
}

// TestTileFlags: --tile and --scale are checked before any work.
func TestTileFlags(t *testing.T) {
	data := t.TempDir()
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--tile", "big"}, "--tile big"},
		{[]string{"--tile", "299:400"}, "overlap"},
		{[]string{"--tile", "8"}, "tile side from"},
		{[]string{"--scale", "0.5"}, "needs --tile"},
		{[]string{"--tile", "299", "--scale", "-2"}, "--scale -2"},
		{[]string{"--tile", "299", "--size", "224"}, "--size and --tile"},
		{[]string{"--resume", "old.crd", "--tile", "299"}, "--tile"},
	} {
		args := append([]string{"train", "--data", data, "-o", filepath.Join(data, "m.crd")}, c.args...)
		code, _, stderr := capture(t, args...)
		if code != 2 || !strings.Contains(stderr, c.msg) {
			t.Errorf("crd %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(args, " "), code, stderr, c.msg)
		}
	}
}
