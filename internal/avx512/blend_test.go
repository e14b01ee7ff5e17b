package avx512

import (
	"math"
	"math/rand/v2"
	"testing"
)

// blendRef is Blend's doc loop in Go, with math.Round.
func blendRef(r, g, b, m []float32, lo, hi, keep float64, heat *[256][3]float64, dst []byte, step int) {
	for i, mv := range m {
		v := float64(mv)
		var u float64
		if hi <= lo {
			if v > lo {
				u = 1
			}
		} else {
			u = min(max((v-lo)/(hi-lo), 0), 1)
		}
		j := 0
		if u > 0 {
			j = min(int(min(u, 1)*256), 255)
		}
		for k, c := range [3]float32{r[i], g[i], b[i]} {
			x := float64(keep*(255*min(max(float64(c), 0), 1))) + heat[j][k]
			dst[i*step+k] = uint8(math.Round(x))
		}
		if step == 4 {
			dst[i*step+3] = 255
		}
	}
}

// TestBlend: Blend writes the bytes of its doc's loop (with math.Round) for
// pixel counts with and without a tail of its 8-pixel blocks, both steps,
// several alphas and scales (hi <= lo too), and images and maps with values
// outside [0, 1], infinities and NaNs; it writes nothing past its pixels.
func TestBlend(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 here")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 0, 1, 0.5, 2}
	for _, n := range []int{1, 7, 8, 9, 64, 565, 1000} {
		ch := make([][]float32, 4)
		for k := range ch {
			ch[k] = make([]float32, n)
			for i := range ch[k] {
				switch {
				case rng.IntN(20) == 0:
					ch[k][i] = special[rng.IntN(len(special))]
				case k < 3:
					ch[k][i] = float32(rng.IntN(256)) / 255 // a decoded picture's levels
					if rng.IntN(4) == 0 {
						ch[k][i] = float32(rng.Float64()*1.4 - 0.2)
					}
				default:
					ch[k][i] = float32(rng.Float64()*4 - 0.5)
				}
			}
		}
		for _, alpha := range []float64{0, 0.45, 0.7, 1} {
			var heat [256][3]float64
			for j := range heat {
				for k := range 3 {
					heat[j][k] = alpha * float64(rng.IntN(256))
				}
			}
			for _, s := range [][2]float64{{0, 3}, {0.5, 1.5}, {1, 1}, {2, 1}, {-1, 1e-9}} {
				for _, step := range []int{3, 4} {
					got, want := make([]byte, step*n+5), make([]byte, step*n+5)
					for i := range got {
						got[i], want[i] = 7, 7
					}
					Blend(ch[0], ch[1], ch[2], ch[3], s[0], s[1], 1-alpha, &heat, got, step)
					blendRef(ch[0], ch[1], ch[2], ch[3], s[0], s[1], 1-alpha, &heat, want, step)
					for i := range want {
						if got[i] != want[i] {
							p := i / step
							t.Fatalf("n %d, alpha %v, scale %v, step %d: byte %d (pixel %d: %v %v %v, map %v) = %d, want %d",
								n, alpha, s, step, i, p, ch[0][min(p, n-1)], ch[1][min(p, n-1)], ch[2][min(p, n-1)], ch[3][min(p, n-1)], got[i], want[i])
						}
					}
				}
			}
		}
	}
	for _, f := range []func(){
		func() {
			Blend(make([]float32, 4), make([]float32, 4), make([]float32, 4), make([]float32, 4), 0, 1, 1, &[256][3]float64{}, make([]byte, 12), 2)
		},
		func() {
			Blend(make([]float32, 3), make([]float32, 4), make([]float32, 4), make([]float32, 4), 0, 1, 1, &[256][3]float64{}, make([]byte, 12), 3)
		},
		func() {
			Blend(make([]float32, 4), make([]float32, 4), make([]float32, 4), make([]float32, 4), 0, 1, 1, &[256][3]float64{}, make([]byte, 11), 3)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic on a bad shape")
				}
			}()
			f()
		}()
	}
}
