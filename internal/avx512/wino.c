//go:build cgo && amd64

// The input and output transforms of Winograd F(2x2, 3x3), F(4x4, 3x3),
// F(2x2, 5x5) and F(3x3, 5x5) convolutions (see avx512.h).

#include <immintrin.h>
#include <stddef.h>

#include "avx512.h"

static __mmask16 wmask(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// wino_tile sets *n, *y0 and *x0 to the image and the first output row and
// column of tile t (tiles of m x m pixels, th x tw of them per image).
static void wino_tile(long t, int th, int tw, int m, long *n, int *y0, int *x0) {
	long per = (long)th * tw;
	int r = (int)(t % per);
	*n = t / per;
	*y0 = m * (r / tw);
	*x0 = m * (r % tw);
}

// wino_inputs sets px[q a + b] to input pixel (y0 - pt + a, x0 - pl + b) of
// tile t's image (a, b in [0, q), q = m + r - 1), or NULL where it lies
// outside the input.
static void wino_inputs(const float *x, int h, int w, int cin, int pt, int pl, int th, int tw, long t, int m, int q,
                        const float **px) {
	long n;
	int y0, x0;
	wino_tile(t, th, tw, m, &n, &y0, &x0);
	for (int a = 0; a < q; a++)
		for (int b = 0; b < q; b++) {
			int iy = y0 - pt + a, ix = x0 - pl + b;
			px[a * q + b] = iy >= 0 && iy < h && ix >= 0 && ix < w ? x + ((n * h + iy) * w + ix) * (long)cin : NULL;
		}
}

// wino_load loads channels [c, c+16) (mask k) of the k-th pixel of px into
// d, zero where px is NULL.
static inline __attribute__((target("avx512f"))) void wino_load(const float **px, int count, int c, __mmask16 k, __m512 *d) {
	for (int e = 0; e < count; e++) d[e] = px[e] ? _mm512_maskz_loadu_ps(k, px[e] + c) : _mm512_setzero_ps();
}

// wino_store stores the m x m outputs y of tile t, channels [j, j+16)
// (mask k), that lie inside the oh x ow output: + residual, + bias, ReLU.
static inline __attribute__((target("avx512f"))) void wino_store(const __m512 *y, int m, long t, int th, int tw, int oh,
                                                                 int ow, int j, __mmask16 k, const float *bias, int relu,
                                                                 const float *res, long ldr, float *dst, long ldd) {
	long n;
	int y0, x0;
	wino_tile(t, th, tw, m, &n, &y0, &x0);
	int ny = oh - y0 < m ? oh - y0 : m, nx = ow - x0 < m ? ow - x0 : m;
	__m512 bv = bias ? _mm512_maskz_loadu_ps(k, bias + j) : _mm512_setzero_ps();
	for (int a = 0; a < ny; a++)
		for (int b = 0; b < nx; b++) {
			long p = (n * oh + y0 + a) * ow + x0 + b;
			__m512 o = y[a * m + b];
			if (res) o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(k, res + p * ldr + j));
			if (bias) o = _mm512_add_ps(o, bv);
			if (relu)
				o = _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_srai_epi32(_mm512_castps_si512(o), 31), _mm512_castps_si512(o)));
			_mm512_mask_storeu_ps(dst + p * ldd + j, k, o);
		}
}

// WINO2_BT sets o[0..3 * os] to B^T d for one column of d (d[k*s]), B^T =
// [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]].
#define WINO2_BT(o, os, d, s) { \
	o[0] = _mm512_sub_ps(d[0], d[2 * s]); \
	o[os] = _mm512_add_ps(d[s], d[2 * s]); \
	o[2 * os] = _mm512_sub_ps(d[2 * s], d[s]); \
	o[3 * os] = _mm512_sub_ps(d[s], d[3 * s]); }

