package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/crd-ad/crd/internal/kernels"
)

// refConvNHWC is the convolution formula in float64 on NHWC data (c's HWIO
// weights), with the residual res (nil: none) added before the bias and
// the ReLU: each output value and the sum of the magnitudes of its terms
// (|w x| over the window, |res|, |bias|).
func refConvNHWC(c *Conv2D, x, res *NHWC) (val, mag []float64) {
	g := c.Apply(x.H, x.W)
	val = make([]float64, x.N*g.OutH*g.OutW*c.Cout)
	mag = make([]float64, len(val))
	for n := 0; n < x.N; n++ {
		for oy := 0; oy < g.OutH; oy++ {
			for ox := 0; ox < g.OutW; ox++ {
				p := (n*g.OutH+oy)*g.OutW + ox
				for o := 0; o < c.Cout; o++ {
					s, m := float64(c.Bias[o]), math.Abs(float64(c.Bias[o]))
					if res != nil {
						v := float64(res.Data[p*res.C+o])
						s, m = s+v, m+math.Abs(v)
					}
					for ky := 0; ky < c.KH; ky++ {
						iy := oy*c.StrideH - g.PadTop + ky
						if iy < 0 || iy >= x.H {
							continue
						}
						for kx := 0; kx < c.KW; kx++ {
							ix := ox*c.StrideW - g.PadLeft + kx
							if ix < 0 || ix >= x.W {
								continue
							}
							xs := x.Data[((n*x.H+iy)*x.W+ix)*x.C:]
							for i := 0; i < c.Cin; i++ {
								v := float64(xs[i]) * float64(c.Weight[((ky*c.KW+kx)*c.Cin+i)*c.Cout+o])
								s, m = s+v, m+math.Abs(v)
							}
						}
					}
					if c.ReLU && s < 0 {
						s = 0
					}
					val[p*c.Cout+o], mag[p*c.Cout+o] = s, m
				}
			}
		}
	}
	return val, mag
}

// winoTol, wino4Tol, wino25Tol and wino35Tol are the tolerances of a
// Winograd F(2x2, 3x3), F(4x4, 3x3), F(2x2, 5x5) and F(3x3, 5x5) output
// relative to the sum of the magnitudes of its terms: the float32 rounding
// of the transforms (coefficients of magnitude at most 1 for F(2x2, 3x3),
// up to 8 and 1/24 for F(4x4, 3x3); for F(2x2, 5x5) F(4x4, 3x3)'s B^T, up
// to 5, weights scaled by up to 16/24 and an A^T of coefficients up to 2;
// for F(3x3, 5x5) a B^T up to 5.25, an A^T up to 4) and of the products'
// sums. Measured on TestWinograd's cases: up to 2.3e-7, 4.1e-6, 1.7e-6 and
// 2.2e-6 (the 5x5 tolerances: 6 and 4.5 times margin).
const (
	winoTol   = 2e-6
	wino4Tol  = 2e-5
	wino25Tol = 1e-5
	wino35Tol = 1e-5
)

// winoTolOf is the tolerance of F(m x m, r x r).
func winoTolOf(m, r int) float64 {
	switch {
	case r == 5 && m == 3:
		return wino35Tol
	case r == 5:
		return wino25Tol
	case m == 4:
		return wino4Tol
	}
	return winoTol
}

