package avx512

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGramUpper against the direct float64 sum, on sizes around the panel
// width, with a nonzero starting G that must be added to.
func TestGramUpper(t *testing.T) {
	if !Supported() {
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
	if !Supported() {
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

// TestPackPanel: every value lands at PanelIndex, padding is zero and the
// feature sums match a direct float64 sum, for full and partial panels and
// patch counts that are and are not multiples of the kernel's block of 8.
func TestPackPanel(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, sz := range [][2]int{{24, 8}, {24, 13}, {48, 784}, {30, 5}, {7, 1}, {50, 33}} {
		d, k := sz[0], sz[1]
		y := make([]float32, d*k)
		for i := range y {
			y[i] = float32(r.NormFloat64())
		}
		buf := make([]float64, PanelLen(d, k))
		for i := range buf {
			buf[i] = math.NaN() // everything must be overwritten
		}
		sum := make([]float64, d)
		for i := range sum {
			sum[i] = float64(i) // and the sums added to
		}
		for q := 0; q < (d+GN-1)/GN; q++ {
			PackPanel(buf, y, d, k, q, sum)
		}
		want := make([]float64, len(buf))
		for i := 0; i < d; i++ {
			s := float64(i)
			for j := 0; j < k; j++ {
				want[PanelIndex(i, j, k)] = float64(y[i*k+j])
				s += float64(y[i*k+j])
			}
			if math.Abs(sum[i]-s) > 1e-12*float64(k) {
				t.Fatalf("d=%d k=%d: sum[%d] = %g, want %g", d, k, i, sum[i], s)
			}
		}
		for i, v := range buf {
			if v != want[i] {
				t.Fatalf("d=%d k=%d: buf[%d] = %g, want %g", d, k, i, v, want[i])
			}
		}
	}
}
