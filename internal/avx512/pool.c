//go:build cgo && amd64

// Max and average pooling of NHWC maps (see avx512.h).

#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#include "avx512.h"

// PB is the number of 16-float vectors of channels one pass over a window
// keeps in registers.
#define PB 4

static __mmask16 pmask(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// Channels [c, c + 16 PB) of one output pixel o: the window cells are
// visited row by row, as crd_pool's reference loop does. Masked lanes
// (past the last channel, m[v]) are neither read nor written.
__attribute__((target("avx512f")))
static inline void pool_pixel(const float *x, long rowStride, int W, int C, int y0, int y1, int x0, int x1, int c,
                              const __mmask16 *m, int kind, float inv, const float *bias, int relu, float *o) {
	__m512 acc[PB];
	__mmask16 nan[PB] = {0}; // lanes that have seen a NaN (max only)
	__m512 init = kind == CRD_POOL_MAX ? _mm512_set1_ps(-INFINITY) : _mm512_setzero_ps();
	for (int v = 0; v < PB; v++) acc[v] = init;
	for (int y = y0; y < y1; y++) {
		const float *row = x + (size_t)y * rowStride + c;
		for (int xx = x0; xx < x1; xx++) {
			const float *in = row + (size_t)xx * C;
			if (kind == CRD_POOL_MAX) {
				for (int v = 0; v < PB; v++) {
					__m512 a = _mm512_maskz_loadu_ps(m[v], in + 16 * v);
					nan[v] |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q);
					acc[v] = _mm512_max_ps(a, acc[v]);
				}
			} else {
				for (int v = 0; v < PB; v++) acc[v] = _mm512_add_ps(acc[v], _mm512_maskz_loadu_ps(m[v], in + 16 * v));
			}
		}
	}
	if (kind == CRD_POOL_MAX) {
		for (int v = 0; v < PB; v++) acc[v] = _mm512_mask_mov_ps(acc[v], nan[v], _mm512_set1_ps(NAN));
	} else {
		__m512 s = _mm512_set1_ps(inv);
		for (int v = 0; v < PB; v++) acc[v] = _mm512_mul_ps(acc[v], s);
	}
	if (bias)
		for (int v = 0; v < PB; v++) acc[v] = _mm512_add_ps(acc[v], _mm512_maskz_loadu_ps(m[v], bias + c + 16 * v));
	if (relu)
		for (int v = 0; v < PB; v++)
			acc[v] = _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_srai_epi32(_mm512_castps_si512(acc[v]), 31), _mm512_castps_si512(acc[v])));
	for (int v = 0; v < PB; v++) _mm512_mask_storeu_ps(o + c + 16 * v, m[v], acc[v]);
}

__attribute__((target("avx512f")))
void crd_pool(const float *x, const struct crd_pool_shape *s, float *dst, int r0, int r1, const float *bias, int relu) {
	int C = s->c;
	long rowStride = (long)s->w * C;
	__mmask16 full[PB], tail[PB];
	int cfull = C / (16 * PB) * (16 * PB);
	for (int v = 0; v < PB; v++) {
		full[v] = 0xFFFF;
		tail[v] = pmask(C - cfull - 16 * v);
	}
	for (int r = r0; r < r1; r++) {
		int n = r / s->oh, oy = r % s->oh;
		int ys = oy * s->sh - s->pt, ye = ys + s->kh;
		int y0 = ys > 0 ? ys : 0, y1 = ye < s->h ? ye : s->h;
		const float *img = x + (size_t)n * s->h * rowStride;
		for (int ox = 0; ox < s->ow; ox++) {
			int xs = ox * s->sw - s->pl, xe = xs + s->kw;
			int x0 = xs > 0 ? xs : 0, x1 = xe < s->w ? xe : s->w;
			int cnt;
			if (s->kind == CRD_POOL_AVG_INCLUDE) {
				int yb = ye < s->h + s->pb ? ye : s->h + s->pb, xb = xe < s->w + s->pr ? xe : s->w + s->pr;
				cnt = (yb - ys) * (xb - xs);
			} else {
				cnt = (y1 - y0) * (x1 - x0);
			}
			float inv = cnt > 0 ? 1.0f / (float)cnt : 1.0f;
			float *o = dst + ((size_t)r * s->ow + ox) * s->ldo;
			int c = 0;
			for (; c < cfull; c += 16 * PB) pool_pixel(img, rowStride, s->w, C, y0, y1, x0, x1, c, full, s->kind, inv, bias, relu, o);
			if (c < C) pool_pixel(img, rowStride, s->w, C, y0, y1, x0, x1, c, tail, s->kind, inv, bias, relu, o);
		}
	}
}
