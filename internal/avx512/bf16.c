//go:build cgo && amd64

// The bf16 matrix product of nn's bf16 convolutions and the conversion of
// its left operand (see avx512.h): vdpbf16ps, fp32 accumulation.

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bf16.h"

#define BMC 384

static __mmask16 bmask16(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// One tile of C (rows x 32 at c, row stride ldc; columns masked by m0 for
// 0..15 and m1 for 16..31) += A B over kc2 pairs of inner indices: a points
// at the tile's BMR rows of A as pairs of bf16 (row stride lda pairs), b at
// the packed column panel (BNR pairs per pair index: 16 columns, then 16).
// Unless load, C's old values are not read. Rows past `rows` are computed,
// not stored.
__attribute__((target("avx512f,avx512bw,avx512bf16"), noinline))
static void btile(const int32_t *a, long lda, const int32_t *b, long kc2, float *c, long ldc, int rows,
                  __mmask16 m0, __mmask16 m1, int load) {
#define BDECL(r) __m512 c##r##0, c##r##1; \
	if (load && r < rows) { c##r##0 = _mm512_maskz_loadu_ps(m0, c + r * ldc); c##r##1 = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16); } \
	else { c##r##0 = _mm512_setzero_ps(); c##r##1 = _mm512_setzero_ps(); }
	BDECL(0) BDECL(1) BDECL(2) BDECL(3) BDECL(4) BDECL(5) BDECL(6) BDECL(7) BDECL(8) BDECL(9) BDECL(10) BDECL(11)
	for (long p = 0; p < kc2; p++, a++, b += BNR) {
		__m512bh y0 = (__m512bh)_mm512_loadu_si512(b), y1 = (__m512bh)_mm512_loadu_si512(b + 16);
#define BSTEP(r) { __m512bh x = (__m512bh)_mm512_set1_epi32(a[r * lda]); \
	c##r##0 = _mm512_dpbf16_ps(c##r##0, x, y0); c##r##1 = _mm512_dpbf16_ps(c##r##1, x, y1); }
		BSTEP(0) BSTEP(1) BSTEP(2) BSTEP(3) BSTEP(4) BSTEP(5) BSTEP(6) BSTEP(7) BSTEP(8) BSTEP(9) BSTEP(10) BSTEP(11)
	}
#define BST(r) if (r < rows) { _mm512_mask_storeu_ps(c + r * ldc, m0, c##r##0); _mm512_mask_storeu_ps(c + r * ldc + 16, m1, c##r##1); }
	BST(0) BST(1) BST(2) BST(3) BST(4) BST(5) BST(6) BST(7) BST(8) BST(9) BST(10) BST(11)
}

// btail copies the last part (< BMR) rows of a block of A (src, row stride
// lda pairs, kc2 pairs from each) into ab as BMR x kc2 pairs, zero padded,
// so that the kernel never reads past A's last row.
static const int32_t *btail(const int32_t *src, long lda, int part, int kc2, int32_t *ab) {
	for (int r = 0; r < BMR; r++) {
		if (r < part) memcpy(ab + (size_t)r * kc2, src + (size_t)r * lda, (size_t)kc2 * 4);
		else memset(ab + (size_t)r * kc2, 0, (size_t)kc2 * 4);
	}
	return ab;
}

// For each part of BKC2 pairs and each block of BMC rows of A, the tiles
// run panel by panel: a panel's part (16 KB) stays in L1 while the block's
// part of A streams past it. A is read in place but for a last, partial
// tile of rows (btail).
__attribute__((target("avx512f,avx512bw,avx512bf16")))
void crd_bf16_gemm(int m, int n, int k2, const uint16_t *A, long lda, const uint16_t *pb, int beta1, float *C,
                   long ldc, uint16_t *abuf) {
	int panels = (n + BNR - 1) / BNR;
	const int32_t *a32 = (const int32_t *)A;
	long la2 = lda / 2;
	for (int pc = 0; pc < k2; pc += BKC2) {
		int kc2 = k2 - pc < BKC2 ? k2 - pc : BKC2;
		const int32_t *bbuf = (const int32_t *)pb + (size_t)pc * panels * BNR;
		int load = pc > 0 || beta1;
		for (int ic = 0; ic < m; ic += BMC) {
			int mc = m - ic < BMC ? m - ic : BMC, full = mc / BMR, part = mc % BMR;
			const int32_t *a0 = a32 + (size_t)ic * la2 + pc;
			const int32_t *tail = part ? btail(a0 + (size_t)full * BMR * la2, la2, part, kc2, (int32_t *)abuf) : 0;
			for (int q = 0; q < panels; q++) {
				int j0 = q * BNR;
				__mmask16 m0 = bmask16(n - j0), m1 = bmask16(n - j0 - 16);
				const int32_t *bq = bbuf + (size_t)q * kc2 * BNR;
				float *cq = C + (size_t)ic * ldc + j0;
				for (int t = 0; t < full; t++)
					btile(a0 + (size_t)t * BMR * la2, la2, bq, kc2, cq + (size_t)t * BMR * ldc, ldc, BMR, m0, m1, load);
				if (part) btile(tail, kc2, bq, kc2, cq + (size_t)full * BMR * ldc, ldc, part, m0, m1, load);
			}
		}
	}
}

__attribute__((target("avx512f,avx512bw,avx512bf16")))
void crd_bf16_rows(int m, int k, const float *src, long lds, uint16_t *dst, long ldd) {
	int kp = (k + 1) & ~1;
	for (int i = 0; i < m; i++) {
		const float *s = src + (size_t)i * lds;
		uint16_t *d = dst + (size_t)i * ldd;
		int j = 0;
		for (; j + 32 <= k; j += 32) {
			__m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + j + 16), _mm512_loadu_ps(s + j));
			_mm512_storeu_si512(d + j, (__m512i)v);
		}
		if (j < kp) {
			int left = k - j;
			__m512 lo = _mm512_maskz_loadu_ps(bmask16(left), s + j);
			__m512 hi = _mm512_maskz_loadu_ps(bmask16(left - 16), s + j + 16);
			__m512bh v = _mm512_cvtne2ps_pbh(hi, lo);
			int out = kp - j;
			__mmask32 mo = out >= 32 ? 0xFFFFFFFFu : (__mmask32)((1u << out) - 1);
			_mm512_mask_storeu_epi16(d + j, mo, (__m512i)v);
		}
	}
}
