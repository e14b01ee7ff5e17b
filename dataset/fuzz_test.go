package dataset

import (
	"bytes"
	"image"
	"testing"
)

// fuzzLimits keep each fuzzed image small and fast.
var fuzzLimits = Limits{MaxPixels: 1 << 16, MaxFileBytes: 1 << 20}

// The seed corpus (testdata/fuzz/FuzzDecodeImage and FuzzMask) holds small
// images of every supported format in several pixel formats: 8- and 16-bit,
// grey, paletted, RGBA, CMYK JPEG, deflated TIFF.

// FuzzDecodeImage: any bytes give an image of the size its header announced,
// within the limits, or an error; never a panic.
func FuzzDecodeImage(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := fuzzLimits.DecodeImage(bytes.NewReader(b))
		if err != nil {
			return
		}
		if img.W <= 0 || img.H <= 0 || int64(img.W)*int64(img.H) > fuzzLimits.MaxPixels || len(img.Pix) != 3*img.W*img.H {
			t.Fatalf("%dx%d image with %d values", img.W, img.H, len(img.Pix))
		}
		for _, v := range img.Pix {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("sample %v outside [0,1]", v)
			}
		}
	})
}

// FuzzMask: any bytes give a mask of the announced size, within the limits,
// or an error; never a panic.
func FuzzMask(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var m *Mask
		err := fuzzLimits.decodeReader(bytes.NewReader(b), 1, func(src image.Image) { m = MaskFromImage(src) })
		if err != nil {
			return
		}
		if m.W <= 0 || m.H <= 0 || int64(m.W)*int64(m.H) > fuzzLimits.MaxPixels || len(m.Pix) != m.W*m.H {
			t.Fatalf("%dx%d mask with %d values", m.W, m.H, len(m.Pix))
		}
	})
}