// WINO2_AT sets o[0], o[os] to A^T s for one column of s (s[k*st]), A^T =
// [[1,1,1,0],[0,1,-1,-1]].
#define WINO2_AT(o, os, s, st) { \
	o[0] = _mm512_add_ps(_mm512_add_ps(s[0], s[st]), s[2 * st]); \
	o[os] = _mm512_sub_ps(_mm512_sub_ps(s[st], s[2 * st]), s[3 * st]); }

// WINO4_BT sets o[0..5 * os] to B^T d for one column of d (d[k*s]), B^T =
// [[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]].
#define WINO4_BT(o, os, d, s) { \
	__m512 _d0 = d[0], _d1 = d[s], _d2 = d[2 * s], _d3 = d[3 * s], _d4 = d[4 * s], _d5 = d[5 * s]; \
	__m512 _f4 = _mm512_set1_ps(4.0f), _f5 = _mm512_set1_ps(5.0f), _f2 = _mm512_set1_ps(2.0f); \
	o[0] = _mm512_add_ps(_mm512_fnmadd_ps(_f5, _d2, _mm512_mul_ps(_f4, _d0)), _d4); \
	__m512 _p = _mm512_fnmadd_ps(_f4, _d2, _d4), _q = _mm512_fnmadd_ps(_f4, _d1, _d3); \
	o[os] = _mm512_add_ps(_p, _q); \
	o[2 * os] = _mm512_sub_ps(_p, _q); \
	__m512 _r = _mm512_sub_ps(_d4, _d2), _u = _mm512_mul_ps(_f2, _mm512_sub_ps(_d3, _d1)); \
	o[3 * os] = _mm512_add_ps(_r, _u); \
	o[4 * os] = _mm512_sub_ps(_r, _u); \
	o[5 * os] = _mm512_add_ps(_mm512_fnmadd_ps(_f5, _d3, _mm512_mul_ps(_f4, _d1)), _d5); }

// WINO4_AT sets o[0..3 * os] to A^T s for one column of s (s[k*st]), A^T =
// [[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]].
#define WINO4_AT(o, os, s, st) { \
	__m512 _s0 = s[0], _s1 = s[st], _s2 = s[2 * st], _s3 = s[3 * st], _s4 = s[4 * st], _s5 = s[5 * st]; \
	__m512 _f2 = _mm512_set1_ps(2.0f), _f4 = _mm512_set1_ps(4.0f), _f8 = _mm512_set1_ps(8.0f); \
	__m512 _p = _mm512_add_ps(_s1, _s2), _q = _mm512_sub_ps(_s1, _s2), _u = _mm512_add_ps(_s3, _s4), _w = _mm512_sub_ps(_s3, _s4); \
	o[0] = _mm512_add_ps(_mm512_add_ps(_s0, _p), _u); \
	o[os] = _mm512_fmadd_ps(_f2, _w, _q); \
	o[2 * os] = _mm512_fmadd_ps(_f4, _u, _p); \
	o[3 * os] = _mm512_add_ps(_mm512_fmadd_ps(_f8, _w, _q), _s5); }

// WINO25_AT sets o[0], o[os] to A^T s for one column of s (s[k*st]), A^T =
// [[1,1,1,1,1,0],[0,1,-1,2,-2,1]] (F(2x2, 5x5): the points of F(4x4, 3x3),
// whose B^T it shares).
#define WINO25_AT(o, os, s, st) { \
	__m512 _s0 = s[0], _s1 = s[st], _s2 = s[2 * st], _s3 = s[3 * st], _s4 = s[4 * st], _s5 = s[5 * st]; \
	__m512 _f2 = _mm512_set1_ps(2.0f); \
	__m512 _q = _mm512_sub_ps(_s1, _s2), _w = _mm512_sub_ps(_s3, _s4); \
	o[0] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(_s0, _s1), _mm512_add_ps(_s2, _s3)), _s4); \
	o[os] = _mm512_add_ps(_mm512_fmadd_ps(_f2, _w, _q), _s5); }

