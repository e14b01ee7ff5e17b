package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
)

// bf16Sets are the Sets a bf16 convolution runs under here: the
// emulation on BLAS and on the float32 AVX-512 kernel, and the bf16
// kernel where it runs.
func bf16Sets() []kernels.Set {
	sets := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		sets = append(sets, kernels.AVX512(kernels.Conv))
	}
	if kernels.AVX512BF16Supported() {
		sets = append(sets, kernels.AVX512(kernels.Conv|kernels.ConvBF16))
	}
	return sets
}

// TestConvBF16 checks every bf16 path (the emulation, and the bf16 kernel
// where it runs) against the direct formula in float64 on the
// bf16-rounded input and weights, on im2col convolutions (one with an odd
// inner dimension, 3 x 3 x 3, one cut into many blocks), a 1x1 one, with a
// residual and at a channel offset; the kernel and the emulation agree to
// the same tolerance, and both differ from the float32 convolution by more
// than it (the rounding is there).
func TestConvBF16(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(31, 32))
	for _, tc := range []struct {
		cin, cout, h, w int
		win             Window
	}{
		{3, 20, 17, 15, Square(3, 2, 1)},
		{24, 40, 30, 29, Square(3, 1, 1)},
		{7, 5, 11, 9, Square(1, 1, 0)},
		{33, 70, 9, 10, Window{KH: 1, KW: 7, StrideH: 1, StrideW: 1, Same: true}},
	} {
		x := randTensor(r, 2, tc.cin, tc.h, tc.w)
		c := NewConv2D(tc.cin, tc.cout, tc.win)
		w := randTensor(r, tc.cout, tc.cin, tc.win.KH, tc.win.KW).Data
		c.SetWeightsOIHW(w)
		copy(c.Bias, randTensor(r, 1, tc.cout, 1, 1).Data)
		var f32 NHWC
		c.Forward(&f32, FromNCHW(nil, x), nil)

		xr := NewTensor(x.N, x.C, x.H, x.W)
		roundBF16(xr.Data, x.Data)
		wr := make([]float32, len(w))
		roundBF16(wr, w)
		want, _ := directConv(xr, wr, tc.cout, tc.win.KH, tc.win.KW, tc.win, c.Bias)
		res := randTensor(r, want.N, want.C, want.H, want.W)
		sum := make([]float32, want.Len())
		for i := range sum {
			sum[i] = want.Data[i] + res.Data[i]
		}
		c.SetPrecision(BF16)
		if c.Precision() != BF16 {
			t.Fatal("SetPrecision(BF16) did not hold")
		}
		var outs [][]float32
		for _, kern := range bf16Sets() {
			name := fmt.Sprintf("%d->%d %+v %v", tc.cin, tc.cout, tc.win, kern)
			ws := Workspace{kern: kern}
			var out NHWC
			c.Forward(&out, FromNCHW(nil, x), &ws)
			got := out.ToNCHW(nil).Data
			closeTo(t, name, got, want.Data, 1e-5)
			outs = append(outs, got)
			c.ForwardAdd(&out, FromNCHW(nil, x), FromNCHW(nil, res), &ws)
			closeTo(t, name+" residual", out.ToNCHW(nil).Data, sum, 1e-5)
			wide := &NHWC{}
			wide.Reshape(want.N, want.H, want.W, tc.cout+4)
			c.ForwardAt(wide, 3, FromNCHW(nil, x), &ws)
			wn := wide.ToNCHW(nil)
			hw := want.H * want.W
			for n := 0; n < want.N; n++ {
				closeTo(t, name+" ForwardAt", wn.Data[(n*wide.C+3)*hw:(n*wide.C+3+tc.cout)*hw], want.Data[n*tc.cout*hw:(n+1)*tc.cout*hw], 1e-5)
			}
		}
		for i := 1; i < len(outs); i++ {
			closeTo(t, fmt.Sprintf("%d->%d path %d vs the emulation", tc.cin, tc.cout, i), outs[i], outs[0], 1e-5)
		}
		var maxAbs, maxDiff float64
		f := f32.ToNCHW(nil).Data
		for i := range f {
			maxAbs = math.Max(maxAbs, math.Abs(float64(f[i])))
			maxDiff = math.Max(maxDiff, math.Abs(float64(f[i]-outs[0][i])))
		}
		if maxDiff <= 1e-4*maxAbs {
			t.Errorf("%d->%d: bf16 within %g of float32 (max %g): not rounded", tc.cin, tc.cout, maxDiff, maxAbs)
		}
		c.SetPrecision(Float32)
		var back NHWC
		c.Forward(&back, FromNCHW(nil, x), nil)
		for i := range back.Data {
			if math.Float32bits(back.Data[i]) != math.Float32bits(f32.Data[i]) {
				t.Fatalf("%d->%d: float32 again: value %d = %g, was %g", tc.cin, tc.cout, i, back.Data[i], f32.Data[i])
			}
		}
	}
}

// TestPrecisionNames: the names round trip and others are errors.
func TestPrecisionNames(t *testing.T) {
	for _, p := range []Precision{Float32, BF16} {
		if q, err := ParsePrecision(p.String()); err != nil || q != p {
			t.Errorf("ParsePrecision(%q) = %v, %v", p, q, err)
		}
	}
	for _, s := range []string{"", "fp16", "BF16", "float64"} {
		if _, err := ParsePrecision(s); err == nil {
			t.Errorf("ParsePrecision(%q) gave no error", s)
		}
	}
	if avx512.RoundBF16(1.00390625) != 1 {
		t.Error("RoundBF16 does not round")
	}
}
