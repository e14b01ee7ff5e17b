package report

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/dataset"
)

// TestFastPNGPixels checks that crd's PNG writer gives the pixels and the colour model image/png gives, for opaque
// RGBA and grey pictures of several sizes (sub-images too), and leaves translucent pictures to image/png.
func TestFastPNGPixels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][2]int{{1, 1}, {2, 3}, {7, 5}, {64, 33}, {565, 230}} {
		w, h := sz[0], sz[1]
		rgba := image.NewRGBA(image.Rect(0, 0, w+3, h+2))
		grey := image.NewGray(image.Rect(0, 0, w+3, h+2))
		for i := range rgba.Pix {
			rgba.Pix[i] = uint8(rng.IntN(256))
			if i%4 == 3 {
				rgba.Pix[i] = 255
			}
		}
		for i := range grey.Pix {
			if rng.IntN(9) == 0 { // mostly runs, as in a mask
				grey.Pix[i] = uint8(rng.IntN(256))
			}
		}
		r := image.Rect(2, 1, w+2, h+1)
		for _, img := range []image.Image{rgba, grey, rgba.SubImage(r), grey.SubImage(r)} {
			var fast, std bytes.Buffer
			ok, err := encodeFastPNG(&fast, img)
			if !ok || err != nil {
				t.Fatalf("%T %v: fast writer ok=%v err=%v", img, img.Bounds(), ok, err)
			}
			if err := png.Encode(&std, img); err != nil {
				t.Fatal(err)
			}
			got, err := png.Decode(&fast)
			if err != nil {
				t.Fatalf("%T %v: decoding the fast writer's PNG: %v", img, img.Bounds(), err)
			}
			want, err := png.Decode(&std)
			if err != nil {
				t.Fatal(err)
			}
			if got.ColorModel() != want.ColorModel() || got.Bounds() != want.Bounds() {
				t.Fatalf("%T %v: decoded as %T %v, image/png's as %T %v", img, img.Bounds(), got, got.Bounds(), want, want.Bounds())
			}
			gp, wp := pixels(got), pixels(want)
			if !bytes.Equal(gp, wp) {
				t.Fatalf("%T %v: pixels differ from image/png's", img, img.Bounds())
			}
		}
	}
	translucent := image.NewRGBA(image.Rect(0, 0, 4, 4))
	if ok, _ := encodeFastPNG(new(bytes.Buffer), translucent); ok {
		t.Error("a translucent RGBA picture went through the fast writer")
	}
}

// pixels is img's pixels as RGBA bytes, row by row.
func pixels(img image.Image) []byte {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Rect, img, b.Min, draw.Src)
	return out.Pix
}

// BenchmarkWriteHeatPNG encodes a 565 x 230 heat map over a noisy picture, as `crd predict --out` writes, with crd's
// writer and with image/png at BestSpeed.
func BenchmarkWriteHeatPNG(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := image.NewRGBA(image.Rect(0, 0, 565, 230))
	for i := range m.Pix {
		m.Pix[i] = uint8(96 + rng.IntN(32) + i/4%565/8)
		if i%4 == 3 {
			m.Pix[i] = 255
		}
	}
	var buf bytes.Buffer
	b.Run("crd", func(b *testing.B) {
		for b.Loop() {
			buf.Reset()
			if _, err := encodeFastPNG(&buf, m); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
	b.Run("image-png", func(b *testing.B) {
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(&buf, m); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes")
	})
}

// TestWritePredictionMatchesOverlay checks the heat map and mask that `crd predict --out` writes row by row against
// Overlay's picture and the thresholded map, decoded, for a calibrated and an uncalibrated model.
func TestWritePredictionMatchesOverlay(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	w, h := 53, 21
	img := dataset.NewRGB(w, h)
	for i := range img.Pix {
		img.Pix[i] = float32(rng.Float64())
	}
	m := anomalymap.NewMap(w, h)
	for i := range m.Pix {
		m.Pix[i] = float32(rng.Float64() * 3)
	}
	dir := t.TempDir()
	heat, mask := filepath.Join(dir, "h.png"), filepath.Join(dir, "m.png")
	for _, calibrated := range []bool{true, false} {
		const thr = 1.5
		if err := writePrediction(heat, mask, img, m, 0, 2*thr, calibrated, thr); err != nil {
			t.Fatal(err)
		}
		if got, want := pixels(decodeFile(t, heat)), pixels(Overlay(img, m, 0, 2*thr, 0.45)); !bytes.Equal(got, want) {
			t.Errorf("calibrated %v: heat map differs from Overlay's", calibrated)
		}
		g := decodeFile(t, mask).(*image.Gray)
		for i, v := range m.Pix {
			want := uint8(0)
			if calibrated && v > thr {
				want = 255
			}
			if g.Pix[i] != want {
				t.Fatalf("calibrated %v: mask pixel %d = %d, want %d", calibrated, i, g.Pix[i], want)
			}
		}
	}
}

// decodeFile decodes the PNG file at path.
func decodeFile(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestEncodePNGDecodesToTheSamePixels: EncodePNG's output decodes, through
// image/png, to the pixels of the picture given, on its own writer's path
// (opaque RGBA, grey) and on image/png's (a translucent NRGBA).
func TestEncodePNGDecodesToTheSamePixels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	rgba := image.NewRGBA(image.Rect(0, 0, 13, 7))
	grey := image.NewGray(image.Rect(0, 0, 13, 7))
	nrgba := image.NewNRGBA(image.Rect(0, 0, 13, 7))
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(r.IntN(256))
		nrgba.Pix[i] = uint8(r.IntN(256))
		if i%4 == 3 {
			rgba.Pix[i] = 255
		}
	}
	for i := range grey.Pix {
		grey.Pix[i] = uint8(r.IntN(256))
	}
	for _, img := range []image.Image{rgba, grey, nrgba} {
		var b bytes.Buffer
		if err := EncodePNG(&b, img); err != nil {
			t.Fatal(err)
		}
		got, err := png.Decode(&b)
		if err != nil {
			t.Fatalf("%T: %v", img, err)
		}
		for y := 0; y < 7; y++ {
			for x := 0; x < 13; x++ {
				if g, w := color.NRGBAModel.Convert(got.At(x, y)), color.NRGBAModel.Convert(img.At(x, y)); g != w {
					t.Fatalf("%T: pixel (%d, %d) is %v, want %v", img, x, y, g, w)
				}
			}
		}
	}
}

// BenchmarkWritePrediction writes what `crd predict --out` writes for one 565 x 230 ball_screw-sized image: the heat
// map over the picture and the mask; "blend" is the heat map's blend alone.
func BenchmarkWritePrediction(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	w, h := 565, 230
	img := dataset.NewRGB(w, h)
	for i := range img.Pix {
		img.Pix[i] = float32(rng.IntN(256)) / 255
	}
	m := anomalymap.NewMap(w, h)
	for i := range m.Pix {
		m.Pix[i] = float32(rng.Float64() * 3)
	}
	dir := b.TempDir()
	b.Run("files", func(b *testing.B) {
		for b.Loop() {
			if err := writePrediction(filepath.Join(dir, "h.png"), filepath.Join(dir, "m.png"), img, m, 0, 3, true, 1.5); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("blend", func(b *testing.B) {
		bl, row := newBlender(img, m, linear(0, 3), 0.45), make([]byte, 3*w)
		for b.Loop() {
			for y := range h {
				bl.blend(row, 3, y*w, w)
			}
		}
	})
}
