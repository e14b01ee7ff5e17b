package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
)

// TestConvBlocks: the AVX-512 block path (weights packed once, tiles of the
// left matrix read in place where they can be, else gathered; residual,
// bias and ReLU fused into the kernel) gives the values of one GEMM over
// all the output pixels (im2col, avx512.Sgemm, then the residual, bias and
// ReLU added in Go as before) bit for bit, on several cores or one, for
// convolutions cut into many blocks, with inner dimensions of one and
// several parts of the kernel, with and without ReLU, with a residual in
// the output or apart from it, written at a channel offset. The residual
// holds -0 and NaNs of both signs.
func TestConvBlocks(t *testing.T) {
	if !kernels.AVX512Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	r := rand.New(rand.NewPCG(21, 22))
	xs := map[int]*NHWC{}
	for _, tc := range []struct {
		win      Window
		cin      int
		relu     bool
		resApart bool
	}{
		{Square(3, 1, 1), 24, true, false}, {Window{KH: 3, KW: 3, StrideH: 2, StrideW: 2, Same: true}, 24, true, false},
		{Square(1, 1, 0), 24, true, false}, {Square(3, 1, 0), 24, true, false},
		{Square(3, 1, 1), 70, true, true}, {Square(1, 1, 0), 300, false, true}, {Square(3, 1, 0), 40, false, false},
		{Window{KH: 1, KW: 7, StrideH: 1, StrideW: 1, Same: true}, 40, true, false},
		{Window{KH: 7, KW: 1, StrideH: 1, StrideW: 1, Same: true}, 70, true, true},
		{Window{KH: 7, KW: 1, StrideH: 1, StrideW: 1, Same: true}, 40, true, false}, // rows too short: gathered
		{Window{KH: 3, KW: 3, StrideH: 2, StrideW: 2}, 25, true, false},             // on a wider map (below)
		{Window{KH: 3, KW: 3, StrideH: 2, StrideW: 2}, 3, true, false},              // rows too short: gathered
		// On an input over rowsMaxInput: tiles read in place or gathered.
		{Square(3, 1, 1), 130, true, false}, {Window{KH: 1, KW: 7, StrideH: 1, StrideW: 1, Same: true}, 130, false, true},
	} {
		win := tc.win
		if xs[tc.cin] == nil {
			w := 29
			switch tc.cin {
			case 25:
				w = 61
			case 130:
				w = 70
			}
			xs[tc.cin] = FromNCHW(nil, randTensor(r, 2, tc.cin, 30, w))
		}
		x := xs[tc.cin]
		c := randConv(r, tc.cin, 40, win, tc.relu)
		g := c.Apply(x.H, x.W)
		rows := x.N * g.OutH * g.OutW
		if br := blockRows(rows, c.K(), c.Cout, 2); rows < 3*br {
			t.Fatalf("%+v: %d pixels make fewer than 3 blocks of %d", win, rows, br)
		}
		// Rows of both kinds, read in place and gathered, when padded, all
		// in place when not, on a small input; on a large one, tiles of
		// both kinds; unless 1x1 or with rows too short to be read in place.
		if c.inPlace() != (c.KH*c.KW > 1 && c.KW*tc.cin >= 64) {
			t.Fatalf("%+v: inPlace() = %v", tc, c.inPlace())
		}
		if c.rowsInPlace(x) != (c.inPlace() && tc.cin != 130) {
			t.Fatalf("%+v: rowsInPlace() = %v on %v", tc, c.rowsInPlace(x), x)
		}
		if c.rowsInPlace(x) {
			checkRowKinds(t, c, x, g)
		} else if c.inPlace() {
			inPlace := 0
			for p0 := 0; p0+blockTile <= rows; p0 += blockTile {
				if _, ok := c.tileOrigin(x, g, p0); ok {
					inPlace++
				}
			}
			if inPlace == 0 || inPlace == rows/blockTile {
				t.Fatalf("%+v: %d of %d tiles read in place", tc, inPlace, rows/blockTile)
			}
		}
		res := FromNCHW(nil, randTensor(r, x.N, c.Cout, g.OutH, g.OutW))
		for i := 0; i < len(res.Data); i += 11 {
			res.Data[i] = []float32{float32(math.Copysign(0, -1)), math.Float32frombits(0xffc00001), math.Float32frombits(0x7fc00002)}[(i/11)%3]
		}

		checkOneGEMM(t, fmt.Sprintf("%+v", tc), c, x, res, tc.resApart)
	}
}

