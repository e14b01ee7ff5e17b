package detector

import (
	"context"
	"image"
	"image/png"
	"os"
	"strings"
	"testing"
)

// TestEvaluateSkipBadMasks: with SkipBad, a corrupt mask and a mask of the
// wrong size are warnings naming the mask, and their images are left out;
// without it they are errors. With no readable image left, Evaluate fails.
func TestEvaluateSkipBadMasks(t *testing.T) {
	cat := setup(t)
	d, err := Train(context.Background(), cat.Train, tinyOptions())
	if err != nil {
		t.Fatal(err)
	}
	var masks []string
	for _, s := range cat.Test {
		if s.MaskPath != "" {
			masks = append(masks, s.MaskPath)
		}
	}
	if len(masks) < 2 {
		t.Fatalf("%d masks", len(masks))
	}
	if err := os.WriteFile(masks[0], []byte("\x89PNG\r\n\x1a\ngarbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(masks[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 5, 5))); err != nil {
		t.Fatal(err)
	}
	f.Close()

	if _, err := d.Evaluate(context.Background(), cat, EvalOptions{}); err == nil || !strings.Contains(err.Error(), masks[0]) {
		t.Fatalf("corrupt mask without SkipBad: %v", err)
	}
	var warned []string
	warn := func(err error) { warned = append(warned, err.Error()) }
	ev, err := d.Evaluate(context.Background(), cat, EvalOptions{SkipBad: true, Warn: warn})
	if err != nil {
		t.Fatalf("SkipBad: %v", err)
	}
	if ev.Overall.NImages != len(cat.Test)-2 {
		t.Errorf("%d images evaluated, want %d", ev.Overall.NImages, len(cat.Test)-2)
	}
	if len(warned) != 2 || !strings.Contains(warned[0], masks[0]) || !strings.Contains(warned[1], masks[1]) || !strings.Contains(warned[1], "5x5") {
		t.Errorf("warnings %q", warned)
	}

	// Nothing readable: an error, not an empty evaluation.
	for _, s := range cat.Test {
		if err := os.WriteFile(s.Path, []byte("not an image"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err = d.Evaluate(context.Background(), cat, EvalOptions{SkipBad: true, Warn: func(error) {}})
	if err == nil || !strings.Contains(err.Error(), "none of the") {
		t.Errorf("no readable image: %v", err)
	}
}
