//go:build cgo && amd64

// Rows: the patch-major helpers of the layered scores (see avx512.h).

#include <immintrin.h>
#include <stddef.h>

#include "avx512.h"

static inline __mmask16 rmask(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// The 16 floats of v as two vectors of 8 doubles.
__attribute__((target("avx512f")))
static inline void widen(__m512 v, __m512d *lo, __m512d *hi) {
	*lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
	*hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

// The inner product of the n floats at a and b, products and sums in double.
__attribute__((target("avx512f")))
static double dot64(const float *a, const float *b, int n) {
	__m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
	for (int i = 0; i < n; i += 16) {
		__mmask16 m = rmask(n - i);
		__m512d al, ah, bl, bh;
		widen(_mm512_maskz_loadu_ps(m, a + i), &al, &ah);
		widen(_mm512_maskz_loadu_ps(m, b + i), &bl, &bh);
		s0 = _mm512_fmadd_pd(al, bl, s0);
		s1 = _mm512_fmadd_pd(ah, bh, s1);
	}
	return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
}

__attribute__((target("avx512f")))
void crd_row_norms(const float *z, long ldz, int n, int p, double *acc) {
	for (int j = 0; j < p; j++) {
		const float *r = z + (size_t)j * ldz;
		acc[j] += dot64(r, r, n);
	}
}

__attribute__((target("avx512f")))
void crd_neighbour_dots(const float *z, long ldz, int n, int pc, int wc, double *g) {
	double *g0 = g, *gr = g + pc, *gdl = g + 2 * (size_t)pc, *gd = g + 3 * (size_t)pc, *gdr = g + 4 * (size_t)pc;
	const long off[4] = {1, wc - 1, wc, wc + 1};
	double *dst[4] = {gr, gdl, gd, gdr};
	for (int k = 0; k < pc; k++) {
		const float *a = z + (size_t)k * ldz;
		if (k + wc + 1 < pc) {
			// Every neighbour exists: a is loaded once for the five products.
			const float *b0 = a + ldz, *b1 = a + (wc - 1) * ldz, *b2 = a + wc * ldz, *b3 = a + (wc + 1) * ldz;
			__m512d s[5][2];
			for (int u = 0; u < 5; u++) s[u][0] = s[u][1] = _mm512_setzero_pd();
			for (int i = 0; i < n; i += 16) {
				__mmask16 m = rmask(n - i);
				__m512d al, ah, bl, bh;
				widen(_mm512_maskz_loadu_ps(m, a + i), &al, &ah);
#define NB(u, b) widen(_mm512_maskz_loadu_ps(m, (b) + i), &bl, &bh); \
	s[u][0] = _mm512_fmadd_pd(al, bl, s[u][0]); s[u][1] = _mm512_fmadd_pd(ah, bh, s[u][1]);
				NB(0, a) NB(1, b0) NB(2, b1) NB(3, b2) NB(4, b3)
#undef NB
			}
			g0[k] += _mm512_reduce_add_pd(_mm512_add_pd(s[0][0], s[0][1]));
			for (int u = 0; u < 4; u++) dst[u][k] += _mm512_reduce_add_pd(_mm512_add_pd(s[u + 1][0], s[u + 1][1]));
			continue;
		}
		g0[k] += dot64(a, a, n);
		for (int u = 0; u < 4; u++)
			if (k + off[u] < pc) dst[u][k] += dot64(a, a + off[u] * ldz, n);
	}
}

__attribute__((target("avx512f"), optimize("fp-contract=off")))
void crd_resize_rows(const float *src, long lds, int wc, int n, const int *y0, const int *y1, const float *wy0,
                     const float *wy1, const int *x0, const int *x1, const float *wx0, const float *wx1, int h, int w,
                     float *dst, long ldd, int add) {
	for (int oy = 0; oy < h; oy++) {
		const float *r0 = src + (size_t)y0[oy] * wc * lds, *r1 = src + (size_t)y1[oy] * wc * lds;
		__m512 vy0 = _mm512_set1_ps(wy0[oy]), vy1 = _mm512_set1_ps(wy1[oy]);
		for (int ox = 0; ox < w; ox++) {
			const float *a = r0 + (size_t)x0[ox] * lds, *b = r0 + (size_t)x1[ox] * lds;
			const float *c = r1 + (size_t)x0[ox] * lds, *e = r1 + (size_t)x1[ox] * lds;
			__m512 vx0 = _mm512_set1_ps(wx0[ox]), vx1 = _mm512_set1_ps(wx1[ox]);
			float *o = dst + ((size_t)oy * w + ox) * ldd;
			for (int i = 0; i < n; i += 16) {
				__mmask16 m = rmask(n - i);
				__m512 top = _mm512_add_ps(_mm512_mul_ps(vx0, _mm512_maskz_loadu_ps(m, a + i)), _mm512_mul_ps(vx1, _mm512_maskz_loadu_ps(m, b + i)));
				__m512 bot = _mm512_add_ps(_mm512_mul_ps(vx0, _mm512_maskz_loadu_ps(m, c + i)), _mm512_mul_ps(vx1, _mm512_maskz_loadu_ps(m, e + i)));
				__m512 v = _mm512_add_ps(_mm512_mul_ps(vy0, top), _mm512_mul_ps(vy1, bot));
				if (add) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, o + i));
				_mm512_mask_storeu_ps(o + i, m, v);
			}
		}
	}
}
