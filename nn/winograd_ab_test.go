package nn

import (
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crd-ad/crd/internal/kernels"
)

// TestWinogradAB times, interleaved in one process (7 rounds, medians), the
// direct AVX-512 path, F(2x2, 3x3) and F(4x4, 3x3) on the trunks' 3x3
// stride-1 layer shapes, and the direct path, F(2x2, 5x5) and F(3x3, 5x5)
// on 5x5 ones (names starting k5_: Inception's, and others around the
// crossovers), and prints the same-round speedups: the measurements behind
// winoF4, winoColMaxTiles, wino5MinCallTiles and wino35MaxWeights. It runs
// only with CRD_WINO_AB set (a comma-separated list of shape-name prefixes,
// or "all"); it asserts nothing.
//
//	CRD_WINO_AB=all go test -run TestWinogradAB -v ./nn
func TestWinogradAB(t *testing.T) {
	filter := os.Getenv("CRD_WINO_AB")
	if filter == "" || !kernels.AVX512Supported() {
		t.Skip("set CRD_WINO_AB (on a CPU with AVX-512) to time the Winograd variants")
	}
	type shape struct {
		name               string
		n, h, w, cin, cout int
		pad                int
	}
	shapes := []shape{
		{"wrn1_b1", 1, 56, 56, 128, 128, 1}, {"wrn2_b1", 1, 28, 28, 256, 256, 1}, {"wrn3_b1", 1, 14, 14, 512, 512, 1}, {"wrn4_b1", 1, 7, 7, 1024, 1024, 1},
		{"wrn1_b8", 8, 56, 56, 128, 128, 1}, {"wrn2_b8", 8, 28, 28, 256, 256, 1}, {"wrn3_b8", 8, 14, 14, 512, 512, 1}, {"wrn4_b8", 8, 7, 7, 1024, 1024, 1},
		{"r18_1_b8", 8, 56, 56, 64, 64, 1}, {"r18_2_b8", 8, 28, 28, 128, 128, 1}, {"r18_3_b8", 8, 14, 14, 256, 256, 1}, {"r18_4_b8", 8, 7, 7, 512, 512, 1},
		{"r18_1_b1", 1, 56, 56, 64, 64, 1}, {"r18_3_b1", 1, 14, 14, 256, 256, 1}, {"inc8_448_384_b8", 8, 8, 8, 448, 384, 1}, {"r18_4_b1", 1, 7, 7, 512, 512, 1},
		{"inc149_32_32_b1", 1, 149, 149, 32, 32, 0}, {"inc147_32_64_b1", 1, 147, 147, 32, 64, 1}, {"inc73_80_192_b1", 1, 73, 73, 80, 192, 0},
		{"inc35_64_96_b1", 1, 35, 35, 64, 96, 1}, {"inc35_96_96_b1", 1, 35, 35, 96, 96, 1}, {"inc8_448_384_b1", 1, 8, 8, 448, 384, 1},
		{"inc35_64_96_b8", 8, 35, 35, 64, 96, 1}, {"inc147_32_64_b8", 8, 147, 147, 32, 64, 1},
		// 5x5 (padding 2): Inception's, then wider and smaller maps.
		{"k5_inc35_48_64_b1", 1, 35, 35, 48, 64, 2}, {"k5_inc35_48_64_b8", 8, 35, 35, 48, 64, 2},
		{"k5_35_32_32_b1", 1, 35, 35, 32, 32, 2}, {"k5_35_128_128_b1", 1, 35, 35, 128, 128, 2},
		{"k5_17_128_128_b1", 1, 17, 17, 128, 128, 2}, {"k5_17_256_256_b1", 1, 17, 17, 256, 256, 2},
		{"k5_17_256_256_b8", 8, 17, 17, 256, 256, 2}, {"k5_14_512_512_b1", 1, 14, 14, 512, 512, 2},
		{"k5_8_48_64_b1", 1, 8, 8, 48, 64, 2}, {"k5_8_48_64_b8", 8, 8, 8, 48, 64, 2},
		{"k5_7_512_512_b1", 1, 7, 7, 512, 512, 2}, {"k5_4_64_64_b1", 1, 4, 4, 64, 64, 2}, {"k5_4_32_32_b1", 1, 4, 4, 32, 32, 2},
		{"k5_10_256_256_b1", 1, 10, 10, 256, 256, 2}, {"k5_12_512_512_b1", 1, 12, 12, 512, 512, 2},
		{"k5_35_64_64_b1", 1, 35, 35, 64, 64, 2}, {"k5_35_96_96_b1", 1, 35, 35, 96, 96, 2}, {"k5_17_64_64_b1", 1, 17, 17, 64, 64, 2},
		{"k5_35_16_32_b1", 1, 35, 35, 16, 32, 2}, {"k5_35_32_16_b1", 1, 35, 35, 32, 16, 2}, {"k5_35_24_24_b1", 1, 35, 35, 24, 24, 2},
	}
	if filter != "all" {
		var keep []shape
		for _, s := range shapes {
			for _, p := range strings.Split(filter, ",") {
				if p != "" && strings.HasPrefix(s.name, p) {
					keep = append(keep, s)
					break
				}
			}
		}
		shapes = keep
	}
	for _, s := range shapes {
		r := rand.New(rand.NewPCG(1, 2))
		x := FromNCHW(nil, randTensor(r, s.n, s.cin, s.h, s.w))
		k, f2 := 3, 4 // kernel side; the second variant (F(4x4, 3x3), or F(3x3, 5x5))
		if strings.HasPrefix(s.name, "k5_") {
			k, f2 = 5, 3
		}
		c := NewConv2D(s.cin, s.cout, Square(k, 1, s.pad))
		for i := range c.Weight {
			c.Weight[i] = float32(r.NormFloat64())
		}
		c.ReLU = true
		wa := &Workspace{kern: kernels.AVX512(kernels.All &^ kernels.Winograd)}
		out := &NHWC{}
		c.Forward(out, x, wa)
		flops := 2 * float64(s.n) * float64(c.MACs(s.h, s.w))
		reps := max(3, int(2e9/flops))
		g := c.Apply(s.h, s.w)
		ws2 := &Workspace{kern: kernels.AVX512(kernels.All)}
		ws4 := &Workspace{kern: kernels.AVX512(kernels.All)}
		out.Reshape(s.n, g.OutH, g.OutW, s.cout)
		c.runWinograd(out, 0, x, nil, g, 2, ws2)
		c.runWinograd(out, 0, x, nil, g, f2, ws4)
		var ta, t2, t4, r2, r4 []float64
		for range 7 {
			t0 := time.Now()
			for range reps {
				c.Forward(out, x, wa)
			}
			a := time.Since(t0).Seconds() / float64(reps)
			t0 = time.Now()
			for range reps {
				c.runWinograd(out, 0, x, nil, g, 2, ws2)
			}
			b2 := time.Since(t0).Seconds() / float64(reps)
			t0 = time.Now()
			for range reps {
				c.runWinograd(out, 0, x, nil, g, f2, ws4)
			}
			b4 := time.Since(t0).Seconds() / float64(reps)
			ta, t2, t4 = append(ta, a), append(t2, b2), append(t4, b4)
			r2, r4 = append(r2, a/b2), append(r4, a/b4)
		}
		if k == 5 {
			t.Logf("%-18s direct %7.3f ms (%4.0f GF/s)  F(2x2, 5x5) %7.3f ms  F(3x3, 5x5) %7.3f ms  speedup F2 %.2f F3 %.2f  F3/F2 %.2f", s.name, med(ta)*1e3, flops/med(ta)/1e9, med(t2)*1e3, med(t4)*1e3, med(r2), med(r4), med(r4)/med(r2))
			continue
		}
		t.Logf("%-18s direct %7.3f ms (%4.0f GF/s)  F2 %7.3f ms  F4 %7.3f ms  speedup F2 %.2f F4 %.2f  F4/F2 %.2f", s.name, med(ta)*1e3, flops/med(ta)/1e9, med(t2)*1e3, med(t4)*1e3, med(r2), med(r4), med(r4)/med(r2))
	}
}

// med is the median of v.
func med(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
