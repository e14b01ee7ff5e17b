package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/weights"
)

func fixtures(t *testing.T) weights.Tensors {
	t.Helper()
	ts, err := weights.ReadSafetensors("testdata/ops.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func tensorOf(w *weights.Tensor) *Tensor {
	s := w.Shape
	return &Tensor{N: s[0], C: s[1], H: s[2], W: s[3], Data: append([]float32{}, w.Data...)}
}

// closeTo checks max |got - want| <= tol * max(1, max |want|).
func closeTo(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	var maxAbs, maxDiff float64
	at := 0
	for i := range want {
		maxAbs = math.Max(maxAbs, math.Abs(float64(want[i])))
		if d := math.Abs(float64(got[i] - want[i])); d > maxDiff || math.IsNaN(d) {
			maxDiff, at = d, i
		}
	}
	if !(maxDiff <= tol*math.Max(1, maxAbs)) {
		t.Errorf("%s: max abs diff %g at %d (got %g want %g), max |want| %g", name, maxDiff, at, got[at], want[at], maxAbs)
	}
}

func convFromTorch(w *weights.Tensor, win Window) *Conv2D {
	c := NewConv2D(w.Shape[1], w.Shape[0], win)
	c.SetWeightsOIHW(w.Data)
	return c
}

func runConv(c *Conv2D, x *Tensor) *Tensor {
	var out NHWC
	var ws Workspace
	c.Forward(&out, FromNCHW(nil, x), &ws)
	return out.ToNCHW(nil)
}

func TestConvAgainstTorch(t *testing.T) {
	f := fixtures(t)
	c := convFromTorch(f["conv.w"], Square(3, 2, 1))
	copy(c.Bias, f["conv.b"].Data)
	c.FoldBatchNorm(f["conv.gamma"].Data, f["conv.beta"].Data, f["conv.mean"].Data, f["conv.var"].Data, 1e-5)
	c.ReLU = true
	closeTo(t, "conv+bn+relu", runConv(c, tensorOf(f["conv.x"])).Data, f["conv.y"].Data, 1e-5)

	stem := convFromTorch(f["stem.w"], Square(7, 2, 3))
	closeTo(t, "stem", runConv(stem, tensorOf(f["stem.x"])).Data, f["stem.y"].Data, 1e-5)

	same := convFromTorch(f["same.w"], Window{KH: 3, KW: 3, StrideH: 2, StrideW: 2, Same: true})
	closeTo(t, "same 3x3/2", runConv(same, tensorOf(f["same.x"])).Data, f["same.y"].Data, 1e-5)
	s17 := convFromTorch(f["same17.w"], Window{KH: 1, KW: 7, StrideH: 1, StrideW: 1, Same: true})
	closeTo(t, "same 1x7", runConv(s17, tensorOf(f["same.x"])).Data, f["same17.y"].Data, 1e-5)
}

func TestPoolAgainstTorch(t *testing.T) {
	f := fixtures(t)
	x := tensorOf(f["pool.x"])
	closeTo(t, "max3s2p1", MaxPool2D(x, 3, 2, 1).Data, f["pool.max3s2p1"].Data, 1e-6)
	closeTo(t, "avg incl", AvgPool2D(x, 3, 1, 1, true).Data, f["pool.avg3s1p1.incl"].Data, 1e-6)
	closeTo(t, "avg excl", AvgPool2D(x, 3, 1, 1, false).Data, f["pool.avg3s1p1.excl"].Data, 1e-6)
	closeTo(t, "avg s2 excl", AvgPool2D(x, 3, 2, 1, false).Data, f["pool.avg3s2p1.excl"].Data, 1e-6)
	same := func(k, s int) Window { return Window{KH: k, KW: k, StrideH: s, StrideW: s, Same: true} }
	closeTo(t, "avg same", AvgPool2DInto(nil, x, same(3, 1), false).Data, f["pool.avg3s1.same"].Data, 1e-6)
	closeTo(t, "max same", MaxPool2DInto(nil, x, same(3, 2)).Data, f["pool.max3s2.same"].Data, 1e-6)
	// The NHWC entry points agree with the NCHW ones.
	var d NHWC
	AvgPool(&d, FromNCHW(nil, x), same(3, 1), false)
	closeTo(t, "avg same NHWC", d.ToNCHW(nil).Data, f["pool.avg3s1.same"].Data, 1e-6)
	MaxPool(&d, FromNCHW(nil, x), Square(3, 2, 1))
	closeTo(t, "max NHWC", d.ToNCHW(nil).Data, f["pool.max3s2p1"].Data, 1e-6)
}

func TestResizeAgainstTorch(t *testing.T) {
	f := fixtures(t)
	x := tensorOf(f["resize.x"])
	for _, s := range [][2]int{{14, 10}, {13, 9}, {3, 2}} {
		name := fmt.Sprintf("resize.%dx%d", s[0], s[1])
		got := ResizeBilinear(x, s[0], s[1])
		if got.N != 1 || got.C != 3 || got.H != s[0] || got.W != s[1] {
			t.Fatalf("%s: shape %d %d %d %d", name, got.N, got.C, got.H, got.W)
		}
		closeTo(t, name, got.Data, f[name].Data, 1e-6)
	}
}

func randTensor(r *rand.Rand, n, c, h, w int) *Tensor {
	x := NewTensor(n, c, h, w)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	return x
}

// directConv is the convolution formula in float64 on NCHW data, weights in
// OIHW, with explicit per-side padding from the geometry.
func directConv(x *Tensor, w []float32, cout, kh, kw int, win Window, bias []float32) (*Tensor, []float64) {
	g := win.Apply(x.H, x.W)
	out := NewTensor(x.N, cout, g.OutH, g.OutW)
	ref := make([]float64, out.Len())
	for n := 0; n < x.N; n++ {
		for o := 0; o < cout; o++ {
			for oy := 0; oy < g.OutH; oy++ {
				for ox := 0; ox < g.OutW; ox++ {
					s := float64(bias[o])
					for i := 0; i < x.C; i++ {
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								iy, ix := oy*win.StrideH-g.PadTop+ky, ox*win.StrideW-g.PadLeft+kx
								if iy < 0 || iy >= x.H || ix < 0 || ix >= x.W {
									continue
								}
								s += float64(x.Data[((n*x.C+i)*x.H+iy)*x.W+ix]) * float64(w[((o*x.C+i)*kh+ky)*kw+kx])
							}
						}
					}
					ref[((n*cout+o)*g.OutH+oy)*g.OutW+ox] = s
				}
			}
		}
	}
	for i, v := range ref {
		out.Data[i] = float32(v)
	}
	return out, ref
}

func TestConvDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	wins := []Window{
		Square(1, 1, 0), Square(1, 2, 0), Square(3, 1, 1), Square(3, 2, 1), Square(7, 2, 3), Square(3, 1, 0),
		{KH: 3, KW: 3, StrideH: 2, StrideW: 2, Same: true}, {KH: 1, KW: 7, StrideH: 1, StrideW: 1, Same: true},
		{KH: 7, KW: 1, StrideH: 1, StrideW: 1, Same: true}, {KH: 5, KW: 5, StrideH: 1, StrideW: 1, Same: true},
		{KH: 2, KW: 3, StrideH: 1, StrideW: 2, PadH: 1, PadW: 0},
	}
	for _, win := range wins {
		for _, sz := range [][2]int{{9, 8}, {10, 13}} {
			x := randTensor(r, 2, 5, sz[0], sz[1])
			cout := 6
			c, w := randConvOIHW(r, 5, cout, win)
			want, _ := directConv(x, w, cout, win.KH, win.KW, win, c.Bias)
			got := runConv(c, x)
			closeTo(t, fmt.Sprintf("%+v %v", win, sz), got.Data, want.Data, 1e-5)

			// Residual + ReLU, in place on the residual.
			res := FromNCHW(nil, randTensor(r, want.N, want.C, want.H, want.W))
			resNCHW := res.ToNCHW(nil)
			c.ReLU = true
			var ws Workspace
			c.ForwardAdd(res, FromNCHW(nil, x), res, &ws)
			exp := make([]float32, want.Len())
			for i := range exp {
				exp[i] = max(want.Data[i]+resNCHW.Data[i], 0)
			}
			closeTo(t, "residual", res.ToNCHW(nil).Data, exp, 1e-5)

			// ForwardAt into the middle channels of a wider map.
			c.ReLU = false
			wide := &NHWC{}
			wide.Reshape(want.N, want.H, want.W, cout+5)
			for i := range wide.Data {
				wide.Data[i] = -7
			}
			c.ForwardAt(wide, 2, FromNCHW(nil, x), &ws)
			wn := wide.ToNCHW(nil)
			hw := want.H * want.W
			for n := 0; n < want.N; n++ {
				for ch := 0; ch < cout+5; ch++ {
					seg := wn.Data[(n*(cout+5)+ch)*hw : (n*(cout+5)+ch+1)*hw]
					if ch < 2 || ch >= 2+cout {
						for _, v := range seg {
							if v != -7 {
								t.Fatalf("ForwardAt wrote channel %d", ch)
							}
						}
						continue
					}
					closeTo(t, "ForwardAt", seg, want.Data[(n*cout+ch-2)*hw:(n*cout+ch-1)*hw], 1e-5)
				}
			}
		}
	}
}

func TestFoldBatchNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := randTensor(r, 1, 3, 6, 6)
	c, w := randConvOIHW(r, 3, 4, Square(3, 1, 1))
	mean, variance, beta := []float32{0.1, -0.2, 0.3, 0}, []float32{0.5, 1.5, 2, 0.01}, []float32{1, 0, -1, 0.5}
	gamma := []float32{2, 0.5, 1, -1}
	_, ref := directConv(x, w, 4, 3, 3, c.Window, make([]float32, 4))
	for _, tc := range []struct {
		gamma []float32
		eps   float64
	}{{gamma, 1e-5}, {nil, 1e-3}} {
		cc := NewConv2D(3, 4, Square(3, 1, 1))
		cc.SetWeightsOIHW(w)
		cc.FoldBatchNorm(tc.gamma, beta, mean, variance, tc.eps)
		want := make([]float32, len(ref))
		for i, v := range ref {
			o := (i / 36) % 4
			g := 1.0
			if tc.gamma != nil {
				g = float64(tc.gamma[o])
			}
			want[i] = float32((v-float64(mean[o]))/math.Sqrt(float64(variance[o])+tc.eps)*g + float64(beta[o]))
		}
		closeTo(t, fmt.Sprintf("fold eps %g", tc.eps), runConv(cc, x).Data, want, 1e-5)
	}
}

// directPool is pooling by its definition in float64 on NCHW data.
func directPool(x *Tensor, win Window, kind poolKind) []float32 {
	g := win.Apply(x.H, x.W)
	out := make([]float32, x.N*x.C*g.OutH*g.OutW)
	for p := 0; p < x.N*x.C; p++ {
		for oy := 0; oy < g.OutH; oy++ {
			for ox := 0; ox < g.OutW; ox++ {
				m, s, cnt, padded := math.Inf(-1), 0.0, 0, 0
				for ky := 0; ky < win.KH; ky++ {
					for kx := 0; kx < win.KW; kx++ {
						iy, ix := oy*win.StrideH-g.PadTop+ky, ox*win.StrideW-g.PadLeft+kx
						if iy < x.H+g.PadBottom && ix < x.W+g.PadRight {
							padded++
						}
						if iy < 0 || iy >= x.H || ix < 0 || ix >= x.W {
							continue
						}
						v := float64(x.Data[(p*x.H+iy)*x.W+ix])
						m, s, cnt = math.Max(m, v), s+v, cnt+1
					}
				}
				var v float64
				switch kind {
				case poolMax:
					v = m
				case poolAvgInclude:
					v = s / float64(padded)
				default:
					v = s / float64(cnt)
				}
				out[(p*g.OutH+oy)*g.OutW+ox] = float32(v)
			}
		}
	}
	return out
}

func TestPoolDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := randTensor(r, 2, 3, 11, 10)
	wins := []Window{Square(3, 1, 1), Square(3, 2, 1), Square(2, 2, 0), Square(5, 3, 2),
		{KH: 3, KW: 3, StrideH: 1, StrideW: 1, Same: true}, {KH: 3, KW: 3, StrideH: 2, StrideW: 2, Same: true},
		{KH: 2, KW: 4, StrideH: 2, StrideW: 3, Same: true}}
	for _, win := range wins {
		closeTo(t, fmt.Sprintf("max %+v", win), MaxPool2DInto(nil, x, win).Data, directPool(x, win, poolMax), 1e-6)
		closeTo(t, fmt.Sprintf("avg incl %+v", win), AvgPool2DInto(nil, x, win, true).Data, directPool(x, win, poolAvgInclude), 1e-6)
		closeTo(t, fmt.Sprintf("avg excl %+v", win), AvgPool2DInto(nil, x, win, false).Data, directPool(x, win, poolAvgExclude), 1e-6)
	}
}

func TestLayoutAndConcat(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x := randTensor(r, 3, 37, 5, 7)
	back := FromNCHW(nil, x).ToNCHW(nil)
	closeTo(t, "round trip", back.Data, x.Data, 0)
	m := FromNCHW(nil, x)
	if m.Data[((1*5+2)*7+3)*37+11] != x.Data[((1*37+11)*5+2)*7+3] {
		t.Error("FromNCHW element mismatch")
	}
	y := randTensor(r, 3, 4, 5, 7)
	cat := Concat(nil, x, y)
	var cm NHWC
	ConcatNHWC(&cm, FromNCHW(nil, x), FromNCHW(nil, y))
	closeTo(t, "concat", cm.ToNCHW(nil).Data, cat.Data, 0)
	if cat.C != 41 || cat.Data[((2*41+38)*5+4)*7+6] != y.Data[((2*4+1)*5+4)*7+6] {
		t.Error("Concat element mismatch")
	}
}

func TestBufferReuse(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x := FromNCHW(nil, randTensor(r, 2, 8, 12, 12))
	c := NewConv2D(8, 16, Square(3, 1, 1))
	var out NHWC
	var ws Workspace
	c.Forward(&out, x, &ws)
	allocs := testing.AllocsPerRun(5, func() { c.Forward(&out, x, &ws) })
	// Only goroutine bookkeeping may allocate, never the buffers.
	if allocs > 16 {
		t.Errorf("Forward allocates %v times per call in steady state", allocs)
	}
}