// TestWinograd: 3x3 stride-1 convolutions run by Winograd F(2x2, 3x3) and
// F(4x4, 3x3), and 5x5 ones by F(2x2, 5x5) and F(3x3, 5x5), on the AVX-512
// kernels agree
// with the float64 formula within winoTolOf of the magnitudes, and with the
// direct AVX-512 path (kernels.All &^ kernels.Winograd) as closely, for odd
// and even output sizes (partial edge tiles), padding Same, explicit (1 and
// 2, 1 to 3 for 5x5) and none, several images, a residual apart from the
// output or in it, the ReLU, a channel offset, channel counts not
// multiples of 16 or of a panel, one and several cores, with blocks of
// tiles and blocks cut over columns too.
func TestWinograd(t *testing.T) {
	if !kernels.AVX512Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	r := rand.New(rand.NewPCG(41, 42))
	wino := kernels.AVX512(kernels.All)
	direct := kernels.AVX512(kernels.All &^ kernels.Winograd)
	for _, tc := range []struct {
		n, h, w    int
		cin, cout  int
		win        Window
		relu       bool
		res        string // "", "apart" or "in"
		c0, extraC int
	}{
		{2, 15, 13, 37, 45, Square(3, 1, 1), true, "", 0, 0},
		{1, 16, 16, 32, 32, Window{KH: 3, KW: 3, StrideH: 1, StrideW: 1, Same: true}, false, "apart", 0, 0},
		{3, 9, 11, 40, 70, Square(3, 1, 0), true, "in", 5, 9},
		{2, 7, 6, 33, 48, Square(3, 1, 2), false, "apart", 3, 1},
		{4, 5, 5, 200, 300, Square(3, 1, 1), true, "in", 0, 0},      // all tiles a block, cut over columns
		{1, 26, 26, 182, 182, Square(3, 1, 1), true, "apart", 2, 0}, // blocks of tiles cut over columns
		{2, 31, 29, 48, 64, Square(3, 1, 1), true, "apart", 16, 16},
		{40, 4, 3, 64, 33, Square(3, 1, 0), false, "", 1, 0}, // one partial tile an image
		// 5x5: F(2x2, 5x5).
		{1, 35, 35, 48, 64, Window{KH: 5, KW: 5, StrideH: 1, StrideW: 1, Same: true}, true, "", 0, 0}, // Inception's
		{2, 15, 13, 37, 45, Square(5, 1, 2), true, "", 0, 0},
		{1, 16, 16, 32, 32, Window{KH: 5, KW: 5, StrideH: 1, StrideW: 1, Same: true}, false, "apart", 0, 0},
		{3, 11, 12, 40, 70, Square(5, 1, 0), true, "in", 5, 9},
		{2, 7, 6, 33, 48, Square(5, 1, 3), false, "apart", 3, 1},
		{2, 9, 10, 48, 64, Square(5, 1, 1), true, "in", 16, 16},
		{4, 5, 5, 200, 300, Square(5, 1, 2), true, "in", 0, 0},      // all tiles a block, cut over columns
		{1, 26, 26, 120, 182, Square(5, 1, 2), true, "apart", 2, 0}, // blocks of tiles cut over columns
		{40, 6, 5, 64, 33, Square(5, 1, 0), false, "", 1, 0},        // one partial tile an image
		{1, 7, 7, 48, 64, Square(5, 1, 2), true, "apart", 0, 0},     // 16 tiles: wino5MinCallTiles
	} {
		name := fmt.Sprintf("%+v", tc)
		x := FromNCHW(nil, randTensor(r, tc.n, tc.cin, tc.h, tc.w))
		c := randConv(r, tc.cin, tc.cout, tc.win, tc.relu)
		g := c.Apply(x.H, x.W)
		if !c.useWinograd(wino, x.N, g) || c.useWinograd(direct, x.N, g) {
			t.Fatalf("%s: useWinograd = %v with Winograd, %v without", name, c.useWinograd(wino, x.N, g), c.useWinograd(direct, x.N, g))
		}
		var res *NHWC
		if tc.res != "" {
			res = FromNCHW(nil, randTensor(r, tc.n, tc.cout, g.OutH, g.OutW))
		}
		val, mag := refConvNHWC(c, x, res)
		run := func(kern Set) *NHWC {
			out := &NHWC{}
			out.Reshape(tc.n, g.OutH, g.OutW, tc.c0+tc.cout+tc.extraC)
			for i := range out.Data {
				out.Data[i] = 1e6 // must survive outside the channels written
			}
			ws := &Workspace{kern: kern}
			switch tc.res {
			case "":
				c.ForwardAt(out, tc.c0, x, ws)
			case "apart":
				c.run(out, tc.c0, x, res, ws)
			case "in":
				copyResidual(out, tc.c0, res, 0, tc.n*g.OutH*g.OutW)
				c.run(out, tc.c0, x, out, ws)
			}
			return out
		}
		want := run(direct)
		ms := []int{2, 4}
		if c.KH == 5 {
			ms = []int{2, 3}
		}
		for _, m := range ms {
			for _, procs := range []int{1, 2, 3} {
				prev := runtime.GOMAXPROCS(procs)
				got := &NHWC{}
				got.Reshape(tc.n, g.OutH, g.OutW, tc.c0+tc.cout+tc.extraC)
				for i := range got.Data {
					got.Data[i] = 1e6
				}
				ws := &Workspace{kern: wino}
				switch tc.res {
				case "":
					c.runWinograd(got, tc.c0, x, nil, g, m, ws)
				case "apart":
					c.runWinograd(got, tc.c0, x, res, g, m, ws)
				case "in":
					copyResidual(got, tc.c0, res, 0, tc.n*g.OutH*g.OutW)
					c.runWinograd(got, tc.c0, x, got, g, m, ws)
				}
				runtime.GOMAXPROCS(prev)
				tol := winoTolOf(m, c.KH)
				worst := 0.0
				for p := 0; p < tc.n*g.OutH*g.OutW; p++ {
					for j := 0; j < got.C; j++ {
						v, d := got.Data[p*got.C+j], want.Data[p*got.C+j]
						o := j - tc.c0
						if o < 0 || o >= tc.cout {
							if v != 1e6 {
								t.Fatalf("%s F(%d) procs %d: pixel %d channel %d outside the output = %g", name, m, procs, p, j, v)
							}
							continue
						}
						ref, mg := val[p*tc.cout+o], mag[p*tc.cout+o]
						worst = max(worst, math.Abs(float64(v)-ref)/mg)
						if math.Abs(float64(v)-ref) > tol*mg || math.Abs(float64(v)-float64(d)) > tol*mg {
							t.Fatalf("%s F(%d) procs %d: pixel %d channel %d = %g, direct path %g, float64 %g (magnitude %g)", name, m, procs, p, o, v, d, ref, mg)
						}
						if tc.relu && math.Signbit(float64(v)) {
							t.Fatalf("%s F(%d) procs %d: pixel %d channel %d = %g after the ReLU", name, m, procs, p, o, v)
						}
					}
				}
				if procs == 1 {
					t.Logf("%s F(%d): largest error / magnitude %.2g", name, m, worst)
				}
			}
		}
		// The public path, with the variant it picks.
		got := run(wino)
		for p := 0; p < tc.n*g.OutH*g.OutW; p++ {
			for o := 0; o < tc.cout; o++ {
				v := got.Data[p*got.C+tc.c0+o]
				if math.Abs(float64(v)-val[p*tc.cout+o]) > max(wino4Tol, wino25Tol)*mag[p*tc.cout+o] {
					t.Fatalf("%s: pixel %d channel %d = %g, float64 %g", name, p, o, v, val[p*tc.cout+o])
				}
			}
		}
	}
}

