package report

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/dataset"
)

func flatImage(w, h int, v float32) *dataset.RGB {
	img := dataset.NewRGB(w, h)
	for i := range img.Pix {
		img.Pix[i] = v
	}
	return img
}

// worstFirstItems is a set whose expected order is known. Threshold 10 for all.
var worstFirstItems = []struct {
	name, defect string
	score        float64
}{
	{"tn_low", "good", 2},        // correct, badness -0.8
	{"tp_high", "crack", 30},     // correct, badness -2
	{"fn_far", "crack", 1},       // wrong, badness 0.9
	{"fp_near", "good", 11},      // wrong, badness 0.1
	{"tn_near", "good", 9.5},     // correct, badness -0.05
	{"fn_near", "scratch", 9},    // wrong, badness 0.1 (ties fp_near; name order)
	{"fp_far", "good", 25},       // wrong, badness 1.5
	{"tp_near", "scratch", 10.5}, // correct, badness -0.05 (ties tn_near; name order)
}

var worstFirstOrder = []string{"fp_far", "fn_far", "fn_near", "fp_near", "tn_near", "tp_near", "tn_low", "tp_high"}

func TestGalleryWorstFirst(t *testing.T) {
	dir := t.TempDir()
	g := NewGallery(dir, GalleryOptions{Max: 3})
	for _, it := range worstFirstItems {
		err := g.Add(Item{
			Outcome: Outcome{Name: "test/" + it.name + ".png", Defect: it.defect, Score: it.score, NormScore: it.score / 10,
				Threshold: 10, Predicted: it.score > 10},
			Image: flatImage(8, 6, 0.5), Map: anomalymap.NewMap(8, 6), Mask: maskOf(8, 6, square(8, 6, 2, 2, 5, 4)),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	entries := g.Entries()
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(e.Name, "test/"), ".png"))
	}
	if !slices.Equal(names, worstFirstOrder) {
		t.Fatalf("order %v, want %v", names, worstFirstOrder)
	}
	// Exactly the worst 3 keep a picture, and only their files exist.
	var files []string
	for i, e := range entries {
		if (e.Image != "") != (i < 3) {
			t.Errorf("entry %d (%s) picture %q", i, e.Name, e.Image)
		}
		if e.Image != "" {
			files = append(files, filepath.Base(e.Image))
			if _, err := os.Stat(filepath.Join(dir, e.Image)); err != nil {
				t.Error(err)
			}
		}
		wantCorrect := !strings.HasPrefix(names[i], "f")
		if e.Correct != wantCorrect {
			t.Errorf("%s: Correct = %v", e.Name, e.Correct)
		}
	}
	onDisk, _ := os.ReadDir(filepath.Join(dir, "images"))
	if len(onDisk) != 3 {
		t.Errorf("files on disk: %v, want %v", onDisk, files)
	}
	if g.Err() != nil {
		t.Error(g.Err())
	}
}

