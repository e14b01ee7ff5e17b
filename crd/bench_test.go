package crd

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/crd-ad/crd/internal/blas"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/internal/peak"
	"github.com/crd-ad/crd/nn"
)

// The production shape: WideResNet50 layer2+layer3 features (d = 1536) on a
// 28 x 28 grid (P = 784).
const benchD, benchP = 1536, 784

func randF32(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func gflops(b *testing.B, flopsPerOp float64) {
	b.ReportMetric(flopsPerOp*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// benchModel is a solved model at the production shape (its M is what
// matters for timing, not its quality).
func benchModel(b *testing.B) *Model {
	b.Helper()
	a := NewAccumulator(benchD)
	a.Add(randF32(benchD*benchP, 1), benchP)
	a.Add(randF32(benchD*benchP, 2), benchP)
	m, err := a.Solve(DefaultSolveOptions())
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkScore scores one image as Score does: with the AVX-512 kernel on
// the triangular factor where it runs (d^2 P multiply-adds), else the GEMM.
// Either way the rate counts the dense product's 2 d^2 P flops, so it is an
// effective rate, comparable with BenchmarkScoreGEMM and BenchmarkSgemm.
func BenchmarkScore(b *testing.B) {
	m := benchModel(b)
	benchScore(b, m.Score)
}

// benchScore times score on one random image at the production shape.
func benchScore(b *testing.B, score func(y []float32, p int, out []float32)) {
	y := randF32(benchD*benchP, 3)
	out := make([]float32, benchP)
	score(y, benchP, out)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		score(y, benchP, out)
	}
	gflops(b, 2*benchD*benchD*benchP)
}

// BenchmarkScoreGEMM scores through the dense product M Y (sgemm) plus
// column norms, 2 d^2 P flops: the path without the AVX-512 kernel.
func BenchmarkScoreGEMM(b *testing.B) {
	m := benchModel(b)
	benchScore(b, m.scoreGEMM)
}

// BenchmarkSgemm is the raw dense GEMM of BenchmarkScoreGEMM: the baseline.
func BenchmarkSgemm(b *testing.B) {
	a := randF32(benchD*benchD, 4)
	y := randF32(benchD*benchP, 5)
	z := make([]float32, benchD*benchP)
	blas.Sgemm(false, false, benchD, benchP, benchD, 1, a, benchD, y, benchP, 0, z, benchP)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		blas.Sgemm(false, false, benchD, benchP, benchD, 1, a, benchD, y, benchP, 0, z, benchP)
	}
	gflops(b, 2*benchD*benchD*benchP)
}

// BenchmarkGramUpdate adds one image to an accumulator: float32 to float64
// conversion plus the Gram kernel, d^2 P flops counted. The sub-benchmarks
// force each path: the AVX-512 kernel (where it runs) and dsyrk.
func BenchmarkGramUpdate(b *testing.B) {
	for _, path := range []struct {
		name   string
		avx512 bool
	}{{"avx512", true}, {"dsyrk", false}} {
		b.Run(path.name, func(b *testing.B) {
			kern := kernels.BLAS()
			if path.avx512 {
				if !kernels.AVX512Supported() {
					b.Skip("no AVX-512 kernel here")
				}
				kern = kernels.AVX512(kernels.Gram)
			}
			a := NewAccumulator(benchD)
			a.kern = kern
			y := randF32(benchD*benchP, 6)
			a.Add(y, benchP)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a.Add(y, benchP)
			}
			gflops(b, benchD*benchD*benchP)
		})
	}
}

// BenchmarkGramUpdateBatch8 adds eight images per AddBatch call (one dsyrk
// with k = 8 P); flops are counted per image, like BenchmarkGramUpdate.
func BenchmarkGramUpdateBatch8(b *testing.B) {
	const n = 8
	a := NewAccumulator(benchD)
	y := randF32(n*benchD*benchP, 6)
	a.AddBatch(y, n, benchP)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.AddBatch(y, n, benchP)
	}
	gflops(b, n*benchD*benchD*benchP)
}