// Set is kernels.Set, short for the tests.
type Set = kernels.Set

// TestWinogradPaths: Winograd runs only for 3x3 and 5x5 stride-1
// convolutions with enough channels and tiles, with kernels.Winograd and kernels.Conv on the
// AVX-512 kernels, and not in bf16.
func TestWinogradPaths(t *testing.T) {
	if !kernels.AVX512Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	all := kernels.AVX512(kernels.All)
	for _, tc := range []struct {
		c    *Conv2D
		kern Set
		n, h int // images and input side (default 1 and 16)
		want bool
	}{
		{NewConv2D(64, 64, Square(3, 1, 1)), all, 0, 0, true},
		{NewConv2D(64, 64, Square(3, 1, 1)), all, 1, 7, false}, // 16 tiles
		{NewConv2D(64, 64, Square(3, 1, 1)), all, 2, 7, true},  // 32 tiles
		{NewConv2D(64, 64, Square(3, 1, 1)), kernels.AVX512(kernels.Winograd), 0, 0, false},
		{NewConv2D(64, 64, Square(3, 1, 1)), kernels.AVX512(kernels.Conv), 0, 0, false},
		{NewConv2D(64, 64, Square(3, 1, 1)), kernels.BLAS(), 0, 0, false},
		{NewConv2D(64, 64, Square(3, 2, 1)), all, 0, 0, false},
		{NewConv2D(64, 64, Square(1, 1, 0)), all, 0, 0, false},
		{NewConv2D(64, 64, Window{KH: 1, KW: 3, StrideH: 1, StrideW: 1, Same: true}), all, 0, 0, false},
		{NewConv2D(winoMinCin-1, 64, Square(3, 1, 1)), all, 0, 0, false},
		{NewConv2D(64, winoMinCout-1, Square(3, 1, 1)), all, 0, 0, false},
		{NewConv2D(48, 64, Square(5, 1, 2)), all, 1, 7, true},  // 16 tiles
		{NewConv2D(48, 64, Square(5, 1, 2)), all, 1, 6, false}, // 9 tiles
		{NewConv2D(48, 64, Square(5, 1, 2)), all, 1, 35, true},
		{NewConv2D(winoMinCin, winoMinCout, Square(5, 1, 2)), all, 2, 35, true},
		{NewConv2D(48, 64, Square(5, 1, 2)), kernels.AVX512(kernels.All &^ kernels.Winograd), 1, 35, false},
		{NewConv2D(48, 64, Square(5, 1, 2)), kernels.BLAS(), 1, 35, false},
		{NewConv2D(48, 64, Square(5, 2, 2)), all, 1, 35, false},
		{NewConv2D(48, 64, Window{KH: 5, KW: 3, StrideH: 1, StrideW: 1, Same: true}), all, 1, 35, false},
		{NewConv2D(winoMinCin-1, 64, Square(5, 1, 2)), all, 1, 35, false},
		{NewConv2D(64, winoMinCout-1, Square(5, 1, 2)), all, 1, 35, false},
		{NewConv2D(64, 64, Square(7, 1, 3)), all, 1, 35, false},
	} {
		n, h := max(tc.n, 1), tc.h
		if h == 0 {
			h = 16
		}
		if got := tc.c.useWinograd(tc.kern, n, tc.c.Apply(h, h)); got != tc.want {
			t.Errorf("%dx%d stride %d, %d -> %d on %v: useWinograd = %v, want %v", tc.c.KH, tc.c.KW, tc.c.StrideH, tc.c.Cin, tc.c.Cout, tc.kern, got, tc.want)
		}
	}
	// The 5x5 variant: F(3x3, 5x5) up to wino35MaxWeights, else F(2x2, 5x5).
	for _, tc := range []struct{ cin, cout, want int }{{48, 64, 3}, {32, 32, 3}, {96, 96, 3}, {96, 97, 2}, {128, 128, 2}, {512, 512, 2}} {
		c := NewConv2D(tc.cin, tc.cout, Square(5, 1, 2))
		if got := c.winoTile(all, 1, c.Apply(35, 35)); got != tc.want {
			t.Errorf("5x5 %d -> %d: winoTile = %d, want %d", tc.cin, tc.cout, got, tc.want)
		}
	}
	c := NewConv2D(64, 64, Square(3, 1, 1))
	c.SetPrecision(BF16)
	if c.useWinograd(all, 1, c.Apply(16, 16)) {
		t.Error("a bf16 convolution runs by Winograd")
	}
}

