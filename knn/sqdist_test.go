package knn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSqDist checks the distance kernel (the assembly one on amd64) against a
// float64 sum, for lengths around the 32-element blocks.
func TestSqDist(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{1, 7, 31, 32, 33, 64, 100, 128, 129, 300} {
		a := randFeatures(r, n, 0.5, false)
		b := randFeatures(r, n+3, -0.5, false) // longer b is allowed
		var want float64
		for i := range a {
			d := float64(a[i]) - float64(b[i])
			want += d * d
		}
		got := float64(sqDist(a, b))
		if math.Abs(got-want) > 1e-5*want {
			t.Errorf("n=%d: sqDist %.8g, float64 %.8g", n, got, want)
		}
		if g := float64(sqDistGeneric(a, b)); math.Abs(g-want) > 1e-5*want {
			t.Errorf("n=%d: sqDistGeneric %.8g, float64 %.8g", n, g, want)
		}
	}
}
