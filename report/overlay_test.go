package report

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/internal/kernels"
)

// Reference colours from matplotlib 3.6.3: [round(255*c) for c in cm.get_cmap("inferno", 256)(v)[:3]].
var infernoRef = []struct {
	v    float64
	want color.RGBA
}{
	{0, color.RGBA{0, 0, 4, 255}},
	{0.25, color.RGBA{87, 16, 110, 255}},
	{0.5, color.RGBA{188, 55, 84, 255}},
	{0.75, color.RGBA{249, 142, 9, 255}},
	{1, color.RGBA{252, 255, 164, 255}},
}

func TestColormap(t *testing.T) {
	for _, c := range infernoRef {
		if got := Colormap(c.v); got != c.want {
			t.Errorf("Colormap(%v) = %v, want %v", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		v    float64
		want float64
	}{{-3, 0}, {math.NaN(), 0}, {7, 1}, {math.Inf(1), 1}} {
		if got, want := Colormap(c.v), Colormap(c.want); got != want {
			t.Errorf("Colormap(%v) = %v, want %v", c.v, got, want)
		}
	}
}

func TestOverlay(t *testing.T) {
	// A 5x1 image with known colours; map values at lo, 1/4, 1/2, hi and beyond hi (clamped).
	img := dataset.NewRGB(5, 1)
	base := [3]float64{0.2, 0.6, 1.0}
	for c := 0; c < 3; c++ {
		for i := range img.Plane(c) {
			img.Plane(c)[i] = float32(base[c])
		}
	}
	lo, hi := 2.0, 6.0
	amap := []float32{2, 3, 4, 6, 100}
	wantV := []float64{0, 0.25, 0.5, 1, 1}
	for _, alpha := range []float64{0, 0.4, 1} {
		out := Overlay(img, anomalymap.Map{Pix: amap, W: 5, H: 1}, lo, hi, alpha)
		for i := range amap {
			heat := infernoColour(wantV[i])
			for c := 0; c < 3; c++ {
				want := math.Round((1-alpha)*255*float64(float32(base[c])) + alpha*heat[c])
				if got := out.Pix[4*i+c]; float64(got) != want {
					t.Errorf("alpha %v, pixel %d, channel %d: %d, want %v", alpha, i, c, got, want)
				}
			}
			if out.Pix[4*i+3] != 255 {
				t.Errorf("alpha channel %d", out.Pix[4*i+3])
			}
		}
	}
	h := Heatmap(anomalymap.Map{Pix: amap, W: 5, H: 1}, lo, hi)
	for i := range amap {
		if got := h.RGBAAt(i, 0); got != Colormap(wantV[i]) {
			t.Errorf("Heatmap pixel %d = %v", i, got)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Overlay with a map of the wrong length did not panic")
		}
	}()
	Overlay(img, anomalymap.Map{Pix: amap[:4], W: 4, H: 1}, lo, hi, 0.5)
}

// infernoColour looks v up in the reference table (only the reference points are used).
func infernoColour(v float64) [3]float64 {
	for _, c := range infernoRef {
		if c.v == v {
			return [3]float64{float64(c.want.R), float64(c.want.G), float64(c.want.B)}
		}
	}
	panic("no reference colour")
}

// square returns a w x h mask with the square [x0,x1) x [y0,y1) set.
// maskOf wraps a w x h mask's values.
func maskOf(w, h int, pix []bool) *dataset.Mask { return &dataset.Mask{Pix: pix, W: w, H: h} }

func square(w, h, x0, y0, x1, y1 int) []bool {
	m := make([]bool, w*h)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			m[y*w+x] = true
		}
	}
	return m
}

// ring returns the pixels at Chebyshev distance exactly in [dmin, dmax] from the box [x0,x1) x [y0,y1) edge, as
// a direct definition: inside-ness by coordinates.
func ringRef(w, h, x0, y0, x1, y1, width int, outer bool) []bool {
	m := make([]bool, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			in := x >= x0 && x < x1 && y >= y0 && y < y1
			if outer {
				grown := x >= x0-width && x < x1+width && y >= y0-width && y < y1+width
				m[y*w+x] = grown && !in
			} else {
				shrunk := x >= x0+width && x < x1-width && y >= y0+width && y < y1-width
				m[y*w+x] = in && !shrunk
			}
		}
	}
	return m
}

