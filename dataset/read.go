package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
	"sync"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"

	"github.com/crd-ad/crd/internal/safeio"
)

// format is one supported image format: the name the decoder registers with
// package image, the name used in messages, and the file extensions
// ListImages picks up for it. This table is the one list of supported
// formats: the extensions, the decoders accepted and the error texts all
// come from it.
type format struct {
	name, display string
	exts          []string
}

var formats = []format{
	{"png", "PNG", []string{".png"}},
	{"jpeg", "JPEG", []string{".jpg", ".jpeg"}},
	{"bmp", "BMP", []string{".bmp"}},
	{"tiff", "TIFF", []string{".tif", ".tiff"}},
}

// supportedFormats is the list of format names for messages, for example
// "PNG, JPEG, BMP, TIFF".
func supportedFormats() string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.display
	}
	return strings.Join(names, ", ")
}

// Limits bounds what reading one image or mask may cost, whatever its file
// says. A zero field takes its default. Errors name the limit that was
// reached (as "dataset.Limits.MaxPixels"), so that a caller who trusts
// bigger images knows what to raise.
type Limits struct {
	// MaxPixels bounds width times height, checked from the file's header
	// before the pixels are decoded. Default DefaultMaxPixels.
	MaxPixels int64
	// MaxFileBytes bounds the size of the encoded image, checked before a
	// byte of it is read. Default DefaultMaxFileBytes.
	MaxFileBytes int64
}

// Default limits: far above the images of industrial inspection (MVTec AD's
// largest are 1024 x 1024, a 25-megapixel camera gives 5120 x 5120) and low
// enough that one image cannot take more than about 700 MB to decode.
const (
	// DefaultMaxPixels is 2^25 pixels, for example 8192 x 4096 or
	// 5792 x 5792.
	DefaultMaxPixels = 1 << 25
	// DefaultMaxFileBytes is 512 MiB: an uncompressed 16-bit RGBA TIFF of
	// DefaultMaxPixels pixels takes 256 MiB.
	DefaultMaxFileBytes = 512 << 20
)

// DecodeBudget bounds the memory (in bytes, as estimated from each image's
// header and format) of the decodes that run at once in one process: a
// decode waits until the images being decoded leave room for its own. An
// image whose estimate exceeds the budget alone is decoded on its own.
const DecodeBudget = 1 << 30

// withDefaults returns l with each zero (or negative) field set to its
// default.
func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	return l
}

func (l Limits) fileLimit() safeio.Limit {
	return safeio.Limit{Bytes: l.MaxFileBytes, Name: "dataset.Limits.MaxFileBytes"}
}

// LoadImage is the package's LoadImage under the limits l.
func (l Limits) LoadImage(path string) (*RGB, error) {
	var out *RGB
	err := l.decodeFile(path, 3*4, func(m image.Image) { out = FromImage(m) })
	return out, err
}

// LoadMask is the package's LoadMask under the limits l.
func (l Limits) LoadMask(path string) (*Mask, error) {
	var out *Mask
	err := l.decodeFile(path, 1, func(m image.Image) { out = MaskFromImage(m) })
	return out, err
}

// DecodeImage is the package's DecodeImage under the limits l: at most
// MaxFileBytes bytes are read from r.
func (l Limits) DecodeImage(r io.Reader) (*RGB, error) {
	var out *RGB
	err := l.decodeReader(r, 3*4, func(m image.Image) { out = FromImage(m) })
	return out, err
}

// decodeReader is decodeFile for an image read from r.
func (l Limits) decodeReader(r io.Reader, outBPP int64, convert func(image.Image)) error {
	l = l.withDefaults()
	data, err := safeio.ReadAll(r, "image", l.fileLimit())
	if err != nil {
		return fmt.Errorf("dataset: cannot read image: %w", err)
	}
	if err := l.decode(bytes.NewReader(data), int64(len(data)), outBPP, convert); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	return nil
}

// decodeFile decodes the regular file at path and hands the image to
// convert, which turns it into outBPP bytes per pixel. The file's size is
// checked before it is opened, and its header before its pixels are read.
func (l Limits) decodeFile(path string, outBPP int64, convert func(image.Image)) error {
	l = l.withDefaults()
	f, size, err := safeio.Open(path, l.fileLimit())
	if err != nil {
		// *PathError and safeio's errors name the file.
		return fmt.Errorf("dataset: cannot read image: %w", err)
	}
	defer f.Close()
	if err := l.decode(io.NewSectionReader(f, 0, size), size, outBPP, convert); err != nil {
		return fmt.Errorf("dataset: %s: %w", path, err)
	}
	return nil
}