// randConv returns a convolution with normal random weights and bias.
func randConv(r *rand.Rand, cin, cout int, win Window, relu bool) *Conv2D {
	c := NewConv2D(cin, cout, win)
	for i := range c.Weight {
		c.Weight[i] = float32(r.NormFloat64())
	}
	for i := range c.Bias {
		c.Bias[i] = float32(r.NormFloat64())
	}
	c.ReLU = relu
	return c
}

// randConvOIHW returns a convolution with random weights, set from OIHW
// order (SetWeightsOIHW), and a random bias, and the OIHW weights, which
// directConv takes.
func randConvOIHW(r *rand.Rand, cin, cout int, win Window) (*Conv2D, []float32) {
	c := NewConv2D(cin, cout, win)
	w := make([]float32, len(c.Weight))
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	c.SetWeightsOIHW(w)
	for i := range c.Bias {
		c.Bias[i] = float32(r.NormFloat64())
	}
	return c, w
}

// checkOneGEMM checks that c.run on the AVX-512 kernels, with the residual
// res apart from the output or in it, gives bit for bit the values of one
// GEMM over all the output pixels (im2col, avx512.Sgemm, then the residual,
// bias and ReLU added in Go), into channels [3, 3+Cout) of a wider map, on
// one, two and three cores.
func checkOneGEMM(t *testing.T, name string, c *Conv2D, x, res *NHWC, resApart bool) {
	t.Helper()
	g := c.Apply(x.H, x.W)
	rows := x.N * g.OutH * g.OutW
	want := &NHWC{}
	want.Reshape(x.N, g.OutH, g.OutW, c.Cout+5)
	clear(want.Data)
	col := make([]float32, rows*c.K())
	c.im2colRows(col, x, g, 0, 0, rows)
	copyResidual(want, 3, res, 0, rows)
	avx512.Sgemm(rows, c.Cout, c.K(), 1, col, c.K(), c.Weight, c.Cout, true, want.Data[3:], want.C)
	c.epilogueRows(want, 3, 0, rows)

	for _, procs := range []int{1, 2, 3} {
		prev := runtime.GOMAXPROCS(procs)
		got := &NHWC{}
		got.Reshape(x.N, g.OutH, g.OutW, c.Cout+5)
		clear(got.Data)
		ws := Workspace{kern: kernels.AVX512(kernels.Conv)}
		if resApart {
			c.run(got, 3, x, res, &ws)
		} else {
			copyResidual(got, 3, res, 0, rows)
			c.run(got, 3, x, got, &ws)
		}
		runtime.GOMAXPROCS(prev)
		for i := range got.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Fatalf("%s GOMAXPROCS %d: value %d = %g, one GEMM gives %g", name, procs, i, got.Data[i], want.Data[i])
			}
		}
	}
}

// TestConvColumns: convolutions with few output pixels and large weights,
// which the AVX-512 path cuts over column panels (colPanels), give the
// values of one GEMM bit for bit: 1x1 (the input as it is), 3x3 padded
// (the rows that reach the padding gathered once for the blocks), 3x3
// unpadded on a wider map (all rows read in place), strided, with a
// residual apart or in the output, a number of panels not a multiple of
// the blocks and a last panel cut short.
func TestConvColumns(t *testing.T) {
	if !kernels.AVX512Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	r := rand.New(rand.NewPCG(23, 24))
	for _, tc := range []struct {
		win         Window
		h, w        int
		cin, cout   int
		relu, apart bool
	}{
		{Square(1, 1, 0), 14, 14, 600, 500, true, false},
		{Square(3, 1, 1), 14, 14, 256, 300, true, true},
		{Square(3, 1, 0), 15, 20, 128, 330, false, false},
		{Window{KH: 3, KW: 3, StrideH: 2, StrideW: 2, Same: true}, 28, 28, 256, 260, true, true},
	} {
		x := FromNCHW(nil, randTensor(r, 1, tc.cin, tc.h, tc.w))
		c := randConv(r, tc.cin, tc.cout, tc.win, tc.relu)
		g := c.Apply(x.H, x.W)
		rows := g.OutH * g.OutW
		panels := (tc.cout + avx512Panel - 1) / avx512Panel
		for _, procs := range []int{2, 3} {
			if colPanels(rows, c.K(), panels, procs) == 0 {
				t.Fatalf("%+v: %d pixels not cut over columns on %d cores", tc, rows, procs)
			}
		}
		if colPanels(rows, c.K(), panels, 1) != 0 {
			t.Fatalf("%+v: cut over columns on one core", tc)
		}
		if c.inPlace() {
			if !c.rowsInPlace(x) {
				t.Fatalf("%+v: not read row by row", tc)
			}
			checkRowKinds(t, c, x, g)
		}
		res := FromNCHW(nil, randTensor(r, 1, c.Cout, g.OutH, g.OutW))
		res.Data[7] = float32(math.Copysign(0, -1))
		checkOneGEMM(t, fmt.Sprintf("%+v", tc), c, x, res, tc.apart)
	}
}

