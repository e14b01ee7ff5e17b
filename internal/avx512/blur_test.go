package avx512

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBlurSum: BlurSum gives its doc's loop in Go bit for bit, on output
// lengths with and without tails of the 64- and 16-wide blocks and rows
// anywhere in src, and is within float32 rounding of the sum in float64.
func TestBlurSum(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 here")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][2]int{{1, 1}, {3, 5}, {33, 299}, {33, 64}, {9, 17}, {33, 130}, {5, 1}} {
		taps, n := s[0], s[1]
		r := taps / 2
		g := randMat(taps, uint64(taps))
		src := randMat(n*(taps+3), uint64(n+7))
		lo, hi := make([]int64, r+1), make([]int64, r+1)
		for k := range lo {
			lo[k], hi[k] = rng.Int64N(int64(len(src)-n+1)), rng.Int64N(int64(len(src)-n+1))
		}
		out := make([]float32, n)
		BlurSum(src, lo, hi, g, out)
		for x := range out {
			s := g[r] * src[lo[0]+int64(x)]
			ref := float64(g[r]) * float64(src[lo[0]+int64(x)])
			abs := math.Abs(ref)
			for k := 1; k <= r; k++ {
				s += float32(g[r+k] * (src[lo[k]+int64(x)] + src[hi[k]+int64(x)]))
				term := float64(g[r+k]) * (float64(src[lo[k]+int64(x)]) + float64(src[hi[k]+int64(x)]))
				ref += term
				abs += math.Abs(term)
			}
			if math.Float32bits(out[x]) != math.Float32bits(s) {
				t.Fatalf("%d taps, %d outputs: out[%d] = %g, the loop gives %g", taps, n, x, out[x], s)
			}
			if d := math.Abs(float64(out[x]) - ref); d > float64(taps)*1e-7*abs {
				t.Fatalf("%d taps, %d outputs: out[%d] = %g, float64 %g", taps, n, x, out[x], ref)
			}
		}
	}
	for _, f := range []func(){
		func() { BlurSum(make([]float32, 10), []int64{0}, []int64{0}, make([]float32, 2), make([]float32, 2)) },
		func() { BlurSum(make([]float32, 10), []int64{0}, []int64{0}, make([]float32, 3), make([]float32, 2)) },
		func() {
			BlurSum(make([]float32, 10), []int64{0, 9}, []int64{0, 0}, make([]float32, 3), make([]float32, 2))
		},
		func() {
			BlurSum(make([]float32, 10), []int64{0, 0}, []int64{0, -1}, make([]float32, 3), make([]float32, 2))
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic on a bad shape")
				}
			}()
			f()
		}()
	}
}