// BenchmarkPeak64 is the float64 FMA peak of all cores (GOMAXPROCS
// threads of a register-only loop): the baseline for the Gram benchmarks,
// measured in the same run because the absolute rates of a shared machine
// drift. Flops are counted in units of one Gram update, so ns/op compare
// directly.
func BenchmarkPeak64(b *testing.B) {
	if !kernels.AVX512Supported() {
		b.Skip("no AVX-512 kernel here")
	}
	per := benchD * benchD * benchP / runtime.GOMAXPROCS(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				peak.Flops(per)
			}()
		}
		wg.Wait()
	}
	gflops(b, benchD*benchD*benchP)
}

// BenchmarkDsyrk is the raw dsyrk of BenchmarkGramUpdate: its baseline.
func BenchmarkDsyrk(b *testing.B) {
	y := randF32(benchD*benchP, 7)
	y64 := make([]float64, len(y))
	for i, v := range y {
		y64[i] = float64(v)
	}
	g := make([]float64, benchD*benchD)
	blas.Dsyrk(benchD, benchP, 1, y64, benchP, 1, g, benchD)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		blas.Dsyrk(benchD, benchP, 1, y64, benchP, 1, g, benchD)
	}
	gflops(b, benchD*benchD*benchP)
}

// BenchmarkSolve is one Cholesky solve at d = 1536 (about d^3 flops).
func BenchmarkSolve(b *testing.B) {
	a := NewAccumulator(benchD)
	a.Add(randF32(benchD*benchP, 8), benchP)
	a.Add(randF32(benchD*benchP, 9), benchP)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := a.Solve(DefaultSolveOptions()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScoreLayers compares, per image, Score of the concatenated
// features (resized to the grid beforehand, as the embedding did) with
// ScoreLayers of the pooled layers, on inception_v3's layers (mixed2 288 x
// 35 x 35, mixed5 768 x 17 x 17) and wide_resnet50_2's (512 x 28 x 28,
// 1024 x 14 x 14), on the detected kernels and on BLAS.
func BenchmarkScoreLayers(b *testing.B) {
	for _, bb := range []struct {
		name   string
		shapes []layerShape
	}{
		{"inception_v3", []layerShape{{288, 35, 35}, {768, 17, 17}}},
		{"wide_resnet50_2", []layerShape{{512, 28, 28}, {1024, 14, 14}}},
	} {
		d := 0
		for _, s := range bb.shapes {
			d += s.c
		}
		var layers []*nn.Tensor
		for l, s := range bb.shapes {
			layers = append(layers, &nn.Tensor{N: 1, C: s.c, H: s.h, W: s.w, Data: randF32(s.c*s.h*s.w, uint64(l+10))})
		}
		h, w := bb.shapes[0].h, bb.shapes[0].w
		p := h * w
		a := NewAccumulator(d)
		for k := 0; k < 2; k++ {
			f := make([]float32, d*p)
			concatLayers(f, toNHWC(testLayers(bb.shapes, uint64(k))), h, w, &nn.NHWC{})
			a.Add(f, p)
		}
		m, err := a.Solve(DefaultSolveOptions())
		if err != nil {
			b.Fatal(err)
		}
		y := make([]float32, d*p)
		concatLayers(y, toNHWC(layers), h, w, &nn.NHWC{})
		out := make([]float32, p)
		kerns := map[string]kernels.Set{"detected": kernels.Detected(), "blas": kernels.BLAS()}
		for kn, kern := range kerns {
			m.kern = kern
			m.factorDone = false
			b.Run(bb.name+"/"+kn+"/concat", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					m.Score(y, p, out)
				}
			})
			b.Run(bb.name+"/"+kn+"/layers", func(b *testing.B) {
				nl := toNHWC(layers)
				for i := 0; i < b.N; i++ {
					m.ScoreLayers(nl, out)
				}
			})
		}
	}
}