// TestConvPackedWeights: the packed copy of the weights that the AVX-512
// path keeps follows every way of changing them (SetWeightsOIHW,
// SetWeightsHWIO, FoldBatchNorm, a write into Weight followed by
// WeightsChanged, another slice assigned to Weight): after each, Forward
// gives bit for bit what a fresh convolution with the same weights gives,
// and, before the change, differs from it. Concurrent Forward calls on a
// freshly changed convolution agree with one another.
func TestConvPackedWeights(t *testing.T) {
	if !kernels.AVX512Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	kern := kernels.AVX512(kernels.Conv)
	checkWeightCache(t, rand.New(rand.NewPCG(23, 24)), 1, 6, 40, Square(3, 1, 1), func(c *Conv2D, out, x *NHWC) {
		c.Forward(out, x, &Workspace{kern: kern})
	})
}

// checkWeightCache is TestConvPackedWeights for a convolution with the
// window win of cin to cout channels of n 9x8 images, computed by run (a
// Forward).
func checkWeightCache(t *testing.T, r *rand.Rand, n, cin, cout int, win Window, run func(c *Conv2D, out, x *NHWC)) {
	t.Helper()
	x := FromNCHW(nil, randTensor(r, n, cin, 9, 8))
	forward := func(c *Conv2D) []float32 {
		out := &NHWC{}
		run(c, out, x)
		return out.Data
	}
	fresh := func(c *Conv2D) []float32 {
		f := NewConv2D(c.Cin, c.Cout, win)
		copy(f.Weight, c.Weight)
		copy(f.Bias, c.Bias)
		f.ReLU = c.ReLU
		return forward(f)
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				return false
			}
		}
		return len(a) == len(b)
	}
	rnd := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
		return s
	}
	c := NewConv2D(cin, cout, win)
	c.SetWeightsHWIO(rnd(len(c.Weight)))
	forward(c) // packs
	for _, step := range []struct {
		name   string
		change func()
	}{
		{"SetWeightsOIHW", func() { c.SetWeightsOIHW(rnd(len(c.Weight))) }},
		{"SetWeightsHWIO", func() { c.SetWeightsHWIO(rnd(len(c.Weight))) }},
		{"FoldBatchNorm", func() {
			v := rnd(cout)
			for i := range v {
				v[i] = 1 + v[i]*v[i]
			}
			c.FoldBatchNorm(nil, nil, make([]float32, cout), v, 1e-5)
		}},
		{"write and WeightsChanged", func() { c.Weight[17] += 3; c.WeightsChanged() }},
		{"new slice", func() { c.Weight = rnd(len(c.Weight)) }},
	} {
		before := forward(c)
		step.change()
		want := fresh(c)
		if same(before, want) {
			t.Fatalf("%s: the change leaves the output as it was; the test cannot tell", step.name)
		}
		// A Conv2D made without NewConv2D keeps no packed copy.
		lit := &Conv2D{Window: c.Window, Cin: c.Cin, Cout: c.Cout, Weight: c.Weight, Bias: c.Bias, ReLU: c.ReLU}
		if !same(forward(lit), want) {
			t.Fatalf("%s: a Conv2D literal differs from a fresh convolution", step.name)
		}
		outs := make([][]float32, 3)
		var wg sync.WaitGroup
		for i := range outs {
			wg.Go(func() { outs[i] = forward(c) })
		}
		wg.Wait()
		for i, got := range outs {
			if !same(got, want) {
				t.Fatalf("%s: Forward %d after the change differs from a fresh convolution's", step.name, i)
			}
		}
	}
}