// decode decodes one image of size bytes, checking the header first, within
// the process's DecodeBudget, and hands it to convert. Decoder errors become
// messages that say what is wrong with the data.
func (l Limits) decode(r io.ReadSeeker, size, outBPP int64, convert func(image.Image)) error {
	cfg, name, err := image.DecodeConfig(bufio.NewReader(r))
	if err != nil {
		return describe(err, "")
	}
	f, ok := lookupFormat(name)
	if !ok {
		return describe(image.ErrFormat, "")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return fmt.Errorf("%s image has zero size (%dx%d)", f.display, cfg.Width, cfg.Height)
	}
	pixels := int64(cfg.Width) * int64(cfg.Height)
	if pixels > l.MaxPixels {
		return fmt.Errorf("%s image is %dx%d, %d pixels, more than the limit of %d (dataset.Limits.MaxPixels)",
			f.display, cfg.Width, cfg.Height, pixels, l.MaxPixels)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return err
	}
	held := decodes.acquire(decodeBytes(f.name, cfg.ColorModel, pixels, size, outBPP))
	defer decodes.release(held)
	if f.name == "jpeg" {
		if m, ok := decodeJPEGFile(r, size, cfg.Width, cfg.Height); ok {
			convert(m)
			return nil
		}
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	m, _, err := image.Decode(r)
	if err != nil {
		return describe(err, f.display)
	}
	if b := m.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return fmt.Errorf("%s image has zero size (%dx%d)", f.display, b.Dx(), b.Dy())
	}
	convert(m)
	return nil
}

// JPEGDecoder names the JPEG decoder of this build: "libjpeg-turbo" (a cgo
// build) or "image/jpeg" (CGO_ENABLED=0, or the noturbojpeg tag). The two
// give pixels a few levels apart where chroma is subsampled.
func JPEGDecoder() string { return jpegLibrary }

// decodeJPEGFile decodes the size-byte JPEG file r of w x h pixels with
// decodeJPEG, and reports false where that does not (image/jpeg then
// decodes it, or says what is wrong with it).
func decodeJPEGFile(r io.Reader, size int64, w, h int) (image.Image, bool) {
	if jpegLibrary == "image/jpeg" {
		return nil, false
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, false
	}
	return decodeJPEG(data, w, h)
}

func lookupFormat(name string) (format, bool) {
	for _, f := range formats {
		if f.name == name {
			return f, true
		}
	}
	return format{}, false
}

// decodeBytes estimates the memory that decoding an image of the given
// format, colour model, pixel count and file size takes, with the result
// of outBPP bytes per pixel it is converted to.
func decodeBytes(name string, model color.Model, pixels, size, outBPP int64) int64 {
	var bpp int64 // bytes per decoded pixel
	switch model {
	case color.GrayModel:
		bpp = 1
	case color.Gray16Model:
		bpp = 2
	case color.RGBAModel, color.NRGBAModel:
		bpp = 4
	default: // 16-bit colour, paletted, unknown: the most
		bpp = 8
	}
	switch name {
	case "jpeg":
		// A progressive JPEG keeps an int32 coefficient per sample of up to
		// four components, then the decoded samples (image/jpeg; libjpeg-turbo
		// keeps less), and decodeJPEGFile reads the whole file first.
		bpp = 4*4 + 4
		return pixels*(bpp+outBPP) + size
	case "png":
		bpp *= 2 // an interlaced PNG is decoded pass by pass, then copied
	case "tiff":
		bpp *= 2
		pixels += size // the decoder reads the whole file into memory
	}
	return pixels * (bpp + outBPP)
}

func describe(err error, format string) error {
	what := "image"
	if format != "" {
		what = format + " image"
	}
	var (
		pngErr  png.FormatError
		jpegErr jpeg.FormatError
		tiffErr tiff.FormatError
		pngUns  png.UnsupportedError
		jpegUns jpeg.UnsupportedError
		tiffUns tiff.UnsupportedError
	)
	switch {
	case errors.Is(err, image.ErrFormat):
		return fmt.Errorf("unknown image format (supported: %s)", supportedFormats())
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("truncated %s: %w", what, err)
	case errors.As(err, &pngErr), errors.As(err, &jpegErr), errors.As(err, &tiffErr):
		return fmt.Errorf("corrupt %s data: %w", what, err)
	case errors.As(err, &pngUns), errors.As(err, &jpegUns), errors.As(err, &tiffUns),
		errors.Is(err, bmp.ErrUnsupported):
		return fmt.Errorf("unsupported %s variant: %w", what, err)
	}
	return fmt.Errorf("corrupt %s data: %w", what, err)
}

// budget is a weighted semaphore over bytes of memory.
type budget struct {
	mu   sync.Mutex
	cond sync.Cond
	size int64 // capacity
	used int64 // held now
	peak int64 // the most ever held at once (for tests)
}

func newBudget(size int64) *budget {
	b := &budget{size: size}
	b.cond.L = &b.mu
	return b
}

// decodes is the process's DecodeBudget, shared by every decode.
var decodes = newBudget(DecodeBudget)

// acquire waits until n bytes (at most the whole budget) are free, takes
// them and returns how many it took, for release.
func (b *budget) acquire(n int64) int64 {
	n = max(min(n, b.size), 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.used+n > b.size {
		b.cond.Wait()
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return n
}

// release gives back n bytes taken by acquire.
func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}
