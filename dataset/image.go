// Package dataset decodes images and defect masks and lists the files of a data set (MVTec AD layout or plain
// folders).
//
// Images are decoded into RGB: planar float32 in [0,1], channel-major (CHW). Every supported pixel format is
// converted exactly: 8-bit samples become v/255, 16-bit samples v/65535, grey is replicated to the three channels,
// paletted images are expanded through their palette. Alpha is dropped: the colour channels are taken as straight
// (non-premultiplied) values, as if the image were opaque, so a transparent pixel keeps its colour; a pixel stored
// premultiplied with alpha 0 becomes black.
//
// JPEGs are decoded by libjpeg-turbo (in a cgo build without the tag noturbojpeg) as Pillow decodes them: accurate
// inverse DCT, chroma upsampled by interpolation. CMYK and YCCK JPEGs, and builds without it, go through the standard
// library's decoder and conversions, whose pixels differ by a few levels where chroma is subsampled (it replicates
// chroma samples).
//
// The supported formats are PNG, JPEG, BMP and TIFF; importing this package registers their decoders with
// image.Decode. Files are read under Limits: only regular files within a size limit, with the pixel count checked
// from the header before the pixels are decoded, and the memory of concurrent decodes bounded by DecodeBudget.
package dataset

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"math/bits"
)

// RGB is a colour image in planar float32: Pix holds the R plane, then the G plane, then the B plane, each H rows of
// W values, row-major. Sample values are in [0,1].
type RGB struct {
	W, H int
	Pix  []float32 // len 3*W*H
}

// NewRGB returns a black w x h image.
func NewRGB(w, h int) *RGB {
	if w < 0 || h < 0 {
		panic("dataset: negative image size")
	}
	return &RGB{W: w, H: h, Pix: make([]float32, 3*w*h)}
}

// Plane returns channel c (0 = R, 1 = G, 2 = B) as a slice of W*H values, row-major. It aliases Pix.
func (m *RGB) Plane(c int) []float32 {
	n := m.W * m.H
	return m.Pix[c*n : (c+1)*n : (c+1)*n]
}

// At returns the value of channel c at column x, row y.
func (m *RGB) At(c, x, y int) float32 {
	return m.Pix[(c*m.H+y)*m.W+x]
}

// Mask is a binary defect mask: Pix[y*W+x] is true where the pixel belongs to a defect.
type Mask struct {
	W, H int
	Pix  []bool // len W*H
}

// Count returns the number of defect pixels.
func (m *Mask) Count() int {
	n := 0
	for _, v := range m.Pix {
		if v {
			n++
		}
	}
	return n
}

// LoadImage reads and decodes the image file at path under the default Limits. Errors name the file and say
// whether it could not be read (missing, not a regular file, over a size limit), is of an unknown format, is
// truncated or corrupt, or is empty (zero width or height).
func LoadImage(path string) (*RGB, error) { return Limits{}.LoadImage(path) }

// DecodeImage decodes an image from r (any supported format) under the default Limits. It is LoadImage for callers
// that hold the encoded bytes rather than a file; errors do not name a file.
func DecodeImage(r io.Reader) (*RGB, error) { return Limits{}.DecodeImage(r) }

// LoadMask reads a defect mask under the default Limits. A pixel is a defect when its grey value is nonzero; for
// colour masks, when any of its colour channels is nonzero (alpha is ignored). Errors are as for LoadImage.
func LoadMask(path string) (*Mask, error) { return Limits{}.LoadMask(path) }

// CheckMaskSize returns an error naming both files and both sizes when the mask is not the image's size.
func CheckMaskSize(imagePath string, img *RGB, maskPath string, mask *Mask) error {
	if img.W != mask.W || img.H != mask.H {
		return fmt.Errorf("dataset: mask %s is %dx%d but its image %s is %dx%d",
			maskPath, mask.W, mask.H, imagePath, img.W, img.H)
	}
	return nil
}

