package avx512

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// bf16Specials are the values where rounding to bf16 is delicate: ties
// (even and odd), the carry into the exponent, overflow to infinity,
// denormals, zeros, infinities and NaNs (quiet and signalling, with
// payloads in the dropped bits).
var bf16Specials = []uint32{
	0x3f800000, 0x3f808000, 0x3f818000, 0x3f807fff, 0x3f808001, 0x3fff8000, 0x3f7fffff,
	0x7f7fffff, 0x7f7f8000, 0x7f7f7fff, 0xff7fffff, 0x00800000, 0x00800001, 0x0080ffff,
	0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x007fffff, 0x00400000,
	0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0x7fbfffff, 0xff800001, 0x7fc0ffff,
}

// TestToBF16Values checks ToBF16 against values worked out by hand.
func TestToBF16Values(t *testing.T) {
	for _, c := range []struct {
		in  uint32
		out uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3f808000, 0x3f80}, // tie, even: down
		{0x3f818000, 0x3f82}, // tie, odd: up
		{0x3f808001, 0x3f81}, // above the tie
		{0x3f807fff, 0x3f80}, // below the tie
		{0x3fff8000, 0x4000}, // carry into the exponent
		{0x7f7fffff, 0x7f80}, // past the largest bf16: infinity
		{0xff7fffff, 0xff80},
		{0x00000001, 0x0000}, // denormal: zero
		{0x807fffff, 0x8000},
		{0x00800000, 0x0080}, // smallest normal
		{0x7f800000, 0x7f80},
		{0xff800000, 0xff80},
		{0x7f800001, 0x7fc0}, // signalling NaN: quiet
		{0xffbfffff, 0xffff},
	} {
		if got := ToBF16(math.Float32frombits(c.in)); got != c.out {
			t.Errorf("ToBF16(%#08x) = %#04x, want %#04x", c.in, got, c.out)
		}
	}
	if RoundBF16(1.00390625) != 1 || FromBF16(0x4049) != float32(math.Float32frombits(0x40490000)) {
		t.Error("RoundBF16 or FromBF16 differ from the bit patterns")
	}
}

// TestToBF16Hardware checks ToBF16 bit for bit against the CPU's
// conversion (BF16Rows: vcvtne2ps2bf16) on the special values, every
// rounding case of a few mantissas, and random bit patterns, and that an
// odd row gets a zero pad.
func TestToBF16Hardware(t *testing.T) {
	if !BF16Supported() {
		t.Skip("no AVX512_BF16 kernel here")
	}
	src := make([]float32, 0, 1<<17+1)
	for _, u := range bf16Specials {
		src = append(src, math.Float32frombits(u))
	}
	for lo := uint32(0); lo < 1<<16; lo += 0x101 {
		for _, hi := range []uint32{0x3f80, 0x3f81, 0x0080, 0x7f7f, 0x8001, 0xc2fe} {
			src = append(src, math.Float32frombits(hi<<16|lo))
		}
	}
	r := rand.New(rand.NewPCG(5, 5))
	for len(src) < 1<<17 {
		src = append(src, math.Float32frombits(r.Uint32()))
	}
	src = append(src, 1.5) // an odd length
	k := len(src)
	dst := make([]uint16, k+3)
	for i := range dst {
		dst[i] = 0xffff
	}
	BF16Rows(1, k, src, k, dst, k+1)
	for i, x := range src {
		if want := ToBF16(x); dst[i] != want {
			t.Fatalf("value %d (%#08x): hardware %#04x, ToBF16 %#04x", i, math.Float32bits(x), dst[i], want)
		}
	}
	if dst[k] != 0 || dst[k+1] != 0xffff {
		t.Fatalf("pad %#04x, past it %#04x: want 0 and untouched", dst[k], dst[k+1])
	}
}

