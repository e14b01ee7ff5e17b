package knn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/crd-ad/crd/internal/blas"
)

// Realistic sizes: WideResNet50 layer2+layer3 features at 224 input.
const benchD, benchP = 1536, 784

// BenchmarkScore scores one image against banks of 10k and 100k rows, at
// the feature shapes of wide_resnet50_2 (d = 1536 on 28 x 28) and of the
// default inception_v3 (d = 1056 on 35 x 35), and, in the same run, times
// OpenBLAS's raw sgemm of the same product (M x p x d) for comparison.
func BenchmarkScore(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, sh := range []struct {
		name string
		d, p int
	}{{"wrn", benchD, benchP}, {"inception", 1056, 1225}} {
		y := randFeatures(r, sh.d*sh.p, 0, true)
		for _, m := range []int{10_000, 100_000} {
			bank := randFeatures(r, m*sh.d, 0, true)
			model := NewModel(sh.d, bank)
			flops := 2 * float64(m) * float64(sh.d) * float64(sh.p)
			b.Run(fmt.Sprintf("%s/M=%d/knn", sh.name, m), func(b *testing.B) {
				out := make([]float32, sh.p)
				model.Score(y, sh.p, out)
				for b.Loop() {
					model.Score(y, sh.p, out)
				}
				report(b, flops)
			})
			b.Run(fmt.Sprintf("%s/M=%d/openblas", sh.name, m), func(b *testing.B) {
				c := make([]float32, m*sh.p)
				for b.Loop() {
					blas.Sgemm(false, false, m, sh.p, sh.d, -2, bank, sh.d, y, sh.p, 0, c, sh.p)
				}
				report(b, flops)
			})
		}
	}
}

// BenchmarkScoreChunk varies the GEMM block size of Score at M = 10k.
func BenchmarkScoreChunk(b *testing.B) {
	defer func(s int) { scratchBytes = s }(scratchBytes)
	r := rand.New(rand.NewPCG(1, 1))
	y := randFeatures(r, benchD*benchP, 0, true)
	const m = 10_000
	model := NewModel(benchD, randFeatures(r, m*benchD, 0, true))
	out := make([]float32, benchP)
	for _, kb := range []int{512, 2048, 8192, 32768} {
		b.Run(fmt.Sprintf("scratch=%dKiB", kb), func(b *testing.B) {
			scratchBytes = kb << 10
			model.Score(y, benchP, out)
			for b.Loop() {
				model.Score(y, benchP, out)
			}
			report(b, 2*float64(m)*benchD*benchP)
		})
	}
}

func report(b *testing.B, flops float64) {
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(sec*1e3, "ms/image")
	b.ReportMetric(flops/sec/1e9, "GFLOP/s")
}

// BenchmarkCoreset is the whole selection of a 1% coreset from N = 100k
// patches of dimension 1536: the projection to 128 dimensions and the greedy
// k-center.
func BenchmarkCoreset(b *testing.B) {
	const n = 100_000
	bank := randFeatures(rand.New(rand.NewPCG(2, 2)), n*benchD, 0, true)
	for b.Loop() {
		if _, err := Coreset(context.Background(), bank, n, benchD, CoresetOptions{Ratio: 0.01, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/coreset")
}

// BenchmarkProject is the Gaussian projection alone, N = 100k rows.
func BenchmarkProject(b *testing.B) {
	const n = 100_000
	bank := randFeatures(rand.New(rand.NewPCG(2, 2)), n*benchD, 0, true)
	for b.Loop() {
		if _, err := Project(context.Background(), bank, n, benchD, DefaultProjectionDims, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
}

// BenchmarkGreedy is the greedy selection alone (no projection) of a 1%
// coreset in 128 dimensions, on N Gaussian points (the worst case for the
// triangle-inequality pruning) and on N points in a few tight clusters. It
// reports the seconds per coreset and the fraction of the N*M point-to-centre
// distances that were actually computed.
func BenchmarkGreedy(b *testing.B) {
	const k = DefaultProjectionDims
	for _, n := range []int{100_000, 300_000} {
		for _, data := range []string{"gaussian", "clustered"} {
			b.Run(fmt.Sprintf("N=%d/%s", n, data), func(b *testing.B) {
				r := rand.New(rand.NewPCG(3, 3))
				var x []float32
				if data == "gaussian" {
					x = randFeatures(r, n*k, 0, false)
				} else {
					x = clusteredBank(r, n, k)
				}
				m := n / 100
				var frac float64
				for b.Loop() {
					g := newSweeper(x, n, k, m, max(1, min(runtimeProcs(), n/minRowsPerWorker)))
					g.sel = append(g.sel, 0)
					for len(g.sel) < m {
						_, arg := g.sweep()
						g.minD[arg] = 0
						g.sel = append(g.sel, arg)
					}
					frac = float64(g.evals()) / float64(n) / float64(m-1)
				}
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/coreset")
				b.ReportMetric(frac, "evals/(N*M)")
			})
		}
	}
}
