// Package report turns evaluation results into what a quality engineer looks at: anomaly heat maps blended over
// the images, ground-truth contours, binary defect masks, and a self-contained HTML report with metric tables,
// ROC/PRO curves and a gallery of the worst cases.
//
// Colour map: heat maps use matplotlib's "inferno" (black, purple, red, orange, pale yellow), which is
// perceptually uniform and stays readable in grey print; a map value v in [0,1] takes entry min(floor(256 v), 255)
// of the 256-colour table, as matplotlib does. Ground-truth contours are drawn in pure green by default
// (GalleryOptions.ContourColor), which inferno never produces; the gallery draws them just outside the defect
// (Outline) so that thin defects stay visible.
package report

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/internal/atomicfile"
	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
)

// defaultContourColor is the default colour of ground-truth mask contours: pure green.
var defaultContourColor = color.RGBA{0, 255, 0, 255}

// Colormap returns the inferno colour of v. Values are clamped to [0,1]; NaN maps to 0.
func Colormap(v float64) color.RGBA {
	c := infernoLUT[colourIndex(v)]
	return color.RGBA{c[0], c[1], c[2], 255}
}

// colourIndex is the entry of the colour table for v: min(floor(256 v), 255), 0 for v <= 0 and NaN.
func colourIndex(v float64) int {
	if v > 0 { // false for NaN
		return min(int(min(v, 1)*256), 255)
	}
	return 0
}

// ToRGBA converts img to 8-bit opaque RGBA, rounding to the nearest level and clamping to [0,1].
func ToRGBA(img *dataset.RGB) *image.RGBA {
	w, h := img.W, img.H
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	r, g, b := img.Plane(0), img.Plane(1), img.Plane(2)
	for i := 0; i < w*h; i++ {
		out.Pix[4*i] = to8(float64(r[i]))
		out.Pix[4*i+1] = to8(float64(g[i]))
		out.Pix[4*i+2] = to8(float64(b[i]))
		out.Pix[4*i+3] = 255
	}
	return out
}

func to8(v float64) uint8 {
	if !(v > 0) {
		return 0
	}
	return uint8(math.Round(255 * min(v, 1)))
}

// normalise maps v from [lo,hi] to [0,1], clamped. When hi <= lo, values above lo map to 1 and the rest to 0.
func normalise(v, lo, hi float64) float64 {
	if hi <= lo {
		if v > lo {
			return 1
		}
		return 0
	}
	return min(max((v-lo)/(hi-lo), 0), 1)
}

// Overlay blends the heat map of m over img: each output channel is round((1-alpha)*255*img + alpha*heat), where
// heat is the Colormap colour of m normalised from [lo,hi] to [0,1] (values outside are clamped). m must have img's
// size; a mismatch panics. alpha is clamped to [0,1]; 0.4 to 0.5 keeps the surface readable under the heat map.
func Overlay(img *dataset.RGB, m anomalymap.Map, lo, hi float64, alpha float64) *image.RGBA {
	return overlay(img, m, linear(lo, hi), alpha)
}

// scale maps anomaly-map values to colour-map positions in [0, 1]: linearly from [lo, hi] (see normalise), or by pos
// when it is set.
type scale struct {
	lo, hi float64
	pos    func(float64) float64
}

// at is the colour-map position of v.
func (s scale) at(v float64) float64 {
	if s.pos != nil {
		return s.pos(v)
	}
	return normalise(v, s.lo, s.hi)
}

// linear is the linear scale [lo, hi] (see normalise).
func linear(lo, hi float64) scale { return scale{lo: lo, hi: hi} }

// overlay is Overlay with the colour-map position of each map value given by norm.
func overlay(img *dataset.RGB, m anomalymap.Map, norm scale, alpha float64) *image.RGBA {
	w, h := img.W, img.H
	bl := newBlender(img, m, norm, alpha)
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	bl.blend(out.Pix, 4, 0, w*h)
	return out
}

// blender blends a heat map over an image (see Overlay), a run of pixels at a time: on a linear scale with the
// AVX-512 kernel where kern says so (kernels.Pixels; the zero Set is kernels.Detected), else in Go, the same bytes.
type blender struct {
	r, g, b, amap []float32
	norm          scale
	kern          kernels.Set
	keep          float64 // 1 - alpha
	// heat[j] is alpha times colour j of the table: the same products the blend would form pixel by pixel.
	heat [256][3]float64
}