func TestContourSquare(t *testing.T) {
	const w, h = 12, 10
	for _, b := range [][4]int{{3, 2, 9, 8}, {0, 0, 5, 4}, {4, 3, 5, 4}} { // interior, touching the edge, 1 pixel
		mask := square(w, h, b[0], b[1], b[2], b[3])
		for width := 1; width <= 2; width++ {
			got := Contour(maskOf(w, h, mask), width).Pix
			want := ringRef(w, h, b[0], b[1], b[2], b[3], width, false)
			// At the image edge the inner contour counts the edge as outside: the square [0,5)x[0,4) has its
			// pixels on the image border in the contour, which ringRef gives as well since the border is part of
			// the square's own edge.
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("square %v width %d: Contour wrong at (%d,%d): got %v", b, width, i%w, i/w, got[i])
				}
			}
			got = Outline(maskOf(w, h, mask), width).Pix
			want = ringRef(w, h, b[0], b[1], b[2], b[3], width, true)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("square %v width %d: Outline wrong at (%d,%d): got %v", b, width, i%w, i/w, got[i])
				}
			}
		}
	}
	// Width 1 inner contour of the 6x6 square is its border: 20 pixels.
	n := 0
	for _, v := range Contour(maskOf(w, h, square(w, h, 3, 2, 9, 8)), 1).Pix {
		if v {
			n++
		}
	}
	if n != 20 {
		t.Errorf("border of a 6x6 square has %d pixels, want 20", n)
	}

	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	mask := square(w, h, 3, 2, 9, 8)
	DrawContour(dst, maskOf(w, h, mask), 1, defaultContourColor)
	outline := Outline(maskOf(w, h, mask), 1).Pix
	for i := range outline {
		got := dst.RGBAAt(i%w, i/w)
		if outline[i] != (got == defaultContourColor) {
			t.Fatalf("DrawContour pixel (%d,%d) = %v", i%w, i/w, got)
		}
	}
}

