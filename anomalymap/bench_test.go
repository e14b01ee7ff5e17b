package anomalymap

import (
	"math/rand/v2"
	"testing"
)

func randomGrid(n int) []float32 {
	rng := rand.New(rand.NewPCG(9, 9))
	g := make([]float32, n)
	for i := range g {
		g[i] = float32(rng.Float64())
	}
	return g
}

// BenchmarkMap224 is the product's map: a 28 x 28 grid to 224 x 224, sigma 4.
func BenchmarkMap224(b *testing.B) {
	grid := randomGrid(28 * 28)
	g := NewGenerator(224, 224, DefaultOptions())
	dst := make([]float32, 224*224)
	for b.Loop() {
		dst = g.Map(dst, grid28(grid)).Pix
	}
}

// BenchmarkMap1024 is a 28 x 28 grid to a full-resolution 1024 x 1024 map.
func BenchmarkMap1024(b *testing.B) {
	grid := randomGrid(28 * 28)
	g := NewGenerator(1024, 1024, DefaultOptions())
	dst := make([]float32, 1024*1024)
	for b.Loop() {
		dst = g.Map(dst, grid28(grid)).Pix
	}
}

// BenchmarkBlur blurs a 299 x 299 map (sigma 4: crd predict's blur of an
// inception_v3 image) with the sums in Go and, where it runs, on the
// AVX-512 kernel.
func BenchmarkBlur(b *testing.B) {
	m := Map{Pix: randomGrid(299 * 299), W: 299, H: 299}
	for i, kern := range blurSets() {
		b.Run([]string{"go", "avx512"}[i], func(b *testing.B) {
			bl, dst := NewBlurKernels(4, Reflect, kern), make([]float32, len(m.Pix))
			for b.Loop() {
				bl.Apply(dst, m)
			}
		})
	}
}

// grid28 wraps a 28 x 28 grid's values.
func grid28(pix []float32) Map { return Map{Pix: pix, W: 28, H: 28} }
