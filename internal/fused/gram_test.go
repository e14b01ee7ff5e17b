package fused

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGramUpper against the direct float64 sum, on sizes around the panel
// width, with a nonzero starting G that must be added to.
func TestGramUpper(t *testing.T) {
	if !Available {
		t.Skip("no AVX-512 kernel here")
	}
	r := rand.New(rand.NewPCG(5, 5))
	for _, sz := range [][2]int{{1, 1}, {7, 3}, {24, 10}, {25, 33}, {50, 1030}, {130, 70}} {
		d, k := sz[0], sz[1]
		y := make([]float64, d*k)
		for i := range y {
			y[i] = r.NormFloat64()
		}
		g0 := make([]float64, d*d)
		for i := range g0 {
			g0[i] = r.NormFloat64()
		}
		buf := make([]float64, PanelLen(d, k))
		for i := 0; i < d; i++ {
			for j := 0; j < k; j++ {
				buf[PanelIndex(i, j, k)] = y[i*k+j]
			}
		}
		g := append([]float64(nil), g0...)
		GramUpper(buf, d, k, g)
		for i := 0; i < d; i++ {
			for j := i; j < d; j++ {
				want := g0[i*d+j]
				for q := 0; q < k; q++ {
					want += y[i*k+q] * y[j*k+q]
				}
				if math.Abs(g[i*d+j]-want) > 1e-12*float64(k) {
					t.Fatalf("d=%d k=%d G[%d,%d] = %g, want %g", d, k, i, j, g[i*d+j], want)
				}
			}
		}
	}
}

// BenchmarkGramUpper: d = 1536, one image of 784 patches; d^2 k flops
// counted, as for dsyrk.
func BenchmarkGramUpper(b *testing.B) {
	if !Available {
		b.Skip("no AVX-512 kernel here")
	}
	const d, k = 1536, 784
	buf := make([]float64, PanelLen(d, k))
	for i := range buf {
		buf[i] = float64(i%97) / 97
	}
	g := make([]float64, d*d)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		GramUpper(buf, d, k, g)
	}
	b.ReportMetric(float64(d*d*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
