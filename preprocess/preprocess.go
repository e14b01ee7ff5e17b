// Package preprocess turns a decoded image into a backbone's input tensor and
// maps results back: resize (antialiased bilinear, as PIL and torchvision's
// Resize with antialias do), centre crop, and per-channel normalisation, all in
// one pass over the crop window.
package preprocess

import (
	"fmt"
	"math"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
)

// taps holds, for each output coordinate, the first source index and the
// filter weights (summing to 1) of an antialiased bilinear resize.
type taps struct {
	start []int
	n     []int
	w     []float32 // n[i] weights for output i, at offset i*stride
	step  int
}

// byTap is t for avx512.ResizePlane: the first indices and tap counts as
// int32, and the weights laid out tap by tap (w[k*count+i] is tap k of
// output i, 0 past its count).
func (t taps) byTap() (start, n []int32, w []float32) {
	count := len(t.start)
	start, n, w = make([]int32, count), make([]int32, count), make([]float32, t.step*count)
	for i := range count {
		start[i], n[i] = int32(t.start[i]), int32(t.n[i])
		for k := range t.n[i] {
			w[k*count+i] = t.w[i*t.step+k]
		}
	}
	return start, n, w
}

// makeTaps computes the resampling filter from src samples to dst samples,
// for the output range [from, from+count). It is PIL's triangle filter: the
// support widens with the downscale factor so that downsampling averages
// instead of aliasing, and reduces to plain bilinear (align_corners = false)
// when upsampling.
func makeTaps(src, dst, from, count int) taps {
	scale := float64(src) / float64(dst)
	support := 1.0
	fs := 1.0
	if scale > 1 {
		support = scale
		fs = scale
	}
	step := int(math.Ceil(support))*2 + 1
	t := taps{start: make([]int, count), n: make([]int, count), w: make([]float32, count*step), step: step}
	ws := make([]float64, step)
	for i := 0; i < count; i++ {
		center := (float64(from+i) + 0.5) * scale
		lo := int(math.Floor(center - support + 0.5))
		if lo < 0 {
			lo = 0
		}
		hi := int(math.Floor(center + support + 0.5))
		if hi > src {
			hi = src
		}
		if hi-lo > step {
			hi = lo + step
		}
		sum := 0.0
		for j := lo; j < hi; j++ {
			x := (float64(j) - center + 0.5) / fs
			v := 1 - math.Abs(x)
			if v < 0 {
				v = 0
			}
			ws[j-lo] = v
			sum += v
		}
		t.start[i], t.n[i] = lo, hi-lo
		for j := 0; j < hi-lo; j++ {
			if sum > 0 {
				t.w[i*step+j] = float32(ws[j] / sum)
			}
		}
	}
	return t
}

// Image writes the preprocessed 3 x Crop x Crop tensor of img (values in
// [0, 1]) into dst, which must hold 3*Crop*Crop values.
func Image(img *dataset.RGB, p Params, dst []float32) {
	win := p.Window()
	window(img, p, win.Resize, win.Resize, win.Left, win.Top, win.Crop, win.Crop, dst, kernels.Set{})
}

// Tile writes the preprocessed 3 x size x size tensor of the window at
// (x0, y0) of img resized to w x h (antialiased, the aspect ratio as given,
// no crop) into dst, which must hold 3*size*size values. It is exactly the
// window cut from the whole resized image; p's Resize and Crop are not
// used. A window outside w x h panics.
func Tile(img *dataset.RGB, w, h, x0, y0, size int, p Params, dst []float32) {
	if x0 < 0 || y0 < 0 || x0+size > w || y0+size > h {
		panic(fmt.Sprintf("preprocess.Tile: %d x %d window at (%d, %d) outside %d x %d", size, size, x0, y0, w, h))
	}
	window(img, p, w, h, x0, y0, size, size, dst, kernels.Set{})
}

// Resized writes the preprocessed 3 x h x w tensor of the whole of img
// resized to w x h (as Tile sees it) into dst, which must hold 3*w*h
// values.
func Resized(img *dataset.RGB, w, h int, p Params, dst []float32) {
	window(img, p, w, h, 0, 0, w, h, dst, kernels.Set{})
}