// WINO35_BT sets o[0..6 * os] to B^T d for one column of d (d[k*s]), the
// 7x7 B^T of F(3x3, 5x5) on the points 0, 1, -1, 2, -2, 1/2, -1/2: row k
// holds the coefficients, lowest degree first, of the product of (x - p)
// over the points p other than the k-th (avx512.h). Rows 1 and 2, 3 and 4,
// 5 and 6 are the sum and difference of an even and an odd part.
#define WINO35_BT(o, os, d, s) { \
	__m512 _d0 = d[0], _d1 = d[s], _d2 = d[2 * s], _d3 = d[3 * s], _d4 = d[4 * s], _d5 = d[5 * s], _d6 = d[6 * s]; \
	o[0] = _mm512_fmadd_ps(_mm512_set1_ps(5.25f), _mm512_sub_ps(_d2, _d4), _mm512_sub_ps(_d6, _d0)); \
	__m512 _e = _mm512_fnmadd_ps(_mm512_set1_ps(4.25f), _d4, _mm512_add_ps(_d2, _d6)); \
	__m512 _o = _mm512_fnmadd_ps(_mm512_set1_ps(4.25f), _d3, _mm512_add_ps(_d1, _d5)); \
	o[os] = _mm512_add_ps(_e, _o); \
	o[2 * os] = _mm512_sub_ps(_e, _o); \
	_e = _mm512_fnmadd_ps(_mm512_set1_ps(1.25f), _d4, _mm512_fmadd_ps(_mm512_set1_ps(0.25f), _d2, _d6)); \
	_o = _mm512_fnmadd_ps(_mm512_set1_ps(2.5f), _d3, _mm512_fmadd_ps(_mm512_set1_ps(0.5f), _d1, _mm512_add_ps(_d5, _d5))); \
	o[3 * os] = _mm512_add_ps(_e, _o); \
	o[4 * os] = _mm512_sub_ps(_e, _o); \
	_e = _mm512_fnmadd_ps(_mm512_set1_ps(5.0f), _d4, _mm512_fmadd_ps(_mm512_set1_ps(4.0f), _d2, _d6)); \
	_o = _mm512_fnmadd_ps(_mm512_set1_ps(2.5f), _d3, _mm512_fmadd_ps(_mm512_set1_ps(2.0f), _d1, _mm512_mul_ps(_mm512_set1_ps(0.5f), _d5))); \
	o[5 * os] = _mm512_add_ps(_e, _o); \
	o[6 * os] = _mm512_sub_ps(_e, _o); }

// WINO35_AT sets o[0], o[os], o[2 * os] to A^T s for one column of s
// (s[k*st]), A^T = [[1,1,1,1,1,1,1],[0,1,-1,2,-2,1/2,-1/2],[0,1,1,4,4,1/4,1/4]]
// (F(3x3, 5x5)).
#define WINO35_AT(o, os, s, st) { \
	__m512 _s0 = s[0], _s1 = s[st], _s2 = s[2 * st], _s3 = s[3 * st], _s4 = s[4 * st], _s5 = s[5 * st], _s6 = s[6 * st]; \
	__m512 _p1 = _mm512_add_ps(_s1, _s2), _q1 = _mm512_sub_ps(_s1, _s2), _p2 = _mm512_add_ps(_s3, _s4), _q2 = _mm512_sub_ps(_s3, _s4); \
	__m512 _p3 = _mm512_add_ps(_s5, _s6), _q3 = _mm512_sub_ps(_s5, _s6); \
	o[0] = _mm512_add_ps(_mm512_add_ps(_s0, _p1), _mm512_add_ps(_p2, _p3)); \
	o[os] = _mm512_fmadd_ps(_mm512_set1_ps(0.5f), _q3, _mm512_fmadd_ps(_mm512_set1_ps(2.0f), _q2, _q1)); \
	o[2 * os] = _mm512_fmadd_ps(_mm512_set1_ps(0.25f), _p3, _mm512_fmadd_ps(_mm512_set1_ps(4.0f), _p2, _p1)); }

