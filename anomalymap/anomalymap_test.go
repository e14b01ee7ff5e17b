package anomalymap

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crd-ad/crd/internal/kernels"
)

// blurSets are the implementations of the blur's sums that run here: the
// loop in Go and, where it runs, the AVX-512 kernel.
func blurSets() []kernels.Set {
	sets := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		sets = append(sets, kernels.AVX512(kernels.Pixels))
	}
	return sets
}

func TestKernelSize(t *testing.T) {
	// 2*int(4*sigma+0.5)+1: sigma 4 -> 2*16+1 = 33; 1.5 -> 2*6+1 = 13;
	// 0.6 -> 2*int(2.9)+1 = 5; 0 -> 1.
	for _, c := range [][2]float64{{4, 33}, {1.5, 13}, {0.6, 5}, {0, 1}, {2, 17}} {
		if got := KernelSize(c[0]); got != int(c[1]) {
			t.Errorf("KernelSize(%v) = %d, want %v", c[0], got, c[1])
		}
	}
	if k := GaussianKernel(0); len(k) != 1 || k[0] != 1 {
		t.Errorf("GaussianKernel(0) = %v", k)
	}
}

func TestReflectIndex(t *testing.T) {
	// n = 4: ... 3 2 1 | 0 1 2 3 | 2 1 0 1 2 ...  (period 2(n-1) = 6)
	want := map[int]int{-7: 1, -6: 0, -5: 1, -4: 2, -3: 3, -2: 2, -1: 1, 0: 0, 3: 3, 4: 2, 5: 1, 6: 0, 7: 1, 9: 3, 10: 2}
	for i, w := range want {
		if got := Reflect.index(i, 4); got != w {
			t.Errorf("Reflect.index(%d, 4) = %d, want %d", i, got, w)
		}
	}
	for _, i := range []int{-3, 0, 5} {
		if Reflect.index(i, 1) != 0 {
			t.Errorf("Reflect.index(%d, 1) != 0", i)
		}
	}
}

// A constant image stays constant: the kernel sums to 1 and reflection only
// repeats the constant.
func TestBlurConstant(t *testing.T) {
	for _, sz := range [][2]int{{40, 30}, {3, 50}, {1, 1}, {300, 260}} {
		h, w := sz[0], sz[1]
		img := make([]float32, h*w)
		for i := range img {
			img[i] = 2.5
		}
		out := GaussianBlur(Map{Pix: img, W: w, H: h}, 4).Pix
		for i, v := range out {
			if math.Abs(float64(v)-2.5) > 1e-5 {
				t.Fatalf("%dx%d: pixel %d = %v, want 2.5", h, w, i, v)
			}
		}
	}
}

// A unit impulse far from the borders becomes the 2-D kernel g g^T.
func TestBlurDelta(t *testing.T) {
	const h, w, sigma = 41, 45, 4.0
	g := GaussianKernel(sigma)
	r := len(g) / 2
	img := make([]float32, h*w)
	cy, cx := 20, 22
	img[cy*w+cx] = 1
	out := GaussianBlur(Map{Pix: img, W: w, H: h}, sigma).Pix
	var sum float64
	for y := range h {
		for x := range w {
			var want float64
			if dy, dx := y-cy+r, x-cx+r; dy >= 0 && dy < len(g) && dx >= 0 && dx < len(g) {
				want = float64(g[dy]) * float64(g[dx])
			}
			if math.Abs(float64(out[y*w+x])-want) > 1e-9 {
				t.Fatalf("(%d,%d) = %v, want %v", y, x, out[y*w+x], want)
			}
			sum += float64(out[y*w+x])
		}
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Errorf("blurred impulse sums to %v", sum)
	}
	// The kernel itself: g[r] is the largest, symmetric, and
	// g[r+1]/g[r] = exp(-1/(2 sigma^2)).
	if math.Abs(float64(g[r+1]/g[r])-math.Exp(-1/(2*sigma*sigma))) > 1e-6 || g[r-3] != g[r+3] {
		t.Errorf("kernel shape wrong: %v", g)
	}
}

// The separable blur equals a direct 2-D correlation with reflect padding,
// computed here in float64 for an image smaller than the kernel radius in one
// direction and large enough to run in parallel in the other, on every
// implementation of the sums.
func TestBlurDirect(t *testing.T) {
	for _, kern := range blurSets() {
		testBlurDirect(t, kern)
	}
}

func testBlurDirect(t *testing.T, kern kernels.Set) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, sz := range [][2]int{{7, 50}, {400, 180}} {
		h, w := sz[0], sz[1]
		img := make([]float32, h*w)
		for i := range img {
			img[i] = float32(rng.Float64())
		}
		g := GaussianKernel(4)
		r := len(g) / 2
		b := NewBlurKernels(4, Reflect, kern)
		out := b.Apply(nil, Map{Pix: img, W: w, H: h}).Pix
		inplace := append([]float32(nil), img...)
		b.Apply(inplace, Map{Pix: inplace, W: w, H: h})
		for _, p := range [][2]int{{0, 0}, {h - 1, w - 1}, {h / 2, 3}, {3, w / 2}, {h - 2, 1}} {
			y, x := p[0], p[1]
			var want float64
			for i := range g {
				for j := range g {
					want += float64(g[i]) * float64(g[j]) * float64(img[Reflect.index(y-r+i, h)*w+Reflect.index(x-r+j, w)])
				}
			}
			if got := out[y*w+x]; math.Abs(float64(got)-want) > 1e-5 {
				t.Errorf("%v: %dx%d (%d,%d) = %v, direct %v", kern, h, w, y, x, got, want)
			}
			if inplace[y*w+x] != out[y*w+x] {
				t.Errorf("in-place result differs at (%d,%d)", y, x)
			}
		}
	}
}

