package avx512

import (
	"fmt"
	"math"

	"golang.org/x/sys/cpu"
)

// BF16Supported reports whether the bf16 kernels (PackedBF16.MulRows,
// BF16Rows) run here: a cgo amd64 build, on a CPU with AVX-512F, BW and
// BF16 (vdpbf16ps, vcvtne2ps2bf16).
func BF16Supported() bool {
	return built && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512BF16
}

// errNoBF16 is the panic of a bf16 kernel called where it does not run.
const errNoBF16 = "avx512: no AVX512_BF16 kernel in this build or on this CPU"

// The bf16 kernel's register tile (bf16.h: BMR x BNR, parts of BKC2 pairs
// of inner indices).
const (
	bf16RowTile = 12
	bf16Panel   = 32
	bf16Part    = 128
)

// BF16Scratch is the length of the scratch slice PackedBF16.MulRows needs.
const BF16Scratch = 2 * bf16RowTile * bf16Part

// ToBF16 rounds x to bfloat16 (the top 16 bits of a float32) as the
// AVX512_BF16 conversions (vcvtne2ps2bf16, vcvtneps2bf16) do: to nearest,
// ties to even; zeros and denormals to zero of the same sign; infinities
// kept; NaNs truncated with the quiet bit set. A finite value rounding past
// the largest bf16 becomes an infinity.
func ToBF16(x float32) uint16 {
	u := math.Float32bits(x)
	switch {
	case u&0x7f800000 == 0: // zero or denormal
		return uint16(u>>16) & 0x8000
	case u&0x7fffffff > 0x7f800000: // NaN
		return uint16(u>>16) | 0x40
	case u&0x7fffffff == 0x7f800000: // infinity
		return uint16(u >> 16)
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// FromBF16 is the float32 whose top 16 bits are h (exact).
func FromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// RoundBF16 is x rounded to bf16 as ToBF16 does, as a float32.
func RoundBF16(x float32) float32 { return FromBF16(ToBF16(x)) }

// PackedBF16 is a k x n float32 matrix rounded to bf16 (ToBF16) and laid
// out for the bf16 kernel (bf16.h): column panels of 32, each holding the
// pairs of inner indices side by side as vdpbf16ps multiplies them, in
// parts of 128 pairs; an odd k is padded with a zero row.
type PackedBF16 struct {
	k, n, k2 int
	buf      []uint16
}

// Pack rounds the k x n row-major b (row stride ldb) to bf16 and lays it
// out in pb, reusing pb's buffer. It runs in Go, so anywhere; it panics on
// a slice too short for the shape.
func (pb *PackedBF16) Pack(k, n int, b []float32, ldb int) {
	if k < 0 || n < 0 || ldb < max(n, 1) || (k > 0 && n > 0 && len(b) < (k-1)*ldb+n) {
		panic(fmt.Sprintf("avx512: PackedBF16.Pack: %d x %d with stride %d on %d values", k, n, ldb, len(b)))
	}
	k2 := (k + 1) / 2
	panels := (n + bf16Panel - 1) / bf16Panel
	need := 2 * k2 * panels * bf16Panel
	if cap(pb.buf) < need {
		pb.buf = make([]uint16, need)
	}
	pb.k, pb.n, pb.k2, pb.buf = k, n, k2, pb.buf[:need]
	for pc := 0; pc < k2; pc += bf16Part {
		kc2 := min(bf16Part, k2-pc)
		for q := 0; q < panels; q++ {
			dst := pb.buf[2*(pc*panels*bf16Panel+q*kc2*bf16Panel):]
			for p := 0; p < kc2; p++ {
				for t := 0; t < bf16Panel; t++ {
					j := q*bf16Panel + t
					for h := 0; h < 2; h++ {
						var v uint16
						if kk := 2*(pc+p) + h; j < n && kk < k {
							v = ToBF16(b[kk*ldb+j])
						}
						dst[2*(p*bf16Panel+t)+h] = v
					}
				}
			}
		}
	}
}

// K is the number of rows of the packed matrix.
func (pb *PackedBF16) K() int { return pb.k }

// N is the packed matrix's number of columns.
func (pb *PackedBF16) N() int { return pb.n }

// MulRows computes C = A B, or C = A B + C when beta1, on the calling
// goroutine: A is m x k in bf16 (as BF16Rows makes it: row stride lda, even,
// at least k rounded up to even, the padding zero), B the packed k x n, C
// the m x n float32 matrix with row stride ldc. Products are exact and
// summed in float32, pairs of inner indices at a time (vdpbf16ps).
// scratch holds BF16Scratch values. It panics on slices too short for the
// shapes, or unless BF16Supported.
func (pb *PackedBF16) MulRows(m int, a []uint16, lda int, beta1 bool, c []float32, ldc int, scratch []uint16) {
	if !BF16Supported() {
		panic(errNoBF16)
	}
	k, n, kp := pb.k, pb.n, 2*pb.k2
	if m < 0 || lda < max(kp, 2) || lda%2 != 0 || ldc < max(n, 1) || len(scratch) < BF16Scratch ||
		(m > 0 && k > 0 && len(a) < (m-1)*lda+kp) || (m > 0 && n > 0 && len(c) < (m-1)*ldc+n) {
		panic(fmt.Sprintf("avx512: PackedBF16.MulRows: %d x %d x %d with strides %d, %d on %d, %d values, %d of scratch",
			m, n, k, lda, ldc, len(a), len(c), len(scratch)))
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !beta1 {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	bf16Kernel(m, n, pb.k2, a, lda, pb.buf, beta1, c, ldc, scratch)
}

// BF16Rows converts m rows of k float32 values (row stride lds) into bf16
// rows of dst (row stride ldd) as ToBF16 does, with the hardware
// conversion; an odd k gets a zero after each row. It panics on slices too
// short for the shapes, or unless BF16Supported.
func BF16Rows(m, k int, src []float32, lds int, dst []uint16, ldd int) {
	if !BF16Supported() {
		panic(errNoBF16)
	}
	kp := (k + 1) &^ 1
	if m < 0 || k < 0 || lds < k || ldd < kp || (m > 0 && k > 0 && (len(src) < (m-1)*lds+k || len(dst) < (m-1)*ldd+kp)) {
		panic(fmt.Sprintf("avx512: BF16Rows: %d x %d with strides %d, %d on %d, %d values", m, k, lds, ldd, len(src), len(dst)))
	}
	if m == 0 || k == 0 {
		return
	}
	bf16RowsKernel(m, k, src, lds, dst, ldd)
}