// TestForwardGroup: convolutions of one input run as a group give, bit
// for bit, what each gives run alone with ForwardAt, on the AVX-512
// kernels (on several cores or one) and on BLAS, for 1x1 branch heads (the
// input read as it is) and 3x3 ones (tiles read in place and gathered),
// written into one concatenation at offsets and into a map of their own.
func TestForwardGroup(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	x := FromNCHW(nil, randTensor(r, 2, 40, 35, 35))
	// 196 pixels of 1400 channels: the group is cut over its columns
	// (colPanels), each convolution alone over its pixels.
	wide := FromNCHW(nil, randTensor(r, 1, 1400, 14, 14))
	if colPanels(196, 1400, 6, 2) == 0 || colPanels(196, 1400, 2, 2) != 0 {
		t.Fatal("the 1400-channel group is not cut over columns, or a convolution alone is")
	}
	sets := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		sets = append(sets, kernels.AVX512(kernels.Conv))
	}
	for _, tc := range []struct {
		x   *NHWC
		win Window
	}{{x, Square(1, 1, 0)}, {x, Square(3, 1, 1)}, {wide, Square(1, 1, 0)}} {
		x, win := tc.x, tc.win
		var convs []*Conv2D
		for _, cout := range []int{64, 48, 37} {
			convs = append(convs, randConv(r, x.C, cout, win, cout != 37))
		}
		oh, ow := convs[0].OutSize(x.H, x.W)
		for _, set := range sets {
			for _, procs := range []int{1, 2, 3} {
				prev := runtime.GOMAXPROCS(procs)
				ws := &Workspace{kern: set}
				// Alone: the first two into a concatenation, the third on its own.
				wantCat, wantOwn := &NHWC{}, &NHWC{}
				wantCat.Reshape(x.N, oh, ow, 5+64+48)
				wantOwn.Reshape(x.N, oh, ow, 37)
				clear(wantCat.Data)
				convs[0].ForwardAt(wantCat, 5, x, ws)
				convs[1].ForwardAt(wantCat, 5+64, x, ws)
				convs[2].ForwardAt(wantOwn, 0, x, ws)
				gotCat, gotOwn := &NHWC{}, &NHWC{}
				gotCat.Reshape(x.N, oh, ow, 5+64+48)
				gotOwn.Reshape(x.N, oh, ow, 37)
				clear(gotCat.Data)
				ForwardGroup(x, ws, ConvOut{convs[0], gotCat, 5}, ConvOut{convs[1], gotCat, 5 + 64}, ConvOut{convs[2], gotOwn, 0})
				runtime.GOMAXPROCS(prev)
				for _, p := range [][2]*NHWC{{gotCat, wantCat}, {gotOwn, wantOwn}} {
					for i := range p[0].Data {
						if math.Float32bits(p[0].Data[i]) != math.Float32bits(p[1].Data[i]) {
							t.Fatalf("%+v %v GOMAXPROCS %d: value %d = %g as a group, %g alone", win, set, procs, i, p[0].Data[i], p[1].Data[i])
						}
					}
				}
			}
		}
	}
}

// TestColPanelsEven: a convolution cut over columns gets as many blocks on
// every core where the panels allow it (colPanels), not a last block that
// leaves the other cores idle.
func TestColPanelsEven(t *testing.T) {
	for _, tc := range []struct{ rows, k, panels, procs, want int }{
		{289, 2592, 12, 2, 3}, // inception_v3's activation_27 at batch 1: 4 blocks of 3, not 3 of 4
		{289, 2592, 12, 3, 4},
		{196, 1024, 8, 2, 4}, {196, 256, 32, 2, 8}, {196, 512, 16, 2, 4}, {289, 768, 14, 2, 4},
		{196, 1400, 6, 2, 3}, {196, 1400, 4, 2, 0}, {196, 1400, 2, 2, 0}, {196, 2592, 12, 1, 0},
	} {
		if got := colPanels(tc.rows, tc.k, tc.panels, tc.procs); got != tc.want {
			t.Errorf("colPanels(%d, %d, %d, %d) = %d, want %d", tc.rows, tc.k, tc.panels, tc.procs, got, tc.want)
		}
	}
}

