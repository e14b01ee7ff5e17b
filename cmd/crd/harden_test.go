package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagValidation: every flag that sizes or steers the work is checked
// before any work, with a usage error (exit 2) naming the flag.
func TestFlagValidation(t *testing.T) {
	data := t.TempDir()
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"train", "--data", data, "-o", "m.crd", "--holdout", "NaN"}, "--holdout NaN"},
		{[]string{"train", "--data", data, "-o", "m.crd", "--holdout", "1"}, "--holdout 1"},
		{[]string{"train", "--data", data, "-o", "m.crd", "--size", "-5"}, "--size -5"},
		{[]string{"train", "--data", data, "-o", "m.crd", "--size", "30000"}, "--size 30000"},
		{[]string{"train", "--data", data, "-o", "m.crd", "--batch", "-3"}, "--batch -3"},
		{[]string{"train", "--data", data, "-o", "m.crd", "--synthetic", "0"}, "--synthetic 0"},
		{[]string{"train", "--data", data, "-o", "m.crd", "--threshold", "garbage"}, "--threshold"},
		{[]string{"train", "--data", data, "-o", "m.crd", "--resume", "old.crd", "--lambda", "2"}, "--lambda"},
		{[]string{"train", "--data", data, "-o", "m.crd", "--resume", "old.crd", "--backbone", "resnet18", "--size", "128"}, "--backbone, --size"},
		{[]string{"bench", "--data", data, "--lambdas", "-1"}, `"-1" is not a positive number`},
		{[]string{"bench", "--data", data, "--coresets", "0"}, `"0" is not a ratio`},
		{[]string{"bench", "--data", data, "--plot", "p.svg", "--fractions", "2"}, `"2" is not a fraction`},
		{[]string{"bench", "--data", data, "--plot", "p.svg", "--fractions", "0"}, `"0" is not a fraction`},
		{[]string{"bench", "--data", data, "--max-train", "-1"}, "--max-train -1"},
		{[]string{"merge", "-o", "m.crd", "--threshold", "garbage", "a.crd", "b.crd"}, "--threshold"},
		{[]string{"calibrate", "-m", "a.crd", "--data", data, "--threshold", "garbage"}, "--threshold"},
		{[]string{"train", "--data", data, "-o", "m.crd", "--threshold", "fpr:1"}, "--threshold"},
		{[]string{"train", "--data", data, "-o", "m.crd", "--threshold", "fpr:0.01:weibull"}, "unknown tail model"},
		{[]string{"train", "--data", data, "-o", "m.crd", "--norm", "half"}, "--norm"},
		{[]string{"calibrate", "-m", "a.crd", "--data", data, "--norm", "half"}, "--norm"},
		{[]string{"merge", "-o", "m.crd", "--norm", "half", "a.crd", "b.crd"}, "--norm"},
		{[]string{"merge", "-o", "m.crd"}, "at least two models"},
		{[]string{"eval", "--data", data}, "need -m MODEL"},
	}
	for _, c := range cases {
		code, _, stderr := capture(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.msg) || strings.Contains(stderr, "panic") {
			t.Errorf("crd %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), code, stderr, c.msg)
		}
	}
}

// TestHelpOnce: --help prints the usage once, on stdout, and nothing on
// stderr.
func TestHelpOnce(t *testing.T) {
	code, stdout, stderr := capture(t, "predict", "--help")
	if code != 0 || strings.Count(stdout, "Usage: crd predict") != 1 || stderr != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestDoubleDash: every argument after "--" is positional, even ones that
// look like flags.
func TestDoubleDash(t *testing.T) {
	fs := newFlags("x", "", "")
	var b bool
	fs.BoolVar(&b, "quiet", false, "")
	pos, err := parse(fs, []string{"a", "--quiet", "--", "-x.png", "--quiet", "b"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "-x.png", "--quiet", "b"}
	if !b || strings.Join(pos, "|") != strings.Join(want, "|") {
		t.Fatalf("quiet %v, positional %q, want %q", b, pos, want)
	}
}

// TestModelOutputChecks: -o is checked before any work: never a folder,
// never one of the inputs, never a file that is not a crd model (unless
// --force).
func TestModelOutputChecks(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.Mkdir(good, 0o755)
	img := filepath.Join(good, "000.png")
	writePNG(t, img)
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("my notes"), 0o644)

	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"train", "--data", good, "-o", img}, "one of the command's inputs"},
		{[]string{"train", "--data", good, "-o", notes}, "not a crd model file"},
		{[]string{"train", "--data", good, "-o", dir}, "is a folder"},
		{[]string{"train", "--data", good, "-o", filepath.Join(dir, "no", "such", "m.crd")}, "does not exist"},
		{[]string{"calibrate", "-m", notes, "--data", good, "-o", img}, "one of the command's inputs"},
	}
	for _, c := range cases {
		code, _, stderr := capture(t, c.args...)
		if code != 1 || !strings.Contains(stderr, c.msg) {
			t.Errorf("crd %s: exit %d, stderr %q; want exit 1 and %q", strings.Join(c.args, " "), code, stderr, c.msg)
		}
	}
	if b, _ := os.ReadFile(notes); string(b) != "my notes" {
		t.Fatalf("notes.txt changed to %q", b)
	}
	if err := checkModelOutput(notes, true, nil); err != nil {
		t.Fatalf("--force: %v", err)
	}
	model := filepath.Join(dir, "old.crd")
	os.WriteFile(model, []byte("CRDMODEL\x02\x00\x00\x00rest"), 0o644)
	if err := checkModelOutput(model, false, []string{img}); err != nil {
		t.Fatalf("replacing a model: %v", err)
	}
}

