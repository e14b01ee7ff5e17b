//go:build cgo && amd64

// The input resize of package preprocess, one plane (see avx512.h).

#include <immintrin.h>
#include <stddef.h>

#include "avx512.h"

static __mmask16 rmask(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// Each output's sum starts at zero and adds its taps' products in order, every product and sum rounded to
// float32 (no fused multiply-add), as preprocess's loops do.
__attribute__((target("avx512f"), optimize("fp-contract=off")))
void crd_resize_plane(const float *src, int w, int h, const int *xs, const int *xn, const float *xw, int xstep, int cw,
                      const int *ys, const int *yn, const float *yw, int ystep, int ch, float mean, float inv,
                      float *tmp, float *out) {
	(void)w;
	// Horizontal pass: h rows of cw outputs, 16 outputs a vector, their taps gathered.
	for (int x = 0; x < cw; x += 16) {
		__mmask16 live = rmask(cw - x);
		__m512i start = _mm512_maskz_loadu_epi32(live, xs + x), n = _mm512_maskz_loadu_epi32(live, xn + x);
		__mmask16 on[64];
		__m512 wk[64];
		int kmax = xstep < 64 ? xstep : 64;
		for (int k = 0; k < kmax; k++) {
			on[k] = _mm512_mask_cmpgt_epi32_mask(live, n, _mm512_set1_epi32(k));
			wk[k] = _mm512_maskz_loadu_ps(live, xw + (size_t)k * cw + x);
		}
		for (int y = 0; y < h; y++) {
			const float *row = src + (size_t)y * w;
			__m512 acc = _mm512_setzero_ps();
			for (int k = 0; k < kmax && on[k]; k++) {
				__m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), on[k], _mm512_add_epi32(start, _mm512_set1_epi32(k)), row, 4);
				acc = _mm512_mask_add_ps(acc, on[k], acc, _mm512_mul_ps(wk[k], v));
			}
			_mm512_mask_storeu_ps(tmp + (size_t)y * cw + x, live, acc);
		}
	}
	// Vertical pass, then normalise: output row y from rows ys[y] .. ys[y] + yn[y] - 1 of tmp.
	__m512 vmean = _mm512_set1_ps(mean), vinv = _mm512_set1_ps(inv);
	for (int y = 0; y < ch; y++) {
		const float *wy = yw + (size_t)y * ystep;
		const float *r0 = tmp + (size_t)ys[y] * cw;
		float *o = out + (size_t)y * cw;
		for (int x = 0; x < cw; x += 16) {
			__mmask16 m = rmask(cw - x);
			__m512 acc = _mm512_setzero_ps();
			for (int k = 0; k < yn[y]; k++)
				acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_set1_ps(wy[k]), _mm512_maskz_loadu_ps(m, r0 + (size_t)k * cw + x)));
			_mm512_mask_storeu_ps(o + x, m, _mm512_mul_ps(_mm512_sub_ps(acc, vmean), vinv));
		}
	}
}
