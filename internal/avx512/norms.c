//go:build cgo && amd64

// Norms: the column squared norms of T Y, T packed (see avx512.h).

#include <immintrin.h>
#include <stddef.h>

#include "avx512.h"

// One MR x NR tile of Z = T Y over inner indices [k, k + kc), kept in 24
// registers. a and yk point at the first k in the tile's packed rows and in
// the packed column panel (NR consecutive floats per k). The partial tile is
// loaded from z unless first, when it starts from zero; unless last it is
// stored back to z. On the last part its squares are added per column to
// s0 (columns 0..15) and s1 (16..31).
__attribute__((target("avx512f"), noinline))
static void tile(const float *a, const float *yk, int kc, float *z, int first, int last, __m512 *s0, __m512 *s1) {
#define DECL(r) __m512 c##r##0, c##r##1; \
	if (first) { c##r##0 = _mm512_setzero_ps(); c##r##1 = _mm512_setzero_ps(); } \
	else { c##r##0 = _mm512_loadu_ps(z + r * NR); c##r##1 = _mm512_loadu_ps(z + r * NR + 16); }
	DECL(0) DECL(1) DECL(2) DECL(3) DECL(4) DECL(5) DECL(6) DECL(7) DECL(8) DECL(9) DECL(10) DECL(11)
	for (int k = 0; k < kc; k++, a += MR, yk += NR) {
		__m512 y0 = _mm512_loadu_ps(yk);
		__m512 y1 = _mm512_loadu_ps(yk + 16);
#define STEP(r) { __m512 b = _mm512_set1_ps(a[r]); c##r##0 = _mm512_fmadd_ps(b, y0, c##r##0); c##r##1 = _mm512_fmadd_ps(b, y1, c##r##1); }
		STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7) STEP(8) STEP(9) STEP(10) STEP(11)
	}
	if (!last) {
#define ST(r) _mm512_storeu_ps(z + r * NR, c##r##0); _mm512_storeu_ps(z + r * NR + 16, c##r##1);
		ST(0) ST(1) ST(2) ST(3) ST(4) ST(5) ST(6) ST(7) ST(8) ST(9) ST(10) ST(11)
		return;
	}
	__m512 t0 = *s0, t1 = *s1;
#define SQ(r) t0 = _mm512_fmadd_ps(c##r##0, c##r##0, t0); t1 = _mm512_fmadd_ps(c##r##1, c##r##1, t1);
	SQ(0) SQ(1) SQ(2) SQ(3) SQ(4) SQ(5) SQ(6) SQ(7) SQ(8) SQ(9) SQ(10) SQ(11)
	*s0 = t0; *s1 = t1;
}

// Columns [c0, c1) of the d x p row-major y against every row tile of the
// packed matrix a. The columns are first packed, NR at a time (zero
// padded), into buf (d * NR floats per panel). Loops, outer to inner: blocks of TB
// row tiles (their rows stay in L2), column panels, KC-long parts of the
// inner dimension (the panel's part stays in L1 for all the block's tiles),
// tiles. With upper, tile t starts at k = t * MR: entries left of its first
// row are zero and skipped. A block's float32 sums are added to out.
#define TB 8
#define KC 256
__attribute__((target("avx512f")))
void crd_norms(const float *a, int d, int tiles, int upper, const float *y, int p, int c0, int c1,
                      float *buf, double *out) {
	int panels = (c1 - c0 + NR - 1) / NR;
	size_t psize = (size_t)d * NR;
	for (int q = 0; q < panels; q++) {
		int j = c0 + q * NR, n = c1 - j < NR ? c1 - j : NR;
		float *dst = buf + (size_t)q * psize;
		for (int k = 0; k < d; k++) {
			const float *src = y + (size_t)k * p + j;
			for (int t = 0; t < n; t++) dst[k * NR + t] = src[t];
			for (int t = n; t < NR; t++) dst[k * NR + t] = 0;
		}
	}
	float sums[NR];
	float z[TB * MR * NR];
	for (int tb = 0; tb < tiles; tb += TB) {
		int te = tb + TB < tiles ? tb + TB : tiles;
		for (int q = 0; q < panels; q++) {
			int j = c0 + q * NR, n = c1 - j < NR ? c1 - j : NR;
			const float *yp = buf + (size_t)q * psize;
			__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
			for (int k0 = 0; k0 < d; k0 += KC) {
				int k1 = d - k0 < KC ? d : k0 + KC;
				for (int t = tb; t < te; t++) {
					int start = upper ? t * MR : 0;
					if (start >= k1) continue;
					int ks = start > k0 ? start : k0;
					tile(a + (size_t)t * MR * d + (size_t)ks * MR, yp + (size_t)ks * NR, k1 - ks,
					     z + (t - tb) * MR * NR, ks == start, k1 == d, &s0, &s1);
				}
			}
			_mm512_storeu_ps(sums, s0);
			_mm512_storeu_ps(sums + 16, s1);
			for (int u = 0; u < n; u++) out[j - c0 + u] += sums[u];
		}
	}
}