// LoadPair loads an image and, when maskPath is not empty, its mask, and checks that their sizes agree. The mask
// is nil when maskPath is empty.
func LoadPair(imagePath, maskPath string) (*RGB, *Mask, error) {
	img, err := LoadImage(imagePath)
	if err != nil {
		return nil, nil, err
	}
	if maskPath == "" {
		return img, nil, nil
	}
	mask, err := LoadMask(maskPath)
	if err != nil {
		return nil, nil, err
	}
	if err := CheckMaskSize(imagePath, img, maskPath, mask); err != nil {
		return nil, nil, err
	}
	return img, mask, nil
}

// lut8[v] = v/255 as float32.
var lut8 = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// FromImage converts any image.Image to RGB as described in the package comment. The result is W x H with the
// image's bounds translated to the origin.
func FromImage(src image.Image) *RGB {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	dst := NewRGB(w, h)
	n := w * h
	r, g, bl := dst.Pix[:n], dst.Pix[n:2*n], dst.Pix[2*n:]
	switch s := src.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+w]
			for x, v := range row {
				f := lut8[v]
				r[y*w+x], g[y*w+x], bl[y*w+x] = f, f, f
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+2*w]
			for x := 0; x < w; x++ {
				f := float32(uint16(row[2*x])<<8|uint16(row[2*x+1])) / 65535
				r[y*w+x], g[y*w+x], bl[y*w+x] = f, f, f
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+4*w]
			for x := 0; x < w; x++ {
				i := y*w + x
				r[i], g[i], bl[i] = lut8[row[4*x]], lut8[row[4*x+1]], lut8[row[4*x+2]]
			}
		}
	case *image.NRGBA64:
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+8*w]
			for x := 0; x < w; x++ {
				i := y*w + x
				p := row[8*x : 8*x+6]
				r[i] = float32(uint16(p[0])<<8|uint16(p[1])) / 65535
				g[i] = float32(uint16(p[2])<<8|uint16(p[3])) / 65535
				bl[i] = float32(uint16(p[4])<<8|uint16(p[5])) / 65535
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+4*w]
			rr, gg, bb := r[y*w:(y+1)*w], g[y*w:(y+1)*w], bl[y*w:(y+1)*w]
			gg, bb, row = gg[:len(rr)], bb[:len(rr)], row[:4*len(rr)]
			for x := range rr {
				p := row[4*x : 4*x+4 : 4*x+4]
				if p[3] != 0xff {
					c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
					rr[x], gg[x], bb[x] = lut8[c.R], lut8[c.G], lut8[c.B]
					continue
				}
				rr[x], gg[x], bb[x] = lut8[p[0]], lut8[p[1]], lut8[p[2]]
			}
		}
	case *image.YCbCr:
		fromYCbCr(s, r, g, bl)
	case *image.Paletted:
		var pal [256][3]float32
		for k, c := range s.Palette {
			c16 := straight(c)
			pal[k] = [3]float32{float32(c16.R) / 65535, float32(c16.G) / 65535, float32(c16.B) / 65535}
		}
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+w]
			for x, k := range row {
				i := y*w + x
				p := pal[k]
				r[i], g[i], bl[i] = p[0], p[1], p[2]
			}
		}
	default:
		// RGBA64, CMYK, NYCbCrA and anything else: through straight-alpha 16-bit colour. For 8-bit sources
		// v*257/65535 == v/255 exactly.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := straight(src.At(b.Min.X+x, b.Min.Y+y))
				i := y*w + x
				r[i], g[i], bl[i] = float32(c.R)/65535, float32(c.G)/65535, float32(c.B)/65535
			}
		}
	}
	return dst
}

