package dataset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/crd-ad/crd/internal/safeio"
)

// bombPNG is a valid PNG header announcing a w x h image of the given bit
// depth and colour type (6: RGBA) followed by an IDAT chunk that holds
// almost nothing: a few hundred bytes that announce gigabytes.
func bombPNG(w, h uint32, depth, colour byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = depth, colour
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01}) // one zero byte, zlib
	chunk("IEND", nil)
	return b.Bytes()
}

// TestPixelLimit: a small file announcing more than DefaultMaxPixels pixels
// (but fewer than the old limit of 2^27) is refused from its header, naming
// the limit; a caller may lower or raise the limit.
func TestPixelLimit(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name          string
		depth, colour byte
	}{{"rgba8.png", 8, 6}, {"rgba16.png", 16, 6}} {
		p := writeFile(t, filepath.Join(dir, tc.name), bombPNG(6000, 6000, tc.depth, tc.colour))
		_, err := LoadImage(p)
		if err == nil || !strings.Contains(err.Error(), "dataset.Limits.MaxPixels") || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v; want the pixel limit named, with the file", tc.name, err)
		}
		if _, err := LoadMask(p); err == nil || !strings.Contains(err.Error(), "dataset.Limits.MaxPixels") {
			t.Errorf("%s as a mask: error %v", tc.name, err)
		}
	}
	small := writeFile(t, filepath.Join(dir, "small.png"), encodePNG(t, image.NewGray(image.Rect(0, 0, 32, 32))))
	if _, err := (Limits{MaxPixels: 32*32 - 1}).LoadImage(small); err == nil || !strings.Contains(err.Error(), "more than the limit of 1023") {
		t.Errorf("lowered limit: error %v", err)
	}
	if img, err := (Limits{MaxPixels: 32 * 32}).LoadImage(small); err != nil || img.W != 32 {
		t.Errorf("at the limit: %v", err)
	}
}

// TestFileLimits: files are checked before they are read: an oversized
// (sparse) file, a link to /dev/zero and a FIFO are refused at once.
func TestFileLimits(t *testing.T) {
	dir := t.TempDir()
	sparse := filepath.Join(dir, "sparse.png")
	if err := os.WriteFile(sparse, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sparse, 3<<30); err != nil {
		t.Skip(err)
	}
	_, err := LoadImage(sparse)
	if !errors.Is(err, safeio.ErrTooLarge) || !strings.Contains(err.Error(), "dataset.Limits.MaxFileBytes") || !strings.Contains(err.Error(), sparse) {
		t.Errorf("sparse 3 GB file: %v", err)
	}
	small := writeFile(t, filepath.Join(dir, "small.png"), encodePNG(t, image.NewGray(image.Rect(0, 0, 8, 8))))
	if _, err := (Limits{MaxFileBytes: 10}).LoadMask(small); !errors.Is(err, safeio.ErrTooLarge) {
		t.Errorf("lowered file limit: %v", err)
	}
	if _, err := (Limits{MaxFileBytes: 10}).DecodeImage(bytes.NewReader(encodePNG(t, image.NewGray(image.Rect(0, 0, 8, 8))))); !errors.Is(err, safeio.ErrTooLarge) {
		t.Errorf("DecodeImage over the file limit: %v", err)
	}
	zero := filepath.Join(dir, "zero.png")
	if err := os.Symlink("/dev/zero", zero); err == nil {
		if _, err := LoadImage(zero); !errors.Is(err, safeio.ErrNotRegular) || !strings.Contains(err.Error(), zero) {
			t.Errorf("/dev/zero: %v", err)
		}
	}
	if _, err := LoadImage(dir); !errors.Is(err, safeio.ErrNotRegular) {
		t.Errorf("folder: %v", err)
	}
}

// TestFormatsAgree: the supported formats are the ones whose extensions
// ListImages picks up and whose decoders LoadImage accepts; another format
// (a GIF, even when named .png) is an unknown format, and the message lists
// the supported ones.
func TestFormatsAgree(t *testing.T) {
	dir := t.TempDir()
	src := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	for i := range src.Pix {
		src.Pix[i] = 255
	}
	enc := map[string]func(*bytes.Buffer) error{
		"png":  func(b *bytes.Buffer) error { _, err := b.Write(encodePNG(t, src)); return err },
		"jpeg": func(b *bytes.Buffer) error { return jpeg.Encode(b, src, nil) },
		"bmp":  func(b *bytes.Buffer) error { return bmp.Encode(b, src) },
		"tiff": func(b *bytes.Buffer) error { return tiff.Encode(b, src, nil) },
	}
	if len(enc) != len(formats) {
		t.Fatalf("test encoders for %d formats, the table has %d", len(enc), len(formats))
	}
	for _, f := range formats {
		var b bytes.Buffer
		if err := enc[f.name](&b); err != nil {
			t.Fatal(err)
		}
		if _, name, err := image.DecodeConfig(bytes.NewReader(b.Bytes())); err != nil || name != f.name {
			t.Errorf("%s: decoder registered as %q, %v", f.display, name, err)
		}
		for _, ext := range f.exts {
			if !IsImageFile("x" + strings.ToUpper(ext)) {
				t.Errorf("%s: extension %s not picked up", f.display, ext)
			}
			p := writeFile(t, filepath.Join(dir, "x"+ext), b.Bytes())
			if img, err := LoadImage(p); err != nil || img.W != 4 || img.H != 3 {
				t.Errorf("%s: %v", p, err)
			}
		}
		if !strings.Contains(supportedFormats(), f.display) {
			t.Errorf("%s missing from %q", f.display, supportedFormats())
		}
	}
	var g bytes.Buffer
	if err := gif.Encode(&g, src, nil); err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, filepath.Join(dir, "gif.png"), g.Bytes())
	if _, err := LoadImage(p); err == nil || !strings.Contains(err.Error(), "unknown image format (supported: PNG, JPEG, BMP, TIFF)") {
		t.Errorf("GIF named .png: %v", err)
	}
	if IsImageFile("a.gif") || IsImageFile("a.webp") {
		t.Error("unsupported extensions picked up")
	}
}

// TestDecodeBudget: concurrent decodes hold at most the budget; one image
// larger than the whole budget still decodes (alone).
func TestDecodeBudget(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "a.png"), encodePNG(t, image.NewNRGBA(image.Rect(0, 0, 64, 64))))
	one := decodeBytes("png", color.NRGBAModel, 64*64, 0, 12)
	saved := decodes
	defer func() { decodes = saved }()
	for _, size := range []int64{one * 3 / 2, one / 2} {
		decodes = newBudget(size)
		var wg sync.WaitGroup
		errs := make([]error, 16)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = LoadImage(p) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if decodes.peak > size || decodes.peak == 0 || decodes.used != 0 {
			t.Errorf("budget %d: peak %d, still held %d", size, decodes.peak, decodes.used)
		}
	}
	if a, b := decodeBytes("png", color.NRGBA64Model, 100, 0, 12), decodeBytes("png", color.NRGBAModel, 100, 0, 12); a <= b {
		t.Errorf("a 16-bit PNG is estimated at %d bytes, an 8-bit one at %d", a, b)
	}
}
