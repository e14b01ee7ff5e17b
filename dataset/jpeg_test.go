package dataset

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJPEGMatchesPillow decodes the JPEGs of testdata/jpeg (4:2:0, 4:2:2,
// 4:4:4, grey, progressive; testdata/make_jpeg_fixtures.py) and compares
// them with the pixels Pillow decoded from the same files. With
// libjpeg-turbo (a cgo build) they must be the same, bit for bit; with
// image/jpeg (no cgo, or the tag noturbojpeg), whose inverse DCT and
// chroma upsampling differ, within a few levels.
func TestJPEGMatchesPillow(t *testing.T) {
	exact := jpegLibrary == "libjpeg-turbo"
	for _, name := range []string{"420", "422", "444", "grey", "progressive"} {
		img, err := LoadImage(filepath.Join("testdata", "jpeg", name+".jpg"))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join("testdata", "jpeg", name+".raw"))
		if err != nil {
			t.Fatal(err)
		}
		const w, h = 37, 23
		if img.W != w || img.H != h {
			t.Fatalf("%s: %dx%d, want %dx%d", name, img.W, img.H, w, h)
		}
		ch := len(raw) / (w * h) // 3, or 1 for grey
		var worst, sum float64
		for c := 0; c < 3; c++ {
			for i := 0; i < w*h; i++ {
				want := float64(raw[i*ch+min(c, ch-1)])
				d := math.Abs(float64(img.Pix[c*w*h+i])*255 - want)
				worst = max(worst, d)
				sum += d
			}
		}
		mean := sum / float64(3*w*h)
		t.Logf("%s (%s): max %.2f, mean %.3f levels from Pillow", name, jpegLibrary, worst, mean)
		if exact && worst > 1e-3 {
			t.Errorf("%s: %s differs from Pillow by up to %.2f levels (mean %.3f), want none", name, jpegLibrary, worst, mean)
		}
		// image/jpeg replicates chroma samples where libjpeg interpolates
		// them: at the disc's edge and in the noise of the test picture
		// (4:2:0, 4:2:2) up to 64 levels apart, about 3-5 on average.
		if !exact && (worst > 80 || mean > 6) {
			t.Errorf("%s: %s differs from Pillow by up to %.2f levels (mean %.3f)", name, jpegLibrary, worst, mean)
		}
	}
}

// TestTruncatedJPEG: a JPEG cut short is an error that names the file,
// not an image with its missing part filled in (libjpeg-turbo would warn
// and go on).
func TestTruncatedJPEG(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "jpeg", "420.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range []int{len(data) - 2, len(data) * 3 / 4, len(data) / 2} {
		path := writeFile(t, filepath.Join(t.TempDir(), "cut.jpg"), data[:keep])
		img, err := LoadImage(path)
		if err == nil {
			t.Fatalf("%d of %d bytes: decoded a %dx%d image, want an error", keep, len(data), img.W, img.H)
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%d of %d bytes: error %q does not name the file", keep, len(data), err)
		}
	}
}