// fromYCbCr converts a JPEG's YCbCr image to planar RGB with the same 8-bit arithmetic as color.YCbCrToRGB,
// walking rows directly instead of calling YOffset/COffset per pixel.
func fromYCbCr(s *image.YCbCr, r, g, bl []float32) {
	b := s.Rect
	w, h := b.Dx(), b.Dy()
	hs, vs := 1, 1 // chroma subsampling, horizontal and vertical
	switch s.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		hs = 2
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	case image.YCbCrSubsampleRatio440:
		vs = 2
	case image.YCbCrSubsampleRatio411:
		hs = 4
	case image.YCbCrSubsampleRatio410:
		hs, vs = 4, 2
	}
	// hs is 1, 2 or 4: for the usual origin at or right of x = 0 the
	// chroma column sx/hs is a shift, not a division per pixel.
	shift := uint(bits.TrailingZeros(uint(hs)))
	for y := 0; y < h; y++ {
		sy := b.Min.Y + y
		yRow := s.Y[(sy-b.Min.Y)*s.YStride:]
		cBase := (sy/vs - b.Min.Y/vs) * s.CStride
		cb, cr := s.Cb[cBase:], s.Cr[cBase:]
		out := y * w
		if b.Min.X >= 0 {
			ycbcrRow(yRow[:w], cb, cr, b.Min.X, shift, r[out:out+w], g[out:out+w], bl[out:out+w])
			continue
		}
		for x := 0; x < w; x++ {
			sx := b.Min.X + x
			ci := sx/hs - b.Min.X/hs
			// color.YCbCrToRGB, inlined.
			yy := int32(yRow[x]) * 0x10101
			cb1, cr1 := int32(cb[ci])-128, int32(cr[ci])-128
			rr := yy + 91881*cr1
			gg := yy - 22554*cb1 - 46802*cr1
			bb := yy + 116130*cb1
			r[out+x], g[out+x], bl[out+x] = lut8[clip16(rr)], lut8[clip16(gg)], lut8[clip16(bb)]
		}
	}
}

// ycbcrRow converts one row of fromYCbCr: luma row yRow, chroma rows cb and
// cr whose first sample is column minX>>shift, for an image whose left
// column minX is not negative (so sx/hs == sx>>shift), into r, g and bl
// (each as long as yRow).
func ycbcrRow(yRow, cb, cr []uint8, minX int, shift uint, r, g, bl []float32) {
	c0 := minX >> shift
	r, g, bl = r[:len(yRow)], g[:len(yRow)], bl[:len(yRow)]
	for x, yv := range yRow {
		ci := (minX+x)>>shift - c0
		// color.YCbCrToRGB, inlined.
		yy := int32(yv) * 0x10101
		cb1, cr1 := int32(cb[ci])-128, int32(cr[ci])-128
		rr := yy + 91881*cr1
		gg := yy - 22554*cb1 - 46802*cr1
		bb := yy + 116130*cb1
		r[x], g[x], bl[x] = lut8[clip16(rr)], lut8[clip16(gg)], lut8[clip16(bb)]
	}
}

// clip16 returns v>>16 clamped to [0,255], as color.YCbCrToRGB does.
func clip16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// MaskFromImage converts any image.Image to a Mask: a pixel is a defect when any colour channel is nonzero (alpha is
// ignored; for grey images, when the grey value is nonzero).
func MaskFromImage(src image.Image) *Mask {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	m := &Mask{W: w, H: h, Pix: make([]bool, w*h)}
	switch s := src.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+w]
			for x, v := range row {
				m.Pix[y*w+x] = v != 0
			}
		}
	case *image.Paletted:
		var on [256]bool
		for k, c := range s.Palette {
			on[k] = nonzeroColour(c)
		}
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+w]
			for x, k := range row {
				m.Pix[y*w+x] = on[k]
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				m.Pix[y*w+x] = nonzeroColour(src.At(b.Min.X+x, b.Min.Y+y))
			}
		}
	}
	return m
}

func nonzeroColour(c color.Color) bool {
	n := straight(c)
	return n.R|n.G|n.B != 0
}

// straight returns c's colour channels as straight (non-premultiplied) 16-bit values. Colours stored straight are
// taken as they are, without the precision loss of a round trip through premultiplied alpha.
func straight(c color.Color) color.NRGBA64 {
	switch v := c.(type) {
	case color.NRGBA:
		return color.NRGBA64{uint16(v.R) * 0x101, uint16(v.G) * 0x101, uint16(v.B) * 0x101, uint16(v.A) * 0x101}
	case color.NRGBA64:
		return v
	}
	return color.NRGBA64Model.Convert(c).(color.NRGBA64)
}