// window writes the normalised cw x ch window at (left, top) of img resized
// to rw x rh into dst: on the AVX-512 kernel where kern says so
// (kernels.Pixels; the zero Set is kernels.Detected), else in Go, the same
// values.
func window(img *dataset.RGB, p Params, rw, rh, left, top, cw, ch int, dst []float32, kern kernels.Set) {
	pix, w, h := img.Pix, img.W, img.H
	if len(pix) < 3*w*h || len(dst) < 3*cw*ch {
		panic("preprocess: buffer sizes do not match the image")
	}
	tx := makeTaps(w, rw, left, cw)
	ty := makeTaps(h, rh, top, ch)
	tmp := make([]float32, h*cw)
	if kern.UsesAVX512(kernels.Pixels) && tx.step <= avx512.MaxResizeTaps {
		xs, xn, xw := tx.byTap()
		ys, yn, _ := ty.byTap()
		for c := 0; c < 3; c++ {
			avx512.ResizePlane(pix[c*w*h:(c+1)*w*h], w, h, xs, xn, xw, tx.step, ys, yn, ty.w, ty.step,
				float32(p.Mean[c]), float32(1/p.Std[c]), tmp, dst[c*cw*ch:(c+1)*cw*ch])
		}
		return
	}
	for c := 0; c < 3; c++ {
		plane := pix[c*w*h : (c+1)*w*h]
		// Horizontal pass: h rows of cw outputs.
		for y := 0; y < h; y++ {
			row := plane[y*w : (y+1)*w]
			o := tmp[y*cw : (y+1)*cw]
			for x := range o {
				s, n := tx.start[x], tx.n[x]
				ws := tx.w[x*tx.step : x*tx.step+n]
				// The usual tap counts (2 upsampling, 3 and 4 when
				// downscaling by less than 2) unrolled: the loop's
				// additions from zero, in its order.
				switch n {
				case 2:
					r := row[s : s+2]
					o[x] = float32(0) + ws[0]*r[0] + ws[1]*r[1]
				case 3:
					r, ws := row[s:s+3], ws[:3]
					o[x] = float32(0) + ws[0]*r[0] + ws[1]*r[1] + ws[2]*r[2]
				case 4:
					r, ws := row[s:s+4], ws[:4]
					o[x] = float32(0) + ws[0]*r[0] + ws[1]*r[1] + ws[2]*r[2] + ws[3]*r[3]
				default:
					r := row[s : s+n]
					var acc float32
					for k, wt := range ws {
						acc += wt * r[k]
					}
					o[x] = acc
				}
			}
		}
		// Vertical pass, then normalise.
		mean, inv := float32(p.Mean[c]), float32(1/p.Std[c])
		out := dst[c*cw*ch : (c+1)*cw*ch]
		for y := 0; y < ch; y++ {
			s, n := ty.start[y], ty.n[y]
			ws := ty.w[y*ty.step : y*ty.step+n]
			o := out[y*cw : (y+1)*cw]
			if n == 2 {
				// Upsampling: the loops below in one pass, same
				// operations in the same order.
				w0, w1 := ws[0], ws[1]
				r0, r1 := tmp[s*cw:(s+1)*cw], tmp[(s+1)*cw:(s+2)*cw]
				r0, r1 = r0[:len(o)], r1[:len(o)]
				for x := range o {
					var v float32
					v += w0 * r0[x]
					v += w1 * r1[x]
					o[x] = (v - mean) * inv
				}
				continue
			}
			for x := range o {
				o[x] = 0
			}
			for k, wt := range ws {
				r := tmp[(s+k)*cw : (s+k+1)*cw]
				for x := range o {
					o[x] += wt * r[x]
				}
			}
			for x := range o {
				o[x] = (o[x] - mean) * inv
			}
		}
	}
}

// Mask brings a defect mask into the crop space of p (Crop x Crop) with
// nearest-neighbour sampling (PyTorch's "nearest": source index
// floor(dst * src / dst_size)), as the pipeline does for ground truth.
func Mask(m *dataset.Mask, p Params) *dataset.Mask {
	win := p.Window()
	return maskWindow(m, win.Resize, win.Resize, win.Left, win.Top, win.Crop, win.Crop)
}