// Bilinear resizing of a linear ramp reproduces the ramp at the source
// coordinates (i + 0.5) * in/out - 0.5, clamped to the edges.
func TestResizeBilinearRamp(t *testing.T) {
	// 1 x 4 source 0 1 2 3 to width 8 (scale 1/2): source x = (i+0.5)/2 - 0.5
	// = -0.25 (clamped 0), 0.25, 0.75, ..., 3.25 (clamped to 3 by the upper
	// neighbour): 0 0.25 0.75 1.25 1.75 2.25 2.75 3.
	got := ResizeBilinear(nil, Map{Pix: []float32{0, 1, 2, 3}, W: 4, H: 1}, 8, 1)
	if got.W != 8 || got.H != 1 {
		t.Fatalf("ramp resized to %dx%d, want 8x1", got.W, got.H)
	}
	want := []float32{0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3}
	for i := range want {
		if got.Pix[i] != want[i] {
			t.Fatalf("ramp = %v, want %v", got.Pix, want)
		}
	}
	// Constant grid stays constant at any size.
	up := Upsample(Map{Pix: []float32{7, 7, 7, 7, 7, 7}, W: 3, H: 2}, 13, 11)
	if len(up.Pix) != 13*11 || up.At(12, 10) != 7 {
		t.Fatalf("upsample to 13x11 gave %dx%d with %d values", up.W, up.H, len(up.Pix))
	}
	for _, v := range up.Pix {
		if v != 7 {
			t.Fatalf("constant upsample gave %v", v)
		}
	}
}

func TestResizeNearestMask(t *testing.T) {
	// 2 x 2 mask to 4 x 6: row i takes source i*2/4 = i/2, column j takes j*2/6.
	m := []bool{true, false, false, true}
	got := resizeNearest(nil, m, 2, 2, 4, 6)
	for y := range 4 {
		for x := range 6 {
			want := m[(y/2)*2+x/3]
			if got[y*6+x] != want {
				t.Fatalf("(%d,%d) = %v, want %v", y, x, got[y*6+x], want)
			}
		}
	}
}

func TestShapePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"short src":   func() { ResizeBilinear(nil, Map{Pix: make([]float32, 5), W: 3, H: 2}, 4, 4) },
		"zero size":   func() { ResizeNearest(nil, Map{Pix: []float32{1}, W: 1, H: 1}, 3, 0) },
		"blur shape":  func() { GaussianBlur(Map{Pix: make([]float32, 3), W: 2, H: 2}, 1) },
		"neg sigma":   func() { NewBlur(-1) },
		"bad interp":  func() { NewGenerator(4, 4, Options{Sigma: 1, Interp: Interpolation(7)}) },
		"bad border":  func() { NewBlurBorder(1, Border(3)) },
		"nan sigma":   func() { GaussianKernel(math.NaN()) },
		"grid length": func() { FromGrid(Map{Pix: make([]float32, 3), W: 2, H: 2}, 8, 8, 4) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestBlurSumExact checks the four-at-a-time blur, and the AVX-512 kernel where it runs, bit for bit against the
// blur written one output at a time, for kernel radii 0, 4 and 16 and rows shorter than, and not a multiple of, the
// four (and the kernel's 16 and 64), read at offsets of one source slice.
func TestBlurSumExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	for _, fast := range []bool{false, kernels.AVX512Supported()} {
		for _, sigma := range []float64{0, 1, 4} {
			g := GaussianKernel(sigma)
			r := len(g) / 2
			for _, w := range []int{1, 2, 3, 4, 5, 7, 8, 13, 17, 64, 81, 299} {
				src := make([]float32, 2*(r+1)*w+5)
				for i := range src {
					src[i] = float32(rng.Float64()*10 - 5)
				}
				lo, hi := make([]int64, r+1), make([]int64, r+1)
				for k := range lo {
					lo[k], hi[k] = int64(rng.IntN(len(src)-w+1)), int64(rng.IntN(len(src)-w+1))
				}
				got := make([]float32, w)
				blurSum(got, g, src, lo, hi, fast)
				for x := range w {
					want := g[r] * src[lo[0]+int64(x)]
					for k := 1; k <= r; k++ {
						want += float32(g[r+k] * (src[lo[k]+int64(x)] + src[hi[k]+int64(x)]))
					}
					if math.Float32bits(got[x]) != math.Float32bits(want) {
						t.Fatalf("fast %v, sigma %v, width %d, x %d: %v, want %v", fast, sigma, w, x, got[x], want)
					}
				}
			}
		}
	}
}

// TestBlurKernelsSame: a 299 x 299 map (an inception_v3 crop) and a small
// one, both borders, come out of every implementation bit for bit alike.
func TestBlurKernelsSame(t *testing.T) {
	sets := blurSets()
	if len(sets) < 2 {
		t.Skip("no AVX-512 here")
	}
	rng := rand.New(rand.NewPCG(4, 5))
	for _, sz := range [][2]int{{299, 299}, {20, 37}} {
		img := make([]float32, sz[0]*sz[1])
		for i := range img {
			img[i] = float32(rng.ExpFloat64())
		}
		m := Map{Pix: img, W: sz[1], H: sz[0]}
		for _, border := range []Border{Reflect, Symmetric} {
			want := NewBlurKernels(4, border, sets[0]).Apply(nil, m).Pix
			got := NewBlurKernels(4, border, sets[1]).Apply(nil, m).Pix
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v %v: pixel %d = %v, the loop in Go gives %v", sz, border, i, got[i], want[i])
				}
			}
		}
	}
}