// newBlender checks that m has img's size (a mismatch panics) and clamps alpha to [0, 1].
func newBlender(img *dataset.RGB, m anomalymap.Map, norm scale, alpha float64) *blender {
	w, h := img.W, img.H
	if m.W != w || m.H != h || len(m.Pix) != w*h {
		panic(fmt.Sprintf("report: %dx%d anomaly map with %d values for a %dx%d image", m.W, m.H, len(m.Pix), w, h))
	}
	alpha = min(max(alpha, 0), 1)
	bl := &blender{r: img.Plane(0), g: img.Plane(1), b: img.Plane(2), amap: m.Pix, norm: norm, keep: 1 - alpha}
	for j, c := range infernoLUT {
		for k := range 3 {
			bl.heat[j][k] = alpha * float64(c[k])
		}
	}
	return bl
}

// blend writes pixels i0 to i0+n-1 (row-major) to dst, step bytes apart: red, green, blue and, when step is 4, an
// opaque alpha.
func (bl *blender) blend(dst []byte, step, i0, n int) {
	r, g, b := bl.r[i0:i0+n], bl.g[i0:i0+n], bl.b[i0:i0+n]
	keep, pos, lo, hi := bl.keep, bl.norm.pos, bl.norm.lo, bl.norm.hi
	if pos == nil && bl.kern.UsesAVX512(kernels.Pixels) {
		avx512.Blend(r, g, b, bl.amap[i0:i0+n], lo, hi, keep, &bl.heat, dst, step)
		return
	}
	for i, v := range bl.amap[i0 : i0+n] {
		var u float64 // bl.norm.at(v), inlined
		if pos != nil {
			u = pos(float64(v))
		} else {
			u = normalise(float64(v), lo, hi)
		}
		hc := &bl.heat[colourIndex(u)]
		p := dst[step*i : step*i+3 : step*i+3]
		p[0] = round8(float64(keep*(255*min(max(float64(r[i]), 0), 1))) + hc[0])
		p[1] = round8(float64(keep*(255*min(max(float64(g[i]), 0), 1))) + hc[1])
		p[2] = round8(float64(keep*(255*min(max(float64(b[i]), 0), 1))) + hc[2])
		if step == 4 {
			dst[step*i+3] = 255
		}
	}
}

// round8 is uint8(math.Round(x)) for the blend's values, x in [0, 256) or NaN, without math.Round's bit
// manipulation: the integer part t by truncation, plus one when the fraction x - t (exact, as t <= x < t+1) is 0.5 or
// more, which is rounding half away from zero as math.Round does. NaN gives 0, as uint8(math.Round(NaN)) does on
// amd64 and arm64 (Go leaves the conversion of NaN to the implementation). Negative values and values from 256 on
// differ from math.Round's.
func round8(x float64) uint8 {
	t := int(x)
	if x-float64(t) >= 0.5 {
		t++
	}
	return uint8(t)
}

