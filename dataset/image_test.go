package dataset

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// pattern8 gives the 8-bit test colour of pixel (x, y), distinct per channel and position.
func pattern8(x, y int) (r, g, b uint8) {
	return uint8(10 + 30*x + 7*y), uint8(200 - 20*y + x), uint8(5 * (x + y))
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func encodePNG(t *testing.T, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkPix compares img with want(c, x, y) to within tol.
func checkPix(t *testing.T, name string, img *RGB, w, h int, tol float64, want func(c, x, y int) float64) {
	t.Helper()
	if img.W != w || img.H != h || len(img.Pix) != 3*w*h {
		t.Fatalf("%s: got %dx%d (len %d), want %dx%d", name, img.W, img.H, len(img.Pix), w, h)
	}
	for c := 0; c < 3; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				got, exp := float64(img.At(c, x, y)), want(c, x, y)
				if math.Abs(got-exp) > tol {
					t.Fatalf("%s: channel %d at (%d,%d) = %v, want %v", name, c, x, y, got, exp)
				}
			}
		}
	}
}

func TestLoadImageFormats(t *testing.T) {
	dir := t.TempDir()
	const w, h = 5, 4
	rgb8 := func(c, x, y int) float64 {
		r, g, b := pattern8(x, y)
		return float64([]uint8{r, g, b}[c]) / 255
	}
	exact := 1e-7 // float32 rounding of v/255 or v/65535

	nrgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	gray := image.NewGray(image.Rect(0, 0, w, h))
	gray16 := image.NewGray16(image.Rect(0, 0, w, h))
	rgba64 := image.NewRGBA64(image.Rect(0, 0, w, h))
	nrgba64 := image.NewNRGBA64(image.Rect(0, 0, w, h))
	pal := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{
		color.NRGBA{0, 0, 0, 255}, color.NRGBA{255, 128, 3, 255}, color.NRGBA{17, 34, 51, 100},
	})
	v16 := func(x, y, c int) uint16 { return uint16(1 + 12345*x + 3001*y + 17*c) }
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, b := pattern8(x, y)
			// Alpha varies: dropping it must keep the straight colour.
			nrgba.SetNRGBA(x, y, color.NRGBA{r, g, b, uint8(255 - 50*x)})
			gray.SetGray(x, y, color.Gray{r})
			gray16.SetGray16(x, y, color.Gray16{v16(x, y, 0)})
			rgba64.SetRGBA64(x, y, color.RGBA64{v16(x, y, 0), v16(x, y, 1), v16(x, y, 2), 0xffff})
			nrgba64.SetNRGBA64(x, y, color.NRGBA64{v16(x, y, 0), v16(x, y, 1), v16(x, y, 2), uint16(1000 * (x + 1))})
			pal.SetColorIndex(x, y, uint8((x+y)%3))
		}
	}
	palWant := [3][3]float64{{0, 0, 0}, {1, 128.0 / 255, 3.0 / 255}, {17.0 / 255, 34.0 / 255, 51.0 / 255}}
	greyWant := func(c, x, y int) float64 { r, _, _ := pattern8(x, y); return float64(r) / 255 }
	g16Want := func(c, x, y int) float64 { return float64(v16(x, y, 0)) / 65535 }
	c16Want := func(c, x, y int) float64 { return float64(v16(x, y, c)) / 65535 }

	var bmpBuf, tiffBuf, tiff16Buf, jpegBuf, jpegGreyBuf bytes.Buffer
	opaque := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r, g, b := pattern8(x, y)
			opaque.SetNRGBA(x, y, color.NRGBA{r, g, b, 255})
		}
	}
	if err := bmp.Encode(&bmpBuf, opaque); err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(&tiffBuf, nrgba, &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(&tiff16Buf, gray16, nil); err != nil {
		t.Fatal(err)
	}
	// JPEG is lossy: a flat colour survives to within a couple of levels.
	flat := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	flatGrey := image.NewGray(image.Rect(0, 0, 16, 16))
	for i := 0; i < 16*16; i++ {
		copy(flat.Pix[4*i:], []uint8{200, 100, 50, 255})
		flatGrey.Pix[i] = 77
	}
	if err := jpeg.Encode(&jpegBuf, flat, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&jpegGreyBuf, flatGrey, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		file string
		data []byte
		w, h int
		tol  float64
		want func(c, x, y int) float64
	}{
		{"rgba8.png", encodePNG(t, nrgba), w, h, exact, rgb8},
		{"grey8.png", encodePNG(t, gray), w, h, exact, greyWant},
		{"grey16.png", encodePNG(t, gray16), w, h, exact, g16Want},
		{"rgb16.png", encodePNG(t, rgba64), w, h, exact, c16Want},
		{"rgba16.png", encodePNG(t, nrgba64), w, h, exact, c16Want},
		{"pal.png", encodePNG(t, pal), w, h, exact, func(c, x, y int) float64 { return palWant[(x+y)%3][c] }},
		{"img.bmp", bmpBuf.Bytes(), w, h, exact, rgb8},
		{"img.tif", tiffBuf.Bytes(), w, h, exact, rgb8},
		{"grey16.tiff", tiff16Buf.Bytes(), w, h, exact, g16Want},
		{"flat.jpg", jpegBuf.Bytes(), 16, 16, 3.0 / 255, func(c, x, y int) float64 { return []float64{200, 100, 50}[c] / 255 }},
		{"grey.JPEG", jpegGreyBuf.Bytes(), 16, 16, 1.0 / 255, func(c, x, y int) float64 { return 77.0 / 255 }},
	}
	for _, tc := range cases {
		p := writeFile(t, filepath.Join(dir, tc.file), tc.data)
		img, err := LoadImage(p)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		checkPix(t, tc.file, img, tc.w, tc.h, tc.tol, tc.want)
	}
}

