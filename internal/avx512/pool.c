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
// (past the last channel, m0..m3) are neither read nor written; a vector
// whose mask is empty is skipped. The PB = 4 accumulators and NaN masks are
// separate variables, and max (the reduction: a constant where it is
// inlined) picks the loop, so that they stay in registers.
__attribute__((target("avx512f"), always_inline, optimize("fp-contract=off")))
static inline void pool_pixel(const int max, const float *x, long rowStride, int C, int y0, int y1, int x0, int x1,
                              int c, __mmask16 m0, __mmask16 m1, __mmask16 m2, __mmask16 m3, float inv,
                              const float *bias, int relu, float *o) {
	__m512 init = max ? _mm512_set1_ps(-INFINITY) : _mm512_setzero_ps();
	__m512 a0 = init, a1 = init, a2 = init, a3 = init;
	__mmask16 n0 = 0, n1 = 0, n2 = 0, n3 = 0; // lanes that have seen a NaN (max only)
	for (int y = y0; y < y1; y++) {
		const float *in = x + (size_t)y * rowStride + c + (size_t)x0 * C;
		for (int xx = x0; xx < x1; xx++, in += C) {
#define PSTEP(v)                                                                  \
	if (m##v) {                                                               \
		__m512 t = _mm512_maskz_loadu_ps(m##v, in + 16 * v);                  \
		if (max) {                                                            \
			n##v |= _mm512_cmp_ps_mask(t, t, _CMP_UNORD_Q);                   \
			a##v = _mm512_max_ps(t, a##v);                                    \
		} else {                                                              \
			a##v = _mm512_add_ps(a##v, t);                                    \
		}                                                                     \
	}
			PSTEP(0) PSTEP(1) PSTEP(2) PSTEP(3)
#undef PSTEP
		}
	}
	__m512 s = _mm512_set1_ps(inv), nan = _mm512_set1_ps(NAN);
#define PEND(v)                                                                                                    \
	if (m##v) {                                                                                                \
		if (max) a##v = _mm512_mask_mov_ps(a##v, n##v, nan);                                                  \
		else a##v = _mm512_mul_ps(a##v, s);                                                                   \
		if (bias) a##v = _mm512_add_ps(a##v, _mm512_maskz_loadu_ps(m##v, bias + c + 16 * v));                \
		if (relu)                                                                                              \
			a##v = _mm512_castsi512_ps(                                                                        \
			    _mm512_andnot_si512(_mm512_srai_epi32(_mm512_castps_si512(a##v), 31), _mm512_castps_si512(a##v))); \
		_mm512_mask_storeu_ps(o + c + 16 * v, m##v, a##v);                                                     \
	}
	PEND(0) PEND(1) PEND(2) PEND(3)
#undef PEND
}

// pool_rows is crd_pool for one reduction, max (a constant where it is
// inlined) or the average.
__attribute__((target("avx512f"), always_inline, optimize("fp-contract=off")))
static inline void pool_rows(const int max, const float *x, const struct crd_pool_shape *s, float *dst, int r0, int r1,
                             const float *bias, int relu) {
	int C = s->c;
	long rowStride = (long)s->w * C;
	int cfull = C / (16 * PB) * (16 * PB);
	__mmask16 t0 = pmask(C - cfull), t1 = pmask(C - cfull - 16), t2 = pmask(C - cfull - 32), t3 = pmask(C - cfull - 48);
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
			for (; c < cfull; c += 16 * PB)
				pool_pixel(max, img, rowStride, C, y0, y1, x0, x1, c, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, inv, bias, relu, o);
			if (c < C) pool_pixel(max, img, rowStride, C, y0, y1, x0, x1, c, t0, t1, t2, t3, inv, bias, relu, o);
		}
	}
}

// No fused multiply-add: the average is rounded before the bias is added,
// as in the Go loops.
__attribute__((target("avx512f"), optimize("fp-contract=off")))
void crd_pool(const float *x, const struct crd_pool_shape *s, float *dst, int r0, int r1, const float *bias, int relu) {
	if (s->kind == CRD_POOL_MAX)
		pool_rows(1, x, s, dst, r0, r1, bias, relu);
	else
		pool_rows(0, x, s, dst, r0, r1, bias, relu);
}
