package avx512

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randMat(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 3))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func upperOf(m []float32, d int) []float32 {
	u := append([]float32(nil), m...)
	for i := 0; i < d; i++ {
		clear(u[i*d : i*d+i])
	}
	return u
}

// reference computes ||T y_j||^2 directly in float64.
func reference(m, y []float32, d, p int) []float64 {
	norms := make([]float64, p)
	for j := 0; j < p; j++ {
		for i := 0; i < d; i++ {
			var z float64
			for k := 0; k < d; k++ {
				z += float64(m[i*d+k]) * float64(y[k*p+j])
			}
			norms[j] += z * z
		}
	}
	return norms
}

// TestAgainstFloat64: dense and upper-triangular T, shapes that are and
// are not multiples of the 12 x 32 tile and of the 256-long inner blocks,
// one and several cores, against the direct float64 formula.
func TestAgainstFloat64(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	for _, sz := range [][2]int{{1, 1}, {12, 32}, {13, 33}, {50, 45}, {97, 16}, {260, 300}, {530, 70}} {
		d, p := sz[0], sz[1]
		for _, upper := range []bool{false, true} {
			m, y := randMat(d*d, uint64(d)), randMat(d*p, uint64(p)+100)
			if upper {
				m = upperOf(m, d)
			}
			want := reference(m, y, d, p)
			n := make([]float32, p+1)
			n[p] = 7 // past the end: untouched
			Pack(m, d, upper).Norms(y, p, n)
			tol := math.Sqrt(float64(d)) * 1e-6
			for j := 0; j < p; j++ {
				if e := math.Abs(float64(n[j])-want[j]) / want[j]; e > tol {
					t.Fatalf("d=%d p=%d upper=%v col %d: norm %g, float64 %g (rel %.2g)", d, p, upper, j, n[j], want[j], e)
				}
			}
			if n[p] != 7 {
				t.Fatalf("d=%d p=%d: wrote past p", d, p)
			}
		}
	}
}

func TestPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("wrong sizes did not panic")
		}
	}()
	pk := Pack(make([]float32, 4), 2, false)
	pk.Norms(make([]float32, 5), 2, make([]float32, 2))
}

// BenchmarkNorms is the CRD production shape, d = 1536, p = 784, for a
// dense T and an upper-triangular one. Both report 2 d^2 p flops per call,
// the dense product's count, so the triangular figure is an effective rate.
func BenchmarkNorms(b *testing.B) {
	if !Supported() {
		b.Skip("no AVX-512 kernel here")
	}
	const d, p = 1536, 784
	for _, upper := range []bool{false, true} {
		name := "dense"
		if upper {
			name = "upper"
		}
		b.Run(name, func(b *testing.B) {
			m := randMat(d*d, 1)
			if upper {
				m = upperOf(m, d)
			}
			pk := Pack(m, d, upper)
			y := randMat(d*p, 2)
			out := make([]float32, p)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pk.Norms(y, p, out)
			}
			b.ReportMetric(2*d*d*p*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