func TestGalleryConcurrent(t *testing.T) {
	dir := t.TempDir()
	g := NewGallery(dir, GalleryOptions{Max: 5})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				s := float64(w*25 + i)
				if err := g.Add(Item{Outcome: Outcome{Name: fmt.Sprintf("%d-%d", w, i), Defect: "good", Score: s, Threshold: 1000},
					Image: flatImage(4, 4, 0.1)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	entries := g.Entries()
	if len(entries) != 100 {
		t.Fatalf("%d entries", len(entries))
	}
	// All correct normal images: worst = highest scores 99..95.
	for i, e := range entries[:5] {
		if e.Score != float64(99-i) || e.Image == "" {
			t.Errorf("entry %d: score %v picture %q", i, e.Score, e.Image)
		}
	}
	onDisk, _ := os.ReadDir(filepath.Join(dir, "images"))
	if len(onDisk) != 5 {
		t.Errorf("%d files on disk, want 5", len(onDisk))
	}
}

func TestGalleryPicture(t *testing.T) {
	dir := t.TempDir()
	// A 640x480 input is reduced to 320x240 per panel; the 1-pixel-wide defect line survives in the mask.
	const w, h = 640, 480
	img := flatImage(w, h, 0.5)
	amap := make([]float32, w*h)
	mask := make([]bool, w*h)
	for y := 100; y < 300; y++ {
		mask[y*w+401] = true
		amap[y*w+401] = 4
	}
	g := NewGallery(dir, GalleryOptions{MapLo: 0, MapHi: 1})
	if err := g.Add(Item{Outcome: Outcome{Name: "a/b c.png", Defect: "crack", Score: 1, Threshold: 2}, Image: img, Map: anomalymap.Map{Pix: amap, W: w, H: h}, Mask: maskOf(w, h, mask)}); err != nil {
		t.Fatal(err)
	}
	e := g.Entries()[0]
	if e.Image != "images/0000_a_b_c.png" {
		t.Errorf("picture path %q", e.Image)
	}
	pic, err := dataset.LoadImage(filepath.Join(dir, e.Image))
	if err != nil {
		t.Fatal(err)
	}
	if pic.W != 2*320+4 || pic.H != 240 {
		t.Fatalf("picture %dx%d", pic.W, pic.H)
	}
	// Green outline pixels exist in both panels around x = 200 (left) and 324+200 (right).
	green := func(x, y int) bool { return pic.At(0, x, y) == 0 && pic.At(1, x, y) == 1 && pic.At(2, x, y) == 0 }
	if !green(199, 100) || !green(324+199, 100) {
		t.Error("no outline next to the thin defect")
	}
	// Background of the left panel is the grey image.
	if v := pic.At(0, 10, 10); v < 0.49 || v > 0.51 {
		t.Errorf("left panel background %v", v)
	}
	// Right panel background: map 0 -> inferno(0) blended at alpha 0.45 over grey 0.5.
	want := (0.55*127.5 + 0.45*4) / 255 // blue channel
	if v := float64(pic.At(2, 324+10, 10)); v < want-0.005 || v > want+0.005 {
		t.Errorf("right panel background blue %v, want %v", v, want)
	}
}

func TestShrinkMean(t *testing.T) {
	img := dataset.NewRGB(4, 2)
	copy(img.Plane(0), []float32{0, 1, 2, 3, 4, 5, 6, 7})
	out, m, _ := shrink(img, []float32{1, 1, 1, 1, 3, 3, 3, 3}, nil, 2)
	// 4x2 -> 2x1: means of the 2x2 blocks.
	if out.W != 2 || out.H != 1 || out.Plane(0)[0] != 2.5 || out.Plane(0)[1] != 4.5 || m[0] != 2 {
		t.Errorf("shrink: %v %v", out, m)
	}
}

// BenchmarkGalleryAdd measures one picture (224x224 input, two panels, outline, PNG write).
func BenchmarkGalleryAdd(b *testing.B) {
	img := flatImage(224, 224, 0.4)
	amap := make([]float32, 224*224)
	for i := range amap {
		amap[i] = float32(i%97) / 97
	}
	mask := square(224, 224, 50, 60, 120, 90)
	g := NewGallery(b.TempDir(), GalleryOptions{Max: 1 << 30})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := g.Add(Item{Outcome: Outcome{Name: "x", Defect: "crack", Score: float64(i), Threshold: 1}, Image: img, Map: anomalymap.Map{Pix: amap, W: 224, H: 224}, Mask: maskOf(224, 224, mask)}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGalleryThresholdScale: with MapThreshold, the threshold is the middle
// colour on every card, a card below it spans the lower half from its own
// minimum (not a uniformly dark map), and a card above it reaches the last
// colour at its maximum.
func TestGalleryThresholdScale(t *testing.T) {
	dir := t.TempDir()
	const w, h, thr = 8, 4, 2.0
	mk := func(vals ...float32) anomalymap.Map {
		m := anomalymap.Map{Pix: make([]float32, w*h), W: w, H: h}
		for i := range m.Pix {
			m.Pix[i] = vals[i%len(vals)]
		}
		return m
	}
	g := NewGallery(dir, GalleryOptions{MapThreshold: thr, Alpha: 1})
	low := mk(0.1, 0.5, 1.0) // all below the threshold
	high := mk(0.5, 2, 6)    // crosses it
	for i, m := range []anomalymap.Map{low, high} {
		if err := g.Add(Item{Outcome: Outcome{Name: fmt.Sprintf("%d.png", i), Score: float64(i), Threshold: 1}, Image: flatImage(w, h, 0.5), Map: m}); err != nil {
			t.Fatal(err)
		}
	}
	colourAt := func(e Entry, i int) [3]float32 {
		pic, err := dataset.LoadImage(filepath.Join(dir, e.Image))
		if err != nil {
			t.Fatal(err)
		}
		x, y := w+4+i%w, i/w
		return [3]float32{pic.At(0, x, y), pic.At(1, x, y), pic.At(2, x, y)}
	}
	want := func(pos float64) [3]float32 {
		c := Colormap(pos)
		return [3]float32{float32(c.R) / 255, float32(c.G) / 255, float32(c.B) / 255}
	}
	for _, e := range g.Entries() {
		switch e.Name {
		case "0.png": // min 0.1 -> 0, max 1.0 -> 0.5*(0.9/1.9)
			if got := colourAt(e, 0); got != want(0) {
				t.Errorf("low card minimum %v, want %v", got, want(0))
			}
			if got := colourAt(e, 2); got != want(0.5*0.9/1.9) {
				t.Errorf("low card maximum %v, want %v", got, want(0.5*0.9/1.9))
			}
		case "1.png": // min 0.5 -> 0, threshold 2 -> 0.5, max 6 -> 1
			for i, pos := range []float64{0, 0.5, 1} {
				if got := colourAt(e, i); got != want(pos) {
					t.Errorf("high card value %d: %v, want %v", i, got, want(pos))
				}
			}
		}
	}
}