// Heatmap returns the colour-mapped anomaly map alone, normalised from [lo,hi].
func Heatmap(m anomalymap.Map, lo, hi float64) *image.RGBA {
	amap, w, h := m.Pix, m.W, m.H
	if len(amap) != w*h {
		panic(fmt.Sprintf("report: anomaly map has %d values, want %dx%d", len(amap), w, h))
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, v := range amap {
		c := Colormap(normalise(float64(v), lo, hi))
		out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = c.R, c.G, c.B, 255
	}
	return out
}

// Contour returns the inner boundary of m with the given width in pixels (at least 1): the mask pixels that have a
// non-mask pixel, or the image edge, within Chebyshev distance width. For a filled square, width 1 gives exactly
// its outermost ring of pixels.
func Contour(m *dataset.Mask, width int) *dataset.Mask {
	mask, w, h := m.Pix, m.W, m.H
	checkMask(mask, w, h)
	eroded := erode(mask, w, h, max(width, 1), false)
	out := make([]bool, w*h)
	for i := range mask {
		out[i] = mask[i] && !eroded[i]
	}
	return &dataset.Mask{Pix: out, W: w, H: h}
}

// Outline returns the outer boundary of mask: the pixels outside the mask within Chebyshev distance width (at
// least 1) of a mask pixel. Unlike Contour it leaves the defect pixels themselves uncovered, so thin defects stay
// visible under their outline.
func Outline(m *dataset.Mask, width int) *dataset.Mask {
	mask, w, h := m.Pix, m.W, m.H
	checkMask(mask, w, h)
	outside := make([]bool, w*h)
	for i, v := range mask {
		outside[i] = !v
	}
	// Pixels beyond the image edge are outside the mask too.
	eroded := erode(outside, w, h, max(width, 1), true)
	out := make([]bool, w*h)
	for i := range mask {
		out[i] = outside[i] && !eroded[i]
	}
	return &dataset.Mask{Pix: out, W: w, H: h}
}

func checkMask(mask []bool, w, h int) {
	if len(mask) != w*h {
		panic(fmt.Sprintf("report: mask has %d values, want %dx%d", len(mask), w, h))
	}
}

// erode returns the Chebyshev (square) erosion of set with radius r: a pixel stays set when every pixel within
// distance r is set; pixels beyond the image count as edge. The square erosion is separable: rows, then columns.
func erode(set []bool, w, h, r int, edge bool) []bool {
	rows := make([]bool, w*h)
	for y := 0; y < h; y++ {
		erode1D(set[y*w:], rows[y*w:], 1, w, r, edge)
	}
	out := make([]bool, w*h)
	for x := 0; x < w; x++ {
		erode1D(rows[x:], out[x:], w, h, r, edge)
	}
	return out
}

// erode1D sets dst[k*stride], k < n, to whether src[j*stride] is true for every j within r of k; positions beyond
// the ends count as edge.
func erode1D(src, dst []bool, stride, n, r int, edge bool) {
	// runs[j] is the length of the run of trues ending at j.
	runs := make([]int, n)
	run := 0
	for j := 0; j < n; j++ {
		if src[j*stride] {
			run++
		} else {
			run = 0
		}
		runs[j] = run
	}
	for k := 0; k < n; k++ {
		lo, hi := k-r, k+r
		if lo < 0 || hi >= n {
			if !edge {
				dst[k*stride] = false
				continue
			}
			lo, hi = max(lo, 0), min(hi, n-1)
		}
		dst[k*stride] = runs[hi] >= hi-lo+1
	}
}

// DrawContour paints the outline of mask (see Outline) onto dst in colour c, leaving the defect pixels visible.
// mask must have dst's size.
func DrawContour(dst *image.RGBA, mask *dataset.Mask, width int, c color.RGBA) {
	b := dst.Bounds()
	w, h := b.Dx(), b.Dy()
	if mask.W != w || mask.H != h {
		panic(fmt.Sprintf("report: %dx%d mask for a %dx%d picture", mask.W, mask.H, w, h))
	}
	for i, on := range Outline(mask, width).Pix {
		if on {
			dst.SetRGBA(b.Min.X+i%w, b.Min.Y+i/w, c)
		}
	}
}

// MaskPNG writes m as an 8-bit grey PNG: 255 for defect pixels, 0 elsewhere, atomically.
func MaskPNG(path string, m *dataset.Mask) error {
	w, h := m.W, m.H
	checkMask(m.Pix, w, h)
	return writePNGRows(path, w, h, pngGrey, func(y int, row []byte) {
		for x, v := range m.Pix[y*w : (y+1)*w] {
			row[x] = 0
			if v {
				row[x] = 255
			}
		}
	})
}

// WritePNG encodes img as PNG to path atomically: it writes a temporary file in the same folder and renames it.
// Opaque *image.RGBA and *image.Gray pictures go through crd's own PNG writer (see pngenc.go: fixed filters and
// fast compression, the same pixels as image/png), anything else through image/png at BestSpeed.
func WritePNG(path string, img image.Image) error {
	return writeAtomic(path, func(w io.Writer) error { return EncodePNG(w, img) })
}

// EncodePNG encodes img as PNG to w as WritePNG does: opaque *image.RGBA and *image.Gray pictures through crd's own
// PNG writer, anything else through image/png at BestSpeed.
func EncodePNG(w io.Writer, img image.Image) error {
	if ok, err := encodeFastPNG(w, img); ok || err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	return enc.Encode(w, img)
}

// writePNGRows is WritePNG for a picture given row by row (see encodePNGRows).
func writePNGRows(path string, width, height int, ct byte, fill func(y int, row []byte)) error {
	return writeAtomic(path, func(w io.Writer) error { return encodePNGRows(w, width, height, ct, fill) })
}

// writeAtomic writes what enc writes to path atomically; errors name the file.
func writeAtomic(path string, enc func(w io.Writer) error) error {
	if err := atomicfile.WriteFunc(path, enc); err != nil {
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	return nil
}
