//go:build cgo && !noturbojpeg

package dataset

/*
#cgo LDFLAGS: -lturbojpeg
#include <turbojpeg.h>

// crd_jpeg_decode decodes the JPEG in buf (size bytes), w x h pixels as its
// header says, into dst as w x h pixels of format pf (TJPF_RGBA or
// TJPF_GRAY, pitch bytes a row), with libjpeg's default (accurate) inverse
// DCT and fancy chroma upsampling. A warning (a truncated or damaged file)
// is an error; progressive files of more than 500 scans are refused. It
// returns 0 on success.
static int crd_jpeg_decode(tjhandle t, const unsigned char *buf, unsigned long size, unsigned char *dst, int w, int pitch, int h, int pf) {
	return tjDecompress2(t, buf, size, dst, w, pitch, h, pf, TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS);
}

// crd_jpeg_header reads the JPEG header in buf: its size and colour space.
static int crd_jpeg_header(tjhandle t, const unsigned char *buf, unsigned long size, int *w, int *h, int *cs) {
	int sub;
	return tjDecompressHeader3(t, buf, size, w, h, &sub, cs);
}
*/
import "C"

import (
	"image"
	"unsafe"
)

// jpegLibrary names the JPEG decoder of this build.
const jpegLibrary = "libjpeg-turbo"

// decodeJPEG decodes a baseline, progressive or arithmetic-coded JPEG of
// w x h pixels with libjpeg-turbo, as PIL (and so PyTorch's and
// anomalib's data loaders) decodes it: an *image.RGBA (opaque) for a
// colour image, an *image.Gray for a grey one. It reports false, and the
// caller decodes with image/jpeg instead, for CMYK and YCCK files, for a
// header that does not say w x h, and on any error or warning of the
// library (image/jpeg then says what is wrong).
func decodeJPEG(data []byte, w, h int) (image.Image, bool) {
	if len(data) == 0 {
		return nil, false
	}
	t := C.tjInitDecompress()
	if t == nil {
		return nil, false
	}
	defer C.tjDestroy(t)
	buf := (*C.uchar)(unsafe.Pointer(&data[0]))
	var cw, ch, cs C.int
	if C.crd_jpeg_header(t, buf, C.ulong(len(data)), &cw, &ch, &cs) != 0 || int(cw) != w || int(ch) != h {
		return nil, false
	}
	var m image.Image
	var pix []byte
	var pitch int
	var pf C.int
	switch cs {
	case C.TJCS_GRAY:
		g := image.NewGray(image.Rect(0, 0, w, h))
		m, pix, pitch, pf = g, g.Pix, g.Stride, C.TJPF_GRAY
	case C.TJCS_YCbCr, C.TJCS_RGB:
		c := image.NewRGBA(image.Rect(0, 0, w, h))
		m, pix, pitch, pf = c, c.Pix, c.Stride, C.TJPF_RGBA
	default:
		return nil, false
	}
	if C.crd_jpeg_decode(t, buf, C.ulong(len(data)), (*C.uchar)(unsafe.Pointer(&pix[0])), C.int(w), C.int(pitch), C.int(h), pf) != 0 {
		return nil, false
	}
	return m, true
}
