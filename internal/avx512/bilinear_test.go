package avx512

import (
	"math"
	"testing"
)

// bilinearTaps are bilinear taps from in to out positions with random weights:
// output i reads i*in/out and the next (clamped).
func bilinearTaps(in, out int, seed uint64) *Bilinear {
	b := &Bilinear{I0: make([]int32, out), I1: make([]int32, out), W0: randMat(out, seed), W1: randMat(out, seed+1)}
	for i := range out {
		b.I0[i] = int32(i * in / out)
		b.I1[i] = min(b.I0[i]+1, int32(in-1))
	}
	return b
}

// TestResizeBilinear: ResizeBilinear gives its doc's loops bit for bit on
// upsampling and downsampling taps (edges clamped, tails of 16), several
// planes, and panics on taps outside the planes.
func TestResizeBilinear(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 here")
	}
	for _, sz := range [][5]int{{3, 17, 17, 35, 35}, {2, 35, 35, 17, 20}, {1, 1, 1, 3, 2}, {4, 5, 40, 9, 33}} {
		n, sh, sw, h, w := sz[0], sz[1], sz[2], sz[3], sz[4]
		x := randMat(n*sh*sw, uint64(sh*sw))
		ty, tx := bilinearTaps(sh, h, 3), bilinearTaps(sw, w, 5)
		rows, dst := make([]float32, sh*w), make([]float32, n*h*w)
		ResizeBilinear(x, n, sh, sw, h, w, ty, tx, rows, dst)
		for p := range n {
			src := x[p*sh*sw:]
			for oy := range h {
				for ox := range w {
					r := func(sy int32) float32 {
						return float32(tx.W0[ox]*src[int(sy)*sw+int(tx.I0[ox])]) + float32(tx.W1[ox]*src[int(sy)*sw+int(tx.I1[ox])])
					}
					want := float32(ty.W0[oy]*r(ty.I0[oy])) + float32(ty.W1[oy]*r(ty.I1[oy]))
					if got := dst[(p*h+oy)*w+ox]; math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("%v: plane %d (%d, %d) = %v, want %v", sz, p, oy, ox, got, want)
					}
				}
			}
		}
	}
	bad := bilinearTaps(4, 3, 7)
	bad.I1[2] = 4
	defer func() {
		if recover() == nil {
			t.Error("no panic on a tap outside the plane")
		}
	}()
	ResizeBilinear(make([]float32, 16), 1, 4, 4, 3, 3, bilinearTaps(4, 3, 1), bad, make([]float32, 12), make([]float32, 9))
}