// TestWinogradWeights: the cached weight transforms, for tiles of 2x2 and
// 4x4 pixels of a 3x3 kernel and 2x2 pixels of a 5x5 one, follow every
// change of the weights as the packed weights do (checkWeightCache: after
// each, the output is bit for bit a fresh convolution's, also from
// concurrent calls).
func TestWinogradWeights(t *testing.T) {
	if !kernels.AVX512Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	const cin, cout = 40, 36
	kern := kernels.AVX512(kernels.All)
	c := NewConv2D(cin, cout, Square(3, 1, 1))
	if !c.useWinograd(kern, 2, c.Apply(9, 8)) {
		t.Fatal("the convolution does not run by Winograd")
	}
	checkWeightCache(t, rand.New(rand.NewPCG(43, 44)), 2, cin, cout, Square(3, 1, 1), func(c *Conv2D, out, x *NHWC) {
		c.Forward(out, x, &Workspace{kern: kern})
	})
	c5 := NewConv2D(cin, cout, Square(5, 1, 2))
	if c5.winoTile(kern, 2, c5.Apply(9, 8)) != 3 {
		t.Fatal("the 5x5 convolution does not run by F(3x3, 5x5)")
	}
	checkWeightCache(t, rand.New(rand.NewPCG(43, 45)), 2, cin, cout, Square(5, 1, 2), func(c *Conv2D, out, x *NHWC) {
		c.Forward(out, x, &Workspace{kern: kern})
	})
	for _, m := range []int{2, 4} {
		checkWeightCache(t, rand.New(rand.NewPCG(45, uint64(m))), 1, cin, cout, Square(3, 1, 1), func(c *Conv2D, out, x *NHWC) {
			g := c.Apply(x.H, x.W)
			out.Reshape(x.N, g.OutH, g.OutW, c.Cout)
			c.runWinograd(out, 0, x, nil, g, m, &Workspace{kern: kern})
		})
	}
	// F(2x2, 5x5), which Forward does not pick for these channels.
	checkWeightCache(t, rand.New(rand.NewPCG(47, 48)), 1, cin, cout, Square(5, 1, 2), func(c *Conv2D, out, x *NHWC) {
		g := c.Apply(x.H, x.W)
		out.Reshape(x.N, g.OutH, g.OutW, c.Cout)
		c.runWinograd(out, 0, x, nil, g, 2, &Workspace{kern: kern})
	})
}
