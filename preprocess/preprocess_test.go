package preprocess

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/internal/kernels"
)

var imagenet = Params{Mean: [3]float64{0.485, 0.456, 0.406}, Std: [3]float64{0.229, 0.224, 0.225}}

// TestImageAgainstPIL compares with PIL's antialiased bilinear resize, torchvision's centre crop and ImageNet
// normalisation, from testdata/make_fixture.py.
func TestImageAgainstPIL(t *testing.T) {
	b, err := os.ReadFile("testdata/fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		W, H, Resize, Crop int
		Src                [][]float32
		Want               [][]float64
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		p := imagenet
		p.Resize, p.Crop = tc.Resize, tc.Crop
		img := dataset.NewRGB(tc.W, tc.H)
		img.Pix = img.Pix[:0]
		for _, pl := range tc.Src {
			img.Pix = append(img.Pix, pl...)
		}
		dst := make([]float32, 3*tc.Crop*tc.Crop)
		Image(img, p, dst)
		for c := 0; c < 3; c++ {
			for i, want := range tc.Want[c] {
				got := float64(dst[c*tc.Crop*tc.Crop+i])
				if math.Abs(got-want) > 2e-5*(1+math.Abs(want)) {
					t.Fatalf("%dx%d -> %d crop %d: channel %d pixel %d: got %g, PIL %g", tc.W, tc.H, tc.Resize, tc.Crop, c, i, got, want)
				}
			}
		}
	}
}

func TestMaskNearestAndCrop(t *testing.T) {
	// A 4x4 mask with one defective pixel at (x=3, y=0), upscaled to 8 and cropped to 6: the pixel becomes the 2x2
	// block at resized (6..7, 0..1), i.e. crop (5, 0) after the 1-pixel crop offset.
	m := make([]bool, 16)
	m[3] = true
	gm := Mask(&dataset.Mask{Pix: m, W: 4, H: 4}, Params{Resize: 8, Crop: 6})
	if gm.W != 6 || gm.H != 6 {
		t.Fatalf("mask brought to %dx%d, want the 6x6 crop", gm.W, gm.H)
	}
	got := gm.Pix
	for y := 0; y < 6; y++ {
		for x := 0; x < 6; x++ {
			want := x == 5 && y == 0
			if got[y*6+x] != want {
				t.Fatalf("mask (%d,%d) = %v, want %v", x, y, got[y*6+x], want)
			}
		}
	}
}

func TestToOriginalRoundTrip(t *testing.T) {
	// A map that is linear in x in crop space stays linear in x on the original when there is no crop.
	p := Params{Resize: 10, Crop: 10}
	m := make([]float32, 100)
	for y := 0; y < 10; y++ {
		for x := 0; x < 10; x++ {
			m[y*10+x] = float32(x)
		}
	}
	om := ToOriginal(anomalymap.Map{Pix: m, W: 10, H: 10}, 20, 5, p, -1)
	if om.W != 20 || om.H != 5 {
		t.Fatalf("map brought to %dx%d, want 20x5", om.W, om.H)
	}
	out := om.Pix
	for x := 1; x < 19; x++ {
		want := (float64(x)+0.5)*0.5 - 0.5
		if got := out[2*20+x]; math.Abs(float64(got)-want) > 1e-5 {
			t.Fatalf("x=%d: got %g want %g", x, got, want)
		}
	}
	// With a crop, the border of the original is outside the network's view.
	out = ToOriginal(anomalymap.NewMap(6, 6), 8, 8, Params{Resize: 8, Crop: 6}, -1).Pix
	if out[0] != -1 || out[4*8+4] != 0 {
		t.Fatalf("outside/inside values wrong: %v %v", out[0], out[36])
	}
}

func TestValidate(t *testing.T) {
	bad := []Params{{Crop: 0, Std: [3]float64{1, 1, 1}}, {Resize: 10, Crop: 20, Std: [3]float64{1, 1, 1}}, {Crop: 4}}
	for _, p := range bad {
		if p.Validate() == nil {
			t.Errorf("Validate(%+v) accepted a bad preprocessing", p)
		}
	}
	good := imagenet
	good.Resize, good.Crop = 256, 224
	if err := good.Validate(); err != nil {
		t.Error(err)
	}
}