// TestMergeRefusesTheSameModelTwice: two files with the same content are
// the same model; merging them would double-count its images.
func TestMergeRefusesTheSameModelTwice(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.crd"), filepath.Join(dir, "b.crd")
	for _, p := range []string{a, b} {
		os.WriteFile(p, []byte("CRDMODEL same bytes"), 0o644)
	}
	code, _, stderr := capture(t, "merge", "-o", filepath.Join(dir, "m.crd"), a, b)
	if code != 1 || !strings.Contains(stderr, "same model") || !strings.Contains(stderr, a) || !strings.Contains(stderr, b) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestPredictOutputNames: inputs that share a stem or a base name get
// distinct output files, and no output name is one of the inputs.
func TestPredictOutputNames(t *testing.T) {
	out := t.TempDir()
	inputs := []string{
		filepath.Join(out, "good.png"), filepath.Join(out, "good.jpg"), filepath.Join(out, "good.bmp"),
		filepath.Join(out, "sub", "good.png"), filepath.Join(out, "a.png"), filepath.Join(out, "a.png.mask.png"),
	}
	n := newOutputNames(out, inputs)
	seen := map[string]bool{}
	for _, in := range inputs {
		seen[absPath(in)] = true
	}
	for _, in := range inputs {
		h, m := n.next(in)
		for _, p := range []string{h, m} {
			if seen[absPath(p)] {
				t.Fatalf("output %s for %s repeats a name or overwrites an input", p, in)
			}
			seen[absPath(p)] = true
		}
	}
}

// TestDemoKeepsUserFiles: the demo replaces only what an earlier demo
// wrote.
func TestDemoKeepsUserFiles(t *testing.T) {
	out := t.TempDir()
	user := filepath.Join(out, "report", "mine.txt")
	os.MkdirAll(filepath.Dir(user), 0o755)
	os.WriteFile(user, []byte("keep"), 0o644)
	code, _, stderr := capture(t, "demo", "--out", out, "--quick", "--quiet")
	if code != 1 || !strings.Contains(stderr, "not written by 'crd demo'") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if b, _ := os.ReadFile(user); string(b) != "keep" {
		t.Fatal("the user's file was deleted")
	}
	// A folder with the marker is the demo's own: its outputs are replaced.
	os.WriteFile(filepath.Join(out, demoMarker), nil, 0o644)
	err := prepareDemoDir(out, filepath.Join(out, "surface"), filepath.Join(out, "report"), filepath.Join(out, "model.crd"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(user); !os.IsNotExist(err) {
		t.Fatalf("a previous demo's report was not replaced: %v", err)
	}
}

// writePNG writes a small valid grey PNG.
func writePNG(t *testing.T, path string) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMaxPixelsFlag: --max-pixels is checked before any work and bounds
// the images a command reads.
func TestMaxPixelsFlag(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.Mkdir(good, 0o755)
	writePNG(t, filepath.Join(good, "000.png")) // 8 x 8
	code, _, stderr := capture(t, "train", "--data", good, "-o", filepath.Join(dir, "m.crd"), "--max-pixels", "-1")
	if code != 2 || !strings.Contains(stderr, "--max-pixels -1") {
		t.Fatalf("negative --max-pixels: exit %d, %q", code, stderr)
	}
	requireBackbone(t)
	code, _, stderr = capture(t, "train", "--data", good, "-o", filepath.Join(dir, "m.crd"), "--max-pixels", "63", "--quiet")
	if code != 1 || !strings.Contains(stderr, "dataset.Limits.MaxPixels") {
		t.Fatalf("an 8x8 image under --max-pixels 63: exit %d, %q", code, stderr)
	}
}

// TestNewlineInFileNameCannotForgeLines: a file name holding a newline is
// printed escaped, on one line, in errors and warnings.
func TestNewlineInFileNameCannotForgeLines(t *testing.T) {
	if got := oneLine("a\nb\rc\x1bd\té"); got != `a\nb\rc\x1bd\té` {
		t.Fatalf("oneLine: %q", got)
	}
	dir := t.TempDir()
	evil := filepath.Join(dir, "x\ncrd predict: forged.crd")
	if err := os.WriteFile(evil, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := capture(t, "predict", "-m", evil, evil)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 1 || len(lines) != 1 || !strings.Contains(stderr, `x\ncrd predict: forged.crd`) {
		t.Fatalf("exit %d, stderr %q: want one line with the name escaped", code, stderr)
	}
}
