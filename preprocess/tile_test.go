package preprocess

import (
	"math"
	"testing"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/dataset"
)

// triangle is PIL's antialiased bilinear filter written out directly, in
// float64: the weights of source pixels for output pixel i of a resize from
// src to dst samples.
func triangle(i, src, dst int) map[int]float64 {
	scale := float64(src) / float64(dst)
	support := math.Max(scale, 1)
	center := (float64(i) + 0.5) * scale
	w := map[int]float64{}
	sum := 0.0
	for j := 0; j < src; j++ {
		v := 1 - math.Abs((float64(j)+0.5-center)/support)
		if v > 0 && float64(j) >= math.Floor(center-support+0.5) && float64(j) < math.Floor(center+support+0.5) {
			w[j] = v
			sum += v
		}
	}
	for j := range w {
		w[j] /= sum
	}
	return w
}

// TestTileAgainstDirectResize: every tile of a non-square resize is the
// window of the whole image resized by the filter written out directly,
// then normalised.
func TestTileAgainstDirectResize(t *testing.T) {
	img := dataset.NewRGB(53, 21)
	for i := range img.Pix {
		img.Pix[i] = float32(math.Mod(float64(i)*0.618, 1))
	}
	p := Params{Crop: 16, Mean: [3]float64{0.4, 0.5, 0.6}, Std: [3]float64{0.2, 0.25, 0.3}}
	const w, h, size = 80, 32, 16     // upsample in y, downsample nowhere: 53 -> 80, 21 -> 32
	for _, rw := range []int{w, 40} { // 40 < 53 downsamples in x
		for _, o := range [][2]int{{0, 0}, {rw - size, h - size}, {7, 5}} {
			got := make([]float32, 3*size*size)
			Tile(img, rw, h, o[0], o[1], size, p, got)
			for c := 0; c < 3; c++ {
				for y := 0; y < size; y++ {
					wy := triangle(o[1]+y, img.H, h)
					for x := 0; x < size; x++ {
						wx := triangle(o[0]+x, img.W, rw)
						v := 0.0
						for j, a := range wy {
							for i, b := range wx {
								v += a * b * float64(img.At(c, i, j))
							}
						}
						v = (v - p.Mean[c]) / p.Std[c]
						if g := got[c*size*size+y*size+x]; math.Abs(float64(g)-v) > 1e-4 {
							t.Fatalf("resize %d x %d tile at %v channel %d (%d, %d): %g, want %g", rw, h, o, c, x, y, g, v)
						}
					}
				}
			}
		}
	}
}

// TestResizedMatchesSquare: with a square resize and no crop, MaskResized
// and FromResized are Mask and ToOriginal, and Tile of the whole image is
// Image.
func TestResizedMatchesSquare(t *testing.T) {
	const c = 24
	p := Params{Crop: c, Mean: [3]float64{0.1, 0.2, 0.3}, Std: [3]float64{1, 2, 3}}
	img := dataset.NewRGB(37, 19)
	for i := range img.Pix {
		img.Pix[i] = float32(i%97) / 97
	}
	a, b := make([]float32, 3*c*c), make([]float32, 3*c*c)
	Image(img, p, a)
	Tile(img, c, c, 0, 0, c, p, b)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("value %d: Tile %g, Image %g", i, b[i], a[i])
		}
	}
	m := &dataset.Mask{W: 37, H: 19, Pix: make([]bool, 37*19)}
	for i := range m.Pix {
		m.Pix[i] = i%5 == 0
	}
	ma, mb := Mask(m, p), MaskResized(m, c, c)
	for i := range ma.Pix {
		if ma.Pix[i] != mb.Pix[i] {
			t.Fatalf("mask pixel %d differs", i)
		}
	}
	cm := anomalymap.NewMap(c, c)
	for i := range cm.Pix {
		cm.Pix[i] = float32(i)
	}
	oa, ob := ToOriginal(cm, 37, 19, p, 0), FromResized(cm, 37, 19)
	for i := range oa.Pix {
		if oa.Pix[i] != ob.Pix[i] {
			t.Fatalf("map pixel %d: %g, want %g", i, ob.Pix[i], oa.Pix[i])
		}
	}
	// Non-square: a map constant along y maps to the same column profile.
	rm := anomalymap.NewMap(60, 10)
	for i := range rm.Pix {
		rm.Pix[i] = float32(i % 60)
	}
	back := FromResized(rm, 30, 40)
	for y := 1; y < 40; y++ {
		for x := 0; x < 30; x++ {
			if back.At(x, y) != back.At(x, 0) {
				t.Fatalf("(%d, %d) = %g, row 0 has %g", x, y, back.At(x, y), back.At(x, 0))
			}
		}
	}
	if got := back.At(10, 0); math.Abs(float64(got)-20.5) > 1e-4 { // pixel centre 10.5 -> 21 - 0.5
		t.Fatalf("column 10: %g, want 20.5", got)
	}
}