func TestLoadImageFixtures(t *testing.T) {
	// Grey+alpha PNG written by Pillow (testdata/make_fixtures.py): grey = 20x + 60y, alpha dropped.
	img, err := LoadImage("testdata/la8.png")
	if err != nil {
		t.Fatal(err)
	}
	checkPix(t, "la8.png", img, 4, 3, 1e-7, func(c, x, y int) float64 { return float64(20*x+60*y) / 255 })

	// CMYK JPEG (Adobe) written by Pillow: C=50 M=100 Y=150 K=0 -> RGB (205, 155, 105).
	img, err = LoadImage("testdata/cmyk.jpg")
	if err != nil {
		t.Fatal(err)
	}
	checkPix(t, "cmyk.jpg", img, 8, 8, 3.0/255, func(c, x, y int) float64 { return []float64{205, 155, 105}[c] / 255 })
}

func TestLoadImageErrors(t *testing.T) {
	dir := t.TempDir()
	good := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	for i := range good.Pix {
		good.Pix[i] = uint8(i * 7)
	}
	pngData := encodePNG(t, good)
	var jpgBuf bytes.Buffer
	if err := jpeg.Encode(&jpgBuf, good, nil); err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), pngData...)
	for i := 40; i < len(corrupt)-20; i++ { // keep the header, garble the pixel data
		corrupt[i] ^= 0x5a
	}
	cases := []struct {
		file, data string
		want       string
	}{
		{"truncated.png", string(pngData[:len(pngData)/2]), "truncated"},
		{"truncated.jpg", string(jpgBuf.Bytes()[:len(jpgBuf.Bytes())/2]), "truncated"},
		{"corrupt.png", string(corrupt), "corrupt"},
		{"text.png", "this is not an image at all", "unknown image format"},
		{"empty.png", "", "unknown image format"},
		{"zero.bmp", string(zeroBMP()), "zero size"},
	}
	for _, tc := range cases {
		p := writeFile(t, filepath.Join(dir, tc.file), []byte(tc.data))
		_, err := LoadImage(p)
		if err == nil {
			t.Fatalf("%s: no error", tc.file)
		}
		if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q should name the file and say %q", tc.file, err, tc.want)
		}
	}
	missing := filepath.Join(dir, "missing.png")
	if _, err := LoadImage(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: error %v should name the file", err)
	}
	if _, err := LoadMask(filepath.Join(dir, "text.png")); err == nil || !strings.Contains(err.Error(), "text.png") {
		t.Errorf("LoadMask of a non-image: error %v", err)
	}
	if _, err := DecodeImage(strings.NewReader("nope")); err == nil {
		t.Error("DecodeImage of garbage: no error")
	}
}