// checkRowKinds checks that the rows of c's left matrix on x that the
// AVX-512 path reads in place (rowOffsets) are those of the pixels whose
// windows lie inside x, at their windows' first values, and that a padded
// convolution has rows of both kinds.
func checkRowKinds(t *testing.T, c *Conv2D, x *NHWC, g Geometry) {
	t.Helper()
	ro := new(convBlocks).rowOffsets(c, x, g)
	gathered := 0
	for i, d := range ro {
		n, p := i/(g.OutH*g.OutW), i%(g.OutH*g.OutW)
		iy, ix := p/g.OutW*c.StrideH-g.PadTop, p%g.OutW*c.StrideW-g.PadLeft
		inside := iy >= 0 && iy+c.KH <= x.H && ix >= 0 && ix+c.KW <= x.W
		if want := int64(((n*x.H+iy)*x.W + ix) * x.C); inside && d != want || !inside && d != -1 {
			t.Fatalf("%+v: row %d read at %d, window inside the input %v (at %d)", c.Window, i, d, inside, want)
		}
		if d < 0 {
			gathered++
		}
	}
	padded := g.PadTop > 0 || g.PadLeft > 0 || g.PadBottom > 0 || g.PadRight > 0
	if padded && (gathered == 0 || gathered == len(ro)) || !padded && gathered > 0 {
		t.Fatalf("%+v: %d of %d rows gathered", c.Window, gathered, len(ro))
	}
}

// TestConvRowsDirect: convolutions read row by row on the AVX-512 kernels
// (rowsInPlace: windows of rows long enough, a small input) give the
// float64 convolution within float32 rounding, on odd map sizes where the
// windows reach the padding on every side or not at all, with strides,
// 1x7 and 7x1 windows, an odd number of outputs (a last panel cut short),
// with and without a residual, over pixels and over column panels.
func TestConvRowsDirect(t *testing.T) {
	if !kernels.AVX512Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	r := rand.New(rand.NewPCG(27, 28))
	for _, tc := range []struct {
		win       Window
		h, w      int
		cin, cout int
	}{
		{Window{KH: 1, KW: 7, StrideH: 1, StrideW: 1, PadW: 3}, 17, 13, 70, 37},
		{Window{KH: 7, KW: 1, StrideH: 1, StrideW: 1, PadH: 3}, 9, 17, 70, 37},
		{Window{KH: 1, KW: 7, StrideH: 1, StrideW: 1, Same: true}, 5, 23, 70, 33},
		{Square(3, 2, 0), 17, 15, 70, 37},
		{Window{KH: 3, KW: 3, StrideH: 2, StrideW: 2, Same: true}, 16, 11, 70, 37},
		{Square(3, 2, 1), 9, 8, 70, 37},
		{Square(5, 1, 2), 11, 7, 70, 37},
		{Window{KH: 2, KW: 3, StrideH: 1, StrideW: 2, PadH: 1}, 10, 13, 70, 37},
		{Square(3, 1, 1), 9, 8, 256, 300},   // cut over column panels
		{Square(3, 2, 0), 17, 17, 288, 384}, // activation_27's shape, over column panels
	} {
		x := randTensor(r, 2, tc.cin, tc.h, tc.w)
		if tc.cout >= 300 {
			x = randTensor(r, 1, tc.cin, tc.h, tc.w)
		}
		c, w := randConvOIHW(r, tc.cin, tc.cout, tc.win)
		xh := FromNCHW(nil, x)
		g := c.Apply(tc.h, tc.w)
		if !c.rowsInPlace(xh) {
			t.Fatalf("%+v: not read row by row", tc)
		}
		cols := colPanels(x.N*g.OutH*g.OutW, c.K(), (tc.cout+avx512Panel-1)/avx512Panel, 2) > 0
		if cols != (tc.cout >= 300) {
			t.Fatalf("%+v: cut over columns %v", tc, cols)
		}
		checkRowKinds(t, c, xh, g)
		want, _ := directConv(x, w, tc.cout, tc.win.KH, tc.win.KW, tc.win, c.Bias)
		res := randTensor(r, want.N, want.C, want.H, want.W)
		for _, procs := range []int{1, 2} {
			prev := runtime.GOMAXPROCS(procs)
			ws := Workspace{kern: kernels.AVX512(kernels.Conv)}
			var out NHWC
			c.Forward(&out, xh, &ws)
			closeTo(t, fmt.Sprintf("%+v procs %d", tc, procs), out.ToNCHW(nil).Data, want.Data, 1e-5)
			c.ForwardAdd(&out, xh, FromNCHW(nil, res), &ws)
			exp := make([]float32, want.Len())
			for i := range exp {
				exp[i] = want.Data[i] + res.Data[i]
			}
			closeTo(t, fmt.Sprintf("%+v procs %d residual", tc, procs), out.ToNCHW(nil).Data, exp, 1e-5)
			runtime.GOMAXPROCS(prev)
		}
	}
}