// MaskResized brings a defect mask to w x h (the whole image resized, no
// crop) with the nearest-neighbour sampling of Mask.
func MaskResized(m *dataset.Mask, w, h int) *dataset.Mask {
	return maskWindow(m, w, h, 0, 0, w, h)
}

// maskWindow is the cw x ch window at (left, top) of m resized to rw x rh.
func maskWindow(m *dataset.Mask, rw, rh, left, top, cw, ch int) *dataset.Mask {
	mask, w, h := m.Pix, m.W, m.H
	out := make([]bool, cw*ch)
	for y := 0; y < ch; y++ {
		sy := min(int(float64(top+y)*float64(h)/float64(rh)), h-1)
		for x := 0; x < cw; x++ {
			sx := min(int(float64(left+x)*float64(w)/float64(rw)), w-1)
			out[y*cw+x] = mask[sy*w+sx]
		}
	}
	return &dataset.Mask{Pix: out, W: cw, H: ch}
}

// ToOriginal maps a Crop x Crop map (in the network's input space) back onto
// the original w x h image with bilinear sampling. Pixels that fall outside
// the crop window were never seen by the network and get the value outside.
// A map of another size panics.
func ToOriginal(cm anomalymap.Map, w, h int, p Params, outside float32) anomalymap.Map {
	win := p.Window()
	c := win.Crop
	if cm.W != c || cm.H != c || len(cm.Pix) != c*c {
		panic(fmt.Sprintf("preprocess.ToOriginal: %dx%d map with %d values, want the %dx%d crop", cm.W, cm.H, len(cm.Pix), c, c))
	}
	return toOriginal(cm, w, h, win.Resize, win.Resize, win.Left, win.Top, outside)
}

// FromResized maps a map of the whole image resized (any size, as
// MaskResized and Tile see it) back onto the original w x h image with the
// bilinear sampling of ToOriginal. A map whose pixels do not match its size
// panics.
func FromResized(rm anomalymap.Map, w, h int) anomalymap.Map {
	if rm.W <= 0 || rm.H <= 0 || len(rm.Pix) != rm.W*rm.H {
		panic(fmt.Sprintf("preprocess.FromResized: %dx%d map with %d values", rm.W, rm.H, len(rm.Pix)))
	}
	return toOriginal(rm, w, h, rm.W, rm.H, 0, 0, 0)
}

// toOriginal maps cm, the window at (left, top) of the image resized to
// rw x rh, back onto the original w x h image.
func toOriginal(cm anomalymap.Map, w, h, rw, rh, left, top int, outside float32) anomalymap.Map {
	m, cw, ch := cm.Pix, cm.W, cm.H
	out := make([]float32, w*h)
	cols := make([]tap, w) // the same for every row
	for x := range cols {
		cols[x] = tapOf(x, float64(rw)/float64(w), left, cw)
	}
	for y := 0; y < h; y++ {
		ty := tapOf(y, float64(rh)/float64(h), top, ch)
		row := out[y*w : (y+1)*w]
		for x, tx := range cols {
			if !ty.in || !tx.in {
				row[x] = outside
				continue
			}
			top := m[ty.i0*cw+tx.i0]*(1-tx.f) + m[ty.i0*cw+tx.i1]*tx.f
			bot := m[ty.i1*cw+tx.i0]*(1-tx.f) + m[ty.i1*cw+tx.i1]*tx.f
			row[x] = top*(1-ty.f) + bot*ty.f
		}
	}
	return anomalymap.Map{Pix: out, W: w, H: h}
}

// tap is where output coordinate i samples a side-c crop: between i0 and
// i1 with weight f on i1, or nowhere (in is false) outside the crop.
type tap struct {
	i0, i1 int
	f      float32
	in     bool
}

// tapOf maps output pixel i, at scale pixels of the resized image per
// output pixel, into the crop starting at off (pixel centres aligned,
// clamped at the crop's edges).
func tapOf(i int, scale float64, off, c int) tap {
	v := (float64(i)+0.5)*scale - 0.5 - float64(off)
	if v < -0.5 || v > float64(c)-0.5 {
		return tap{}
	}
	v = math.Min(math.Max(v, 0), float64(c-1))
	i0 := int(v)
	return tap{i0: i0, i1: min(i0+1, c-1), f: float32(v - float64(i0)), in: true}
}
