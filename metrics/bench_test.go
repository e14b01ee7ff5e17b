package metrics

import (
	"math/rand/v2"
	"testing"
)

// benchPixelSet holds 40 images of 1000 x 1000 pixels (40 million), with a
// 50 x 50 defect square in every second image and continuous scores.
func benchPixelSet(b *testing.B) *PixelSet {
	b.Helper()
	const n, h, w = 40, 1000, 1000
	rng := rand.New(rand.NewPCG(5, 6))
	var s PixelSet
	s.Grow(n * h * w)
	sc := make([]float32, h*w)
	m := make([]bool, h*w)
	for img := range n {
		clear(m)
		for i := range sc {
			sc[i] = float32(rng.ExpFloat64())
		}
		if img%2 == 1 {
			for y := 400; y < 450; y++ {
				for x := 300; x < 350; x++ {
					m[y*w+x] = true
					sc[y*w+x] += 1.5
				}
			}
		}
		s.Add(sc, m, w)
	}
	return &s
}

// BenchmarkPixelAUROC40M measures sort + sweep of 40 million pixels.
func BenchmarkPixelAUROC40M(b *testing.B) {
	s := benchPixelSet(b)
	for b.Loop() {
		s.sorted = false
		if _, err := s.AUROC(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPixelAUPRO40M measures sort + PRO sweep of 40 million pixels.
func BenchmarkPixelAUPRO40M(b *testing.B) {
	s := benchPixelSet(b)
	for b.Loop() {
		s.sorted = false
		if _, err := s.AUPRO(0.3); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPixelSweep40M measures the AUROC sweep alone, on sorted keys.
func BenchmarkPixelSweep40M(b *testing.B) {
	s := benchPixelSet(b)
	s.sort()
	for b.Loop() {
		if _, err := s.AUROC(); err != nil {
			b.Fatal(err)
		}
	}
}