// TestBF16Gemm checks the bf16 kernel against the float64 product of the
// bf16-rounded operands, on shapes around the tile (12 x 32), the parts of
// 128 pairs (256 inner indices), odd inner dimensions and the column masks,
// with padded strides and beta 0 and 1. The products are exact, so the
// float32 sums differ from float64 by rounding alone. Entries of C outside
// the m x n window must not change.
func TestBF16Gemm(t *testing.T) {
	if !BF16Supported() {
		t.Skip("no AVX512_BF16 kernel here")
	}
	r := rand.New(rand.NewPCG(7, 7))
	scratch := make([]uint16, BF16Scratch)
	for _, sz := range [][3]int{{1, 1, 1}, {12, 32, 7}, {13, 33, 257}, {5, 16, 3}, {400, 70, 300}, {30, 17, 600}, {25, 64, 256}, {100, 64, 0}, {7, 96, 27}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, beta1 := range []bool{false, true} {
			lds, ldb, ldc := k+3, n+5, n+2
			kp := (k + 1) &^ 1
			lda := kp + 4
			a, b, c := normals(r, m*lds), normals(r, max(k, 1)*ldb), normals(r, m*ldc)
			c0 := append([]float32(nil), c...)
			// The reference on the rounded operands, and the sum of the
			// magnitudes of its terms for the tolerance.
			want, mag := make([]float64, m*n), make([]float64, m*n)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					if beta1 {
						want[i*n+j], mag[i*n+j] = float64(c0[i*ldc+j]), math.Abs(float64(c0[i*ldc+j]))
					}
					for p := 0; p < k; p++ {
						x := float64(RoundBF16(a[i*lds+p])) * float64(RoundBF16(b[p*ldb+j]))
						want[i*n+j] += x
						mag[i*n+j] += math.Abs(x)
					}
				}
			}
			ah := make([]uint16, max(m*lda, 1))
			BF16Rows(m, k, a, lds, ah, lda)
			var pb PackedBF16
			pb.Pack(k, n, b, ldb)
			pb.MulRows(m, ah, lda, beta1, c, ldc, scratch)
			for e := range c {
				i, j := e/ldc, e%ldc
				switch {
				case j >= n && c[e] != c0[e]:
					t.Fatalf("%v beta1=%v: C[%d,%d] outside the product changed", sz, beta1, i, j)
				case j < n && math.Abs(float64(c[e])-want[i*n+j]) > 1e-5*mag[i*n+j]+1e-30:
					t.Fatalf("%v beta1=%v: C[%d,%d] = %g, want %g (bf16 operands)", sz, beta1, i, j, c[e], want[i*n+j])
				}
			}
		}
	}
}

// BenchmarkConvKernels times the float32 and bf16 kernels on one core
// (MulRows) on convolution shapes: blocks of 384 pixels of im2col rows
// times the weights (wide_resnet50_2's layer1 3x3 conv, layer3's, and
// inception_v3's 3x3 conv of mixed5). The bf16 time includes converting
// the block's rows to bf16. Compare the float32 and bf16 lines of one run;
// on a shared machine bin/bf16bench (cbench/bf16bench.c), which counts the
// thread's CPU time, is steadier.
func BenchmarkConvKernels(b *testing.B) {
	for _, sz := range [][3]int{{384, 128, 1152}, {384, 256, 2304}, {384, 96, 864}} {
		m, n, k := sz[0], sz[1], sz[2]
		r := rand.New(rand.NewPCG(1, 1))
		a, w, c := normals(r, m*k), normals(r, k*n), make([]float32, m*n)
		// Each way packs the weights and returns one product of a block.
		ways := []struct {
			name string
			ok   bool
			prep func() func()
		}{
			{"float32", Supported(), func() func() {
				var pb PackedB
				pb.Pack(k, n, w, n)
				scratch := make([]float32, MulScratch)
				return func() { pb.MulRows(m, 1, a, k, false, c, n, scratch) }
			}},
			{"bf16", BF16Supported(), func() func() {
				var pb PackedBF16
				pb.Pack(k, n, w, n)
				scratch, ah := make([]uint16, BF16Scratch), make([]uint16, m*k)
				return func() {
					BF16Rows(m, k, a, k, ah, k)
					pb.MulRows(m, ah, k, false, c, n, scratch)
				}
			}},
		}
		for _, way := range ways {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", way.name, m, n, k), func(b *testing.B) {
				if !way.ok {
					b.Skip("no such kernel here")
				}
				mul := way.prep()
				for b.Loop() {
					mul()
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// normals returns n standard normal values.
func normals(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}
