package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crd-ad/crd/internal/kernels"
)

// TestForwardNCHW checks ForwardNCHW against the float64 direct
// convolution and, bit for bit, against Forward of the input converted to
// NHWC, on every kernel path: the AVX-512 kernel that reads the planes in
// place (inception_v3's first convolution and others of 32 or 64 outputs,
// padded ones read from a padded copy such as the ResNets' 7x7 stride 2,
// widths whose rows end in tiles of 12, 4 and 1 pixels) and the
// convolutions that convert the input first (other output counts and
// strides).
func TestForwardNCHW(t *testing.T) {
	kerns := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		kerns = append(kerns, kernels.AVX512(kernels.Conv), kernels.AVX512(kernels.All))
	}
	r := rand.New(rand.NewPCG(21, 22))
	cases := []struct {
		n, cin, cout, h, w int
		win                Window
		planes             bool // read in place on the AVX-512 kernels
	}{
		{2, 3, 32, 37, 41, Square(3, 2, 0), true},
		{1, 3, 32, 11, 299, Square(3, 2, 0), true},
		{2, 3, 32, 30, 29, Square(3, 1, 0), true},
		{1, 4, 32, 20, 23, Window{KH: 2, KW: 3, StrideH: 2, StrideW: 2}, true},
		{2, 3, 32, 17, 19, Square(3, 2, 1), true},
		{1, 3, 64, 45, 38, Square(7, 2, 3), true},
		{2, 2, 64, 13, 16, Window{KH: 3, KW: 3, StrideH: 2, StrideW: 2, Same: true}, true},
		{1, 3, 48, 17, 19, Square(3, 2, 0), false},
		{1, 6, 32, 17, 19, Square(11, 1, 5), false},
		{2, 3, 16, 17, 19, Square(3, 2, 0), false},
		{1, 3, 32, 17, 19, Window{KH: 3, KW: 3, StrideH: 1, StrideW: 2}, false},
	}
	for _, tc := range cases {
		for _, relu := range []bool{false, true} {
			c, oihw := randConvOIHW(r, tc.cin, tc.cout, tc.win)
			c.ReLU = relu
			x := randTensor(r, tc.n, tc.cin, tc.h, tc.w)
			want, _ := directConv(x, oihw, tc.cout, tc.win.KH, tc.win.KW, tc.win, c.Bias)
			if relu {
				for i, v := range want.Data {
					want.Data[i] = max(v, 0)
				}
			}
			for _, kern := range kerns {
				name := fmt.Sprintf("%v %+v %dx%dx%dx%d relu %v", kern, tc.win, tc.n, tc.cin, tc.h, tc.w, relu)
				ws := &Workspace{kern: kern}
				if got := c.readsPlanes(kern, tc.n, c.Apply(tc.h, tc.w)); got != (tc.planes && kern.UsesAVX512(kernels.Conv)) {
					t.Fatalf("%s: reads the planes: %v", name, got)
				}
				var got, conv NHWC
				for i := range 2 { // the second call reuses dst and the scratch
					c.ForwardNCHW(&got, x, ws)
					if i == 0 {
						for j := range got.Data {
							got.Data[j] = float32(math.NaN())
						}
					}
				}
				closeTo(t, name, got.ToNCHW(nil).Data, want.Data, 1e-5)
				c.Forward(&conv, FromNCHW(nil, x), &Workspace{kern: kern})
				if got.N != conv.N || got.H != conv.H || got.W != conv.W || got.C != conv.C {
					t.Fatalf("%s: shape %v, Forward's %v", name, &got, &conv)
				}
				for j, v := range conv.Data {
					if math.Float32bits(got.Data[j]) != math.Float32bits(v) {
						t.Fatalf("%s: value %d = %g, Forward's %g", name, j, got.Data[j], v)
					}
				}
			}
		}
	}
}
