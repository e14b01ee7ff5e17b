package avx512

import (
	"math"
	"testing"
)

// TestTransposeChannels: every channel range, with and without tails of
// the 16 x 16 blocks, lands where the loop of TransposeChannels' doc puts
// it, bit for bit (NaN payloads and -0 included), and nothing else of dst
// is written.
func TestTransposeChannels(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 here")
	}
	for _, s := range [][5]int{
		{1, 1, 0, 1, 1}, {16, 16, 0, 16, 16}, {17, 33, 0, 33, 20}, {35 * 35, 288, 0, 288, 35 * 35},
		{289, 768, 64, 128, 300}, {50, 37, 5, 36, 61}, {15, 100, 99, 100, 15}, {3, 5, 1, 4, 7},
	} {
		p, c, c0, c1, ldd := s[0], s[1], s[2], s[3], s[4]
		src := randMat(p*c, uint64(p*c))
		src[0], src[len(src)-1] = float32(math.Copysign(0, -1)), math.Float32frombits(0x7fc01234)
		dst := make([]float32, c*ldd)
		const mark = 0x7f812345 // a NaN no source value has
		for i := range dst {
			dst[i] = math.Float32frombits(mark)
		}
		TransposeChannels(src, p, c, c0, c1, dst, ldd)
		for ch := 0; ch < c; ch++ {
			for q := 0; q < ldd; q++ {
				want := uint32(mark)
				if ch >= c0 && ch < c1 && q < p {
					want = math.Float32bits(src[q*c+ch])
				}
				if got := math.Float32bits(dst[ch*ldd+q]); got != want {
					t.Fatalf("%v: dst[%d][%d] = %#x, want %#x", s, ch, q, got, want)
				}
			}
		}
	}
	for _, f := range []func(){
		func() { TransposeChannels(make([]float32, 10), 2, 5, 0, 6, make([]float32, 100), 2) },
		func() { TransposeChannels(make([]float32, 9), 2, 5, 0, 5, make([]float32, 100), 2) },
		func() { TransposeChannels(make([]float32, 10), 2, 5, 0, 5, make([]float32, 9), 2) },
		func() { TransposeChannels(make([]float32, 10), 2, 5, 0, 5, make([]float32, 100), 1) },
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