func TestMaskPNGRoundTrip(t *testing.T) {
	dir := t.TempDir()
	const w, h = 7, 5
	mask := square(w, h, 1, 1, 4, 3)
	mask[w*h-1] = true
	p := filepath.Join(dir, "m.png")
	if err := MaskPNG(p, maskOf(w, h, mask)); err != nil {
		t.Fatal(err)
	}
	m, err := dataset.LoadMask(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range mask {
		if m.Pix[i] != mask[i] {
			t.Fatalf("pixel %d: %v, want %v", i, m.Pix[i], mask[i])
		}
	}
	// The file holds 0 and 255 only.
	img, err := dataset.LoadImage(p)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range img.Plane(0) {
		if want := map[bool]float32{false: 0, true: 1}[mask[i]]; v != want {
			t.Fatalf("pixel %d = %v", i, v)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WritePNG(filepath.Join(dir, "missing", "x.png"), image.NewGray(image.Rect(0, 0, 1, 1))); err == nil {
		t.Error("WritePNG into a missing folder: no error")
	}
}

func TestToRGBA(t *testing.T) {
	img := dataset.NewRGB(2, 1)
	copy(img.Pix, []float32{0, 1, 0.5, 2, -1, 0.2})
	got := ToRGBA(img)
	want := []uint8{0, 128, 0, 255, 255, 255, 51, 255}
	for i := range want {
		if got.Pix[i] != want[i] {
			t.Fatalf("ToRGBA = %v, want %v", got.Pix, want)
		}
	}
}

func BenchmarkOverlay224(b *testing.B) {
	img := dataset.NewRGB(224, 224)
	amap := make([]float32, 224*224)
	for i := range amap {
		amap[i] = float32(i%97) / 97
		img.Pix[i] = 0.5
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Overlay(img, anomalymap.Map{Pix: amap, W: 224, H: 224}, 0, 1, 0.45)
	}
}

// TestOverlayMatchesDirect checks the blend against the formula of Overlay's doc written out pixel by pixel, on
// random images with values outside [0, 1], NaN map values and all three alphas' regimes.
func TestOverlayMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	w, h := 37, 11
	img := dataset.NewRGB(w, h)
	for i := range img.Pix {
		img.Pix[i] = float32(rng.Float64()*1.4 - 0.2)
	}
	amap := make([]float32, w*h)
	for i := range amap {
		amap[i] = float32(rng.Float64()*8 - 1)
	}
	amap[3], amap[4] = float32(math.NaN()), float32(math.Inf(1))
	for _, alpha := range []float64{-1, 0, 0.45, 0.7, 1, 2} {
		lo, hi := 0.5, 5.0
		got := Overlay(img, anomalymap.Map{Pix: amap, W: w, H: h}, lo, hi, alpha)
		a := min(max(alpha, 0), 1)
		for i, v := range amap {
			c := Colormap(normalise(float64(v), lo, hi))
			heat := [3]uint8{c.R, c.G, c.B}
			for k := range 3 {
				base := 255 * min(max(float64(img.Plane(k)[i]), 0), 1)
				if want := uint8(math.Round((1-a)*base + a*float64(heat[k]))); got.Pix[4*i+k] != want {
					t.Fatalf("alpha %v pixel %d channel %d: %d, want %d", alpha, i, k, got.Pix[4*i+k], want)
				}
			}
			if got.Pix[4*i+3] != 255 {
				t.Fatalf("alpha %v pixel %d: alpha byte %d", alpha, i, got.Pix[4*i+3])
			}
		}
	}
}

// TestRound8: round8 is uint8(math.Round(x)) on [0, 256) (every half, its two float64 neighbours, random values) and
// on NaN.
func TestRound8(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	xs := []float64{0, math.SmallestNonzeroFloat64, 0.5 - 0x1p-54, math.Nextafter(256, 0), math.NaN()}
	for k := range 256 {
		h := float64(k) + 0.5
		xs = append(xs, float64(k), h, math.Nextafter(h, 0), math.Nextafter(h, 256), math.Nextafter(float64(k), 0))
	}
	for range 100000 {
		xs = append(xs, rng.Float64()*256)
	}
	for _, x := range xs {
		if !(x >= 0 && x < 256) && !math.IsNaN(x) {
			continue
		}
		if got, want := round8(x), uint8(math.Round(x)); got != want {
			t.Fatalf("round8(%v) = %d, math.Round gives %d", x, got, want)
		}
	}
}

// TestBlendKernelsSame: the blend in Go and, where it runs, on the AVX-512 kernel write the same bytes, on a linear
// scale (the kernel's case) over a picture of decoded levels and values outside [0, 1], with NaN and infinite map and
// picture values, for both steps; on another scale (the gallery's around a threshold) the kernel is not used.
func TestBlendKernelsSame(t *testing.T) {
	if !kernels.AVX512Supported() {
		t.Skip("no AVX-512 here")
	}
	rng := rand.New(rand.NewPCG(15, 16))
	w, h := 61, 7
	img := dataset.NewRGB(w, h)
	for i := range img.Pix {
		img.Pix[i] = float32(rng.IntN(256)) / 255
		if i%5 == 0 {
			img.Pix[i] = float32(rng.Float64()*1.4 - 0.2)
		}
	}
	img.Pix[3], img.Pix[w*h+4] = float32(math.NaN()), float32(math.Inf(1))
	m := anomalymap.NewMap(w, h)
	for i := range m.Pix {
		m.Pix[i] = float32(rng.Float64()*4 - 0.5)
	}
	m.Pix[1], m.Pix[2] = float32(math.NaN()), float32(math.Inf(-1))
	for _, norm := range []scale{linear(0, 3), linear(1, 1), aroundThreshold(m.Pix, 1.5)} {
		for _, step := range []int{3, 4} {
			var out [2][]byte
			for k, kern := range []kernels.Set{kernels.BLAS(), kernels.AVX512(kernels.Pixels)} {
				bl := newBlender(img, m, norm, 0.45)
				bl.kern = kern
				out[k] = make([]byte, step*w*h)
				bl.blend(out[k], step, 0, w*h)
			}
			for i := range out[0] {
				if out[0][i] != out[1][i] {
					t.Fatalf("scale %+v, step %d: byte %d is %d on the kernel, %d in Go", norm, step, i, out[1][i], out[0][i])
				}
			}
		}
	}
}