// windowByTaps is window as the plain tap loops (every tap count alike),
// the reference for its unrolled two-tap paths.
func windowByTaps(img *dataset.RGB, p Params, rw, rh, left, top, cw, ch int, dst []float32) {
	pix, w, h := img.Pix, img.W, img.H
	tx := makeTaps(w, rw, left, cw)
	ty := makeTaps(h, rh, top, ch)
	tmp := make([]float32, h*cw)
	for c := 0; c < 3; c++ {
		plane := pix[c*w*h : (c+1)*w*h]
		for y := 0; y < h; y++ {
			for x := 0; x < cw; x++ {
				var acc float32
				for k, wt := range tx.w[x*tx.step : x*tx.step+tx.n[x]] {
					acc += wt * plane[y*w+tx.start[x]+k]
				}
				tmp[y*cw+x] = acc
			}
		}
		mean, inv := float32(p.Mean[c]), float32(1/p.Std[c])
		for y := 0; y < ch; y++ {
			for x := 0; x < cw; x++ {
				var o float32
				for k, wt := range ty.w[y*ty.step : y*ty.step+ty.n[y]] {
					o += wt * tmp[(ty.start[y]+k)*cw+x]
				}
				dst[c*cw*ch+y*cw+x] = (o - mean) * inv
			}
		}
	}
}

// TestImageMatchesTaps checks Image and Resized bit for bit against
// windowByTaps when upsampling (two taps), downsampling and mixed, with and
// without a crop, and the window on every path (the loops in Go and, where
// it runs, the AVX-512 kernel; a downscale by more than 31 takes the loops
// either way).
func TestImageMatchesTaps(t *testing.T) {
	sets := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		sets = append(sets, kernels.AVX512(kernels.Pixels))
	}
	for _, sz := range [][4]int{{565, 230, 299, 299}, {37, 23, 64, 56}, {80, 90, 40, 32}, {50, 20, 30, 30}, {7, 9, 9, 9}, {2000, 40, 50, 17}} {
		img := dataset.NewRGB(sz[0], sz[1])
		seed := uint32(sz[0]*131 + sz[1])
		for i := range img.Pix {
			seed = seed*1664525 + 1013904223
			img.Pix[i] = float32(seed>>8) / (1 << 24)
		}
		p := imagenet
		p.Resize, p.Crop = sz[2], sz[3]
		win := p.Window()
		got, want := make([]float32, 3*sz[3]*sz[3]), make([]float32, 3*sz[3]*sz[3])
		Image(img, p, got)
		windowByTaps(img, p, win.Resize, win.Resize, win.Left, win.Top, win.Crop, win.Crop, want)
		sameBits(t, fmt.Sprint(sz, " Image"), got, want)
		for _, kern := range sets {
			window(img, p, win.Resize, win.Resize, win.Left, win.Top, win.Crop, win.Crop, got, kern)
			sameBits(t, fmt.Sprint(sz, " window ", kern), got, want)
		}
		rw, rh := sz[2], sz[3]+3
		got, want = make([]float32, 3*rw*rh), make([]float32, 3*rw*rh)
		Resized(img, rw, rh, p, got)
		windowByTaps(img, p, rw, rh, 0, 0, rw, rh, want)
		sameBits(t, fmt.Sprint(sz, " Resized"), got, want)
		for _, kern := range sets {
			window(img, p, rw, rh, 0, 0, rw, rh, got, kern)
			sameBits(t, fmt.Sprint(sz, " resized window ", kern), got, want)
		}
	}
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: value %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

// BenchmarkImage preprocesses a ball_screw-sized picture (565x230) to
// inception_v3's 299x299 input.
func BenchmarkImage(b *testing.B) {
	img := dataset.NewRGB(565, 230)
	p := imagenet
	p.Resize, p.Crop = 299, 299
	dst := make([]float32, 3*299*299)
	for b.Loop() {
		Image(img, p, dst)
	}
}
