package metrics

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// BenchmarkSortFloat32s sorts two million map-like values (positive,
// skewed) with SortFloat32s and with slices.Sort.
func BenchmarkSortFloat32s(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, 2_000_000)
	for i := range src {
		src[i] = float32(rng.ExpFloat64())
	}
	v := make([]float32, len(src))
	for _, s := range []struct {
		name string
		sort func([]float32)
	}{{"radix", SortFloat32s}, {"slices", slices.Sort[[]float32]}} {
		b.Run(s.name, func(b *testing.B) {
			for b.Loop() {
				copy(v, src)
				s.sort(v)
			}
		})
	}
}
