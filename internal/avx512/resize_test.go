package avx512

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randTaps draws count outputs' first taps and tap counts (1 to step) in
// [0, size).
func randTaps(rng *rand.Rand, count, step, size int) (s, n []int32) {
	s, n = make([]int32, count), make([]int32, count)
	for i := range count {
		n[i] = int32(1 + rng.IntN(min(step, size)))
		s[i] = int32(rng.IntN(size - int(n[i]) + 1))
	}
	return s, n
}

// TestResizePlane: ResizePlane gives its doc's loops bit for bit on random
// taps (1 to 7 a column, 1 to 3 a row, masked lanes and tails of 16), and
// panics on taps outside the plane.
func TestResizePlane(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 here")
	}
	rng := rand.New(rand.NewPCG(17, 18))
	for _, sz := range [][4]int{{40, 9, 33, 12}, {5, 3, 1, 1}, {300, 20, 16, 5}} {
		w, h, cw, ch := sz[0], sz[1], sz[2], sz[3]
		const xstep, ystep = 7, 3
		src := randMat(w*h, uint64(w))
		xs, xn := randTaps(rng, cw, xstep, w)
		ys, yn := randTaps(rng, ch, ystep, h)
		xw, yw := make([]float32, xstep*cw), make([]float32, ystep*ch)
		for x := range cw {
			for k := range int(xn[x]) {
				xw[k*cw+x] = float32(rng.Float64())
			}
		}
		for i := range yw {
			yw[i] = float32(rng.Float64()) // past a row's taps: unread
		}
		const mean, inv = 0.25, 3.5
		tmp, out := make([]float32, h*cw), make([]float32, ch*cw)
		ResizePlane(src, w, h, xs, xn, xw, xstep, ys, yn, yw, ystep, mean, inv, tmp, out)
		want := make([]float32, h*cw)
		for y := range h {
			for x := range cw {
				acc := float32(0)
				for k := range int(xn[x]) {
					acc += float32(xw[k*cw+x] * src[y*w+int(xs[x])+k])
				}
				want[y*cw+x] = acc
			}
		}
		for y := range ch {
			for x := range cw {
				v := float32(0)
				for k := range int(yn[y]) {
					v += float32(yw[y*ystep+k] * want[(int(ys[y])+k)*cw+x])
				}
				if got, w := out[y*cw+x], float32((v-mean)*inv); math.Float32bits(got) != math.Float32bits(w) {
					t.Fatalf("%v: out[%d][%d] = %v, want %v", sz, y, x, got, w)
				}
			}
		}
	}
	one := []int32{1}
	for _, f := range []func(){
		func() {
			ResizePlane(make([]float32, 4), 2, 2, one, []int32{2}, make([]float32, 2), 2, one, one, make([]float32, 1), 1, 0, 1, make([]float32, 2), make([]float32, 1))
		},
		func() {
			ResizePlane(make([]float32, 4), 2, 2, one, one, make([]float32, 1), 1, one, []int32{2}, make([]float32, 2), 2, 0, 1, make([]float32, 2), make([]float32, 1))
		},
		func() {
			ResizePlane(make([]float32, 4), 2, 2, one, one, make([]float32, 1), 65, one, one, make([]float32, 1), 1, 0, 1, make([]float32, 2), make([]float32, 1))
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic on taps outside the plane")
				}
			}()
			f()
		}()
	}
}