// crd_wino_in: V = B^T d B for each q x q input tile d (q = m + r - 1), 16
// channels at a time: B^T down each column of d, then along each row of the
// result.
__attribute__((target("avx512f")))
void crd_wino_in(int m, int r, const float *x, int h, int w, int cin, int pt, int pl, int th, int tw, long t0, int nt,
                 float *v, long ldv, long es) {
	int q = m + r - 1, count = q * q;
	for (int i = 0; i < nt; i++) {
		const float *px[49];
		wino_inputs(x, h, w, cin, pt, pl, th, tw, t0 + i, m, q, px);
		float *vo = v + (long)i * ldv;
		for (int c = 0; c < cin; c += 16) {
			__mmask16 k = wmask(cin - c);
			__m512 d[49], t[49], o[49];
			wino_load(px, count, c, k, d);
			if (q == 4) {
				for (int b = 0; b < 4; b++) WINO2_BT((t + b), 4, (d + b), 4)
				for (int a = 0; a < 4; a++) WINO2_BT((o + 4 * a), 1, (t + 4 * a), 1)
			} else if (q == 7) {
				for (int b = 0; b < 7; b++) WINO35_BT((t + b), 7, (d + b), 7)
				for (int a = 0; a < 7; a++) WINO35_BT((o + 7 * a), 1, (t + 7 * a), 1)
			} else {
				for (int b = 0; b < 6; b++) WINO4_BT((t + b), 6, (d + b), 6)
				for (int a = 0; a < 6; a++) WINO4_BT((o + 6 * a), 1, (t + 6 * a), 1)
			}
			for (int e = 0; e < count; e++) _mm512_mask_storeu_ps(vo + e * es + c, k, o[e]);
		}
	}
}

// crd_wino_out: Y = A^T M A for each tile (A^T down each column of M, then
// along each row), + residual, + bias, ReLU, into the output pixels that lie
// inside the output.
__attribute__((target("avx512f")))
void crd_wino_out(int m, int r, const float *mm, long ldm, long es, long t0, int nt, int th, int tw, int oh, int ow, int j0,
                  int j1, const float *bias, int relu, const float *res, long ldr, float *dst, long ldd) {
	int q = m + r - 1, count = q * q;
	for (int i = 0; i < nt; i++) {
		const float *mi = mm + (long)i * ldm;
		for (int j = j0; j < j1; j += 16) {
			__mmask16 k = wmask(j1 - j);
			__m512 s[49], u[24], y[16];
			for (int e = 0; e < count; e++) s[e] = _mm512_maskz_loadu_ps(k, mi + e * es + j);
			if (m == 2 && q == 4) {
				for (int b = 0; b < 4; b++) WINO2_AT((u + b), 4, (s + b), 4)
				for (int a = 0; a < 2; a++) WINO2_AT((y + 2 * a), 1, (u + 4 * a), 1)
			} else if (m == 2) {
				for (int b = 0; b < 6; b++) WINO25_AT((u + b), 6, (s + b), 6)
				for (int a = 0; a < 2; a++) WINO25_AT((y + 2 * a), 1, (u + 6 * a), 1)
			} else if (m == 3) {
				for (int b = 0; b < 7; b++) WINO35_AT((u + b), 7, (s + b), 7)
				for (int a = 0; a < 3; a++) WINO35_AT((y + 3 * a), 1, (u + 7 * a), 1)
			} else {
				for (int b = 0; b < 6; b++) WINO4_AT((u + b), 6, (s + b), 6)
				for (int a = 0; a < 4; a++) WINO4_AT((y + 4 * a), 1, (u + 6 * a), 1)
			}
			wino_store(y, m, t0 + i, th, tw, oh, ow, j, k, bias, relu, res, ldr, dst, ldd);
		}
	}
}