// TestConvChunked covers the im2col path split into several GEMM chunks
// (rows > im2colFloats / K, and rows > directChunkRows for a 1x1
// convolution), with a residual and a channel offset.
func TestConvChunked(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x := randTensor(r, 2, 64, 48, 48)
	if 2*48*48 <= directChunkRows || 2*48*48 <= max(im2colFloats/(9*64), minChunkRows) {
		t.Fatal("the test input is too small to be split into chunks")
	}
	for _, win := range []Window{Square(3, 1, 1), {KH: 3, KW: 3, StrideH: 2, StrideW: 2, Same: true}, Square(1, 1, 0)} {
		c, w := randConvOIHW(r, 64, 8, win)
		want, _ := directConv(x, w, 8, win.KH, win.KW, win, c.Bias)
		closeTo(t, "chunked", runConv(c, x).Data, want.Data, 1e-5)

		res := FromNCHW(nil, randTensor(r, want.N, want.C, want.H, want.W))
		resNCHW := res.ToNCHW(nil)
		var ws Workspace
		var out NHWC
		c.ReLU = true
		c.ForwardAdd(&out, FromNCHW(nil, x), res, &ws)
		exp := make([]float32, want.Len())
		for i := range exp {
			exp[i] = max(want.Data[i]+resNCHW.Data[i], 0)
		}
		closeTo(t, "chunked residual", out.ToNCHW(nil).Data, exp, 1e-5)

		c.ReLU = false
		wide := &NHWC{}
		wide.Reshape(want.N, want.H, want.W, 11)
		c.ForwardAt(wide, 3, FromNCHW(nil, x), &ws)
		wn := wide.ToNCHW(nil)
		hw := want.H * want.W
		for n := 0; n < want.N; n++ {
			closeTo(t, "chunked ForwardAt", wn.Data[(n*11+3)*hw:(n*11+11)*hw], want.Data[n*8*hw:(n+1)*8*hw], 1e-5)
		}
	}
}

// TestConvKernelPaths: both matrix products of the convolutions (BLAS and,
// where they run, the AVX-512 kernels) against the direct formula, on an
// im2col and a 1x1 convolution, with a residual (beta = 1).
func TestConvKernelPaths(t *testing.T) {
	t.Parallel()
	kerns := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		kerns = append(kerns, kernels.AVX512(kernels.Conv))
	}
	r := rand.New(rand.NewPCG(13, 14))
	x := randTensor(r, 2, 7, 11, 9)
	for _, win := range []Window{Square(3, 2, 1), Square(1, 1, 0)} {
		c, w := randConvOIHW(r, 7, 5, win)
		want, _ := directConv(x, w, 5, win.KH, win.KW, win, c.Bias)
		res := randTensor(r, want.N, want.C, want.H, want.W)
		for _, kern := range kerns {
			ws := Workspace{kern: kern}
			var out NHWC
			c.Forward(&out, FromNCHW(nil, x), &ws)
			closeTo(t, fmt.Sprintf("%v %+v", kern, win), out.ToNCHW(nil).Data, want.Data, 1e-5)
			c.ForwardAdd(&out, FromNCHW(nil, x), FromNCHW(nil, res), &ws)
			exp := make([]float32, want.Len())
			for i := range exp {
				exp[i] = want.Data[i] + res.Data[i]
			}
			closeTo(t, fmt.Sprintf("%v %+v residual", kern, win), out.ToNCHW(nil).Data, exp, 1e-5)
		}
	}
}

// TestPlanesMatchChannels checks that pooling and resizing the planes of an
// NCHW tensor (the single-channel fast paths; for the resize, in Go and,
// where it runs, on the AVX-512 kernel) give bit for bit what the general
// NHWC paths give for the same data with all channels at once.
func TestPlanesMatchChannels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	sets := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		sets = append(sets, kernels.AVX512(kernels.Pool))
	}
	wins := []Window{Square(3, 1, 1), Square(3, 2, 1), Square(2, 2, 0), Square(5, 3, 2), Square(5, 1, 2), Square(1, 1, 0),
		{KH: 3, KW: 3, StrideH: 1, StrideW: 1, Same: true}, {KH: 3, KW: 3, StrideH: 2, StrideW: 2, Same: true},
		{KH: 2, KW: 4, StrideH: 2, StrideW: 3, Same: true}, {KH: 1, KW: 7, StrideH: 1, StrideW: 1, Same: true},
		{KH: 5, KW: 3, StrideH: 1, StrideW: 1, PadH: 2, PadW: 1}, {KH: 2, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}}
	for _, sz := range [][2]int{{11, 10}, {3, 2}, {1, 1}, {35, 35}} {
		x := randTensor(r, 2, 3, sz[0], sz[1])
		nhwc := FromNCHW(nil, x)
		for _, win := range wins {
			if g := win.Apply(x.H, x.W); g.OutH <= 0 || g.OutW <= 0 {
				continue
			}
			var d NHWC
			MaxPool(&d, nhwc, win)
			closeTo(t, fmt.Sprintf("%v max %+v", sz, win), MaxPool2DInto(nil, x, win).Data, d.ToNCHW(nil).Data, 0)
			AvgPool(&d, nhwc, win, true)
			closeTo(t, fmt.Sprintf("%v avg incl %+v", sz, win), AvgPool2DInto(nil, x, win, true).Data, d.ToNCHW(nil).Data, 0)
			AvgPool(&d, nhwc, win, false)
			closeTo(t, fmt.Sprintf("%v avg excl %+v", sz, win), AvgPool2DInto(nil, x, win, false).Data, d.ToNCHW(nil).Data, 0)
		}
		for _, out := range [][2]int{{35, 35}, {5, 17}, {1, 3}, {17, 40}} {
			var d NHWC
			ResizeBilinearNHWC(&d, nhwc, out[0], out[1])
			for _, kern := range sets {
				closeTo(t, fmt.Sprintf("%v resize to %v, %v", sz, out, kern), ResizeBilinearIntoKernels(nil, x, out[0], out[1], kern).Data, d.ToNCHW(nil).Data, 0)
			}
		}
	}
}

