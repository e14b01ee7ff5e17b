package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
)

// TestConvBlocks: the AVX-512 block path gives the values of one GEMM over
// all the output pixels (im2col, avx512.Sgemm, bias and ReLU) bit for bit,
// on several cores or one, for convolutions cut into many blocks, with a
// residual and written at a channel offset.
func TestConvBlocks(t *testing.T) {
	if !kernels.AVX512Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	r := rand.New(rand.NewPCG(21, 22))
	x := FromNCHW(nil, randTensor(r, 2, 24, 30, 29))
	for _, win := range []Window{Square(3, 1, 1), {KH: 3, KW: 3, StrideH: 2, StrideW: 2, Same: true}, Square(1, 1, 0), Square(3, 1, 0)} {
		c := NewConv2D(24, 40, win)
		for i := range c.Weight {
			c.Weight[i] = float32(r.NormFloat64())
		}
		for i := range c.Bias {
			c.Bias[i] = float32(r.NormFloat64())
		}
		c.ReLU = true
		g := c.Apply(x.H, x.W)
		rows := x.N * g.OutH * g.OutW
		if br := blockRows(rows, c.K(), c.Cout, 2); rows < 3*br {
			t.Fatalf("%+v: %d pixels make fewer than 3 blocks of %d", win, rows, br)
		}
		res := FromNCHW(nil, randTensor(r, x.N, c.Cout, g.OutH, g.OutW))

		// The reference: one GEMM, then the epilogue, into channels
		// [3, 3+Cout) of a wider map.
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
			copyResidual(got, 3, res, 0, rows)
			ws := Workspace{kern: kernels.AVX512(kernels.Conv)}
			c.run(got, 3, x, got, &ws)
			runtime.GOMAXPROCS(prev)
			name := fmt.Sprintf("%+v GOMAXPROCS %d", win, procs)
			for i := range got.Data {
				if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
					t.Fatalf("%s: value %d = %g, one GEMM gives %g", name, i, got.Data[i], want.Data[i])
				}
			}
		}
	}
}