// zeroBMP is a valid BMP header announcing a 0x0 24-bit image.
func zeroBMP() []byte {
	b := make([]byte, 54)
	copy(b, "BM")
	le := func(off int, v uint32) {
		b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	le(2, 54)
	le(10, 54)
	le(14, 40)
	le(18, 0) // width
	le(22, 0) // height
	b[26], b[28] = 1, 24
	return b
}

func TestLoadMask(t *testing.T) {
	dir := t.TempDir()
	g := image.NewGray(image.Rect(0, 0, 4, 2))
	g.Pix = []uint8{0, 1, 255, 0, 0, 0, 128, 0}
	c := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	c.Pix = []uint8{0, 0, 0, 255, 0, 0, 1, 255, 9, 0, 0, 0, 0, 0, 0, 0}
	m, err := LoadMask(writeFile(t, filepath.Join(dir, "g.png"), encodePNG(t, g)))
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{false, true, true, false, false, false, true, false}
	if m.W != 4 || m.H != 2 || !slices.Equal(m.Pix, want) || m.Count() != 3 {
		t.Errorf("grey mask = %+v, want %v", m, want)
	}
	m, err = LoadMask(writeFile(t, filepath.Join(dir, "c.png"), encodePNG(t, c)))
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{false, true, true, false}; !slices.Equal(m.Pix, want) {
		t.Errorf("colour mask = %v, want %v", m.Pix, want)
	}
}

func TestLoadPairSizeMismatch(t *testing.T) {
	dir := t.TempDir()
	imgPath := writeFile(t, filepath.Join(dir, "img.png"), encodePNG(t, image.NewGray(image.Rect(0, 0, 6, 5))))
	maskPath := writeFile(t, filepath.Join(dir, "img_mask.png"), encodePNG(t, image.NewGray(image.Rect(0, 0, 5, 6))))
	_, _, err := LoadPair(imgPath, maskPath)
	if err == nil {
		t.Fatal("no error for a mask of the wrong size")
	}
	for _, s := range []string{imgPath, maskPath, "6x5", "5x6"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
	okMask := writeFile(t, filepath.Join(dir, "ok_mask.png"), encodePNG(t, image.NewGray(image.Rect(0, 0, 6, 5))))
	img, mask, err := LoadPair(imgPath, okMask)
	if err != nil || img.W != 6 || mask.H != 5 {
		t.Fatalf("LoadPair: %v", err)
	}
	if _, mask, err := LoadPair(imgPath, ""); err != nil || mask != nil {
		t.Fatalf("LoadPair without mask: %v %v", mask, err)
	}
}

func TestFromImageSubimage(t *testing.T) {
	// A sub-image with a non-zero origin is translated to (0,0).
	m := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	m.SetNRGBA(2, 3, color.NRGBA{255, 0, 0, 255})
	sub := m.SubImage(image.Rect(1, 1, 4, 4))
	img := FromImage(sub)
	if img.W != 3 || img.H != 3 || img.At(0, 1, 2) != 1 || img.At(0, 0, 0) != 0 {
		t.Errorf("sub-image conversion wrong: %+v", img)
	}
	if p := img.Plane(1); len(p) != 9 || cap(p) != 9 {
		t.Errorf("Plane length/cap = %d/%d, want 9/9", len(p), cap(p))
	}
}

func BenchmarkLoadJPEG(b *testing.B) {
	src := image.NewNRGBA(image.Rect(0, 0, 1024, 1024))
	for i := range src.Pix {
		src.Pix[i] = uint8(i*31 + i/4096)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, nil); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "b.jpg")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := LoadImage(path); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFromYCbCr checks the row-walking YCbCr conversion against color.YCbCrToRGB through YOffset/COffset, for
// every subsampling ratio, a rectangle with odd offsets and one left of and above the origin.
func TestFromYCbCr(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	}
	for _, ratio := range ratios {
		full := image.NewYCbCr(image.Rect(0, 0, 23, 17), ratio)
		seed := uint32(ratio) + 1
		next := func() uint8 { seed = seed*1664525 + 1013904223; return uint8(seed >> 24) }
		for i := range full.Y {
			full.Y[i] = next()
		}
		for i := range full.Cb {
			full.Cb[i], full.Cr[i] = next(), next()
		}
		neg := image.NewYCbCr(image.Rect(-7, -3, 16, 14), ratio)
		copy(neg.Y, full.Y)
		copy(neg.Cb, full.Cb)
		copy(neg.Cr, full.Cr)
		for _, m := range []*image.YCbCr{full, full.SubImage(image.Rect(3, 5, 22, 16)).(*image.YCbCr), neg,
			neg.SubImage(image.Rect(-5, -1, 14, 12)).(*image.YCbCr)} {
			img := FromImage(m)
			b := m.Bounds()
			for y := 0; y < b.Dy(); y++ {
				for x := 0; x < b.Dx(); x++ {
					yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
					cr, cg, cb := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
					for c, v := range []uint8{cr, cg, cb} {
						if got := img.At(c, x, y); got != float32(v)/255 {
							t.Fatalf("ratio %v rect %v (%d,%d) channel %d: %v, want %v", ratio, b, x, y, c, got, float32(v)/255)
						}
					}
				}
			}
		}
	}
}

// BenchmarkFromImageRGBA converts an opaque 565 x 230 RGBA picture (what
// libjpeg-turbo gives for a ball_screw image) to planar float32.
func BenchmarkFromImageRGBA(b *testing.B) {
	src := image.NewRGBA(image.Rect(0, 0, 565, 230))
	for i := range src.Pix {
		src.Pix[i] = uint8(i*31 + i/4096)
		if i%4 == 3 {
			src.Pix[i] = 0xff
		}
	}
	for i := 0; i < b.N; i++ {
		FromImage(src)
	}
}

// BenchmarkFromImageGray converts a 1024 x 1024 grey picture (an MVTec AD
// screw image's size).
func BenchmarkFromImageGray(b *testing.B) {
	src := image.NewGray(image.Rect(0, 0, 1024, 1024))
	for i := range src.Pix {
		src.Pix[i] = uint8(i*31 + i/4096)
	}
	for i := 0; i < b.N; i++ {
		FromImage(src)
	}
}