// TestPoolNHWCDirect: the NHWC poolings (several channels: the AVX-512
// kernel where it runs, and the Go loops) against pooling by its definition
// in float64, with the padding conventions of PyTorch and Keras, on channel
// counts around the kernel's 16- and 64-channel blocks; the two paths give
// bit-identical values, and a NaN in a window makes its maximum NaN.
// sameAsGo fails t unless got is, bit for bit, first: the values of the
// loops in Go.
func sameAsGo(t *testing.T, name string, got, first []float32) {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
			t.Fatalf("%s: value %d = %g, the Go loops give %g", name, i, got[i], first[i])
		}
	}
}

func TestPoolNHWCDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	sets := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		sets = append(sets, kernels.AVX512(kernels.Pool))
	}
	wins := []Window{Square(3, 1, 1), Square(3, 2, 1), Square(2, 2, 0), Square(5, 3, 2), Square(3, 2, 0),
		{KH: 3, KW: 3, StrideH: 1, StrideW: 1, Same: true}, {KH: 3, KW: 3, StrideH: 2, StrideW: 2, Same: true},
		{KH: 2, KW: 4, StrideH: 2, StrideW: 3, Same: true}}
	for _, c := range []int{2, 5, 16, 37, 64, 130} {
		x := randTensor(r, 2, c, 9, 8)
		xn := FromNCHW(nil, x)
		for _, win := range wins {
			for _, kind := range []poolKind{poolMax, poolAvgInclude, poolAvgExclude} {
				want := directPool(x, win, kind)
				var first []float32
				for _, kern := range sets {
					var d NHWC
					pool(&d, xn, win, kind, kern)
					got := d.ToNCHW(nil).Data
					name := fmt.Sprintf("C=%d %+v kind %d %v", c, win, kind, kern)
					closeTo(t, name, got, want, 1e-6)
					if first == nil {
						first = got
						continue
					}
					sameAsGo(t, name, got, first)
				}
			}
		}
	}
	x := FromNCHW(nil, randTensor(r, 1, 37, 4, 4))
	x.Data[(1*4+2)*37+20] = float32(math.NaN()) // y 1, x 2, channel 20
	for _, kern := range sets {
		var d NHWC
		pool(&d, x, Square(2, 2, 0), poolMax, kern)
		for i, v := range d.Data {
			oy, ox, ch := i/37/2, i/37%2, i%37
			if nan := oy == 0 && ox == 1 && ch == 20; nan != math.IsNaN(float64(v)) {
				t.Errorf("%v: max at (%d, %d) channel %d = %g", kern, oy, ox, ch, v)
			}
		}
	}
}
