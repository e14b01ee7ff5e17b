//go:build cgo && amd64

// Bilinear resize of planes (see avx512.h).

#include <immintrin.h>
#include <stddef.h>

#include "avx512.h"

static __mmask16 lmask(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// Every lane gets the reference loop's two products and their sum, each rounded to float32 (no fused multiply-add).
__attribute__((target("avx512f"), optimize("fp-contract=off")))
void crd_resize_bilinear(const float *x, int n, int H, int W, int h, int w, const int *yi0, const int *yi1,
                         const float *wy0, const float *wy1, const int *xi0, const int *xi1, const float *wx0,
                         const float *wx1, float *rows, float *dst) {
	for (int p = 0; p < n; p++) {
		const float *src = x + (size_t)p * H * W;
		for (int sy = 0; sy < H; sy++) {
			const float *row = src + (size_t)sy * W;
			for (int ox = 0; ox < w; ox += 16) {
				__mmask16 m = lmask(w - ox);
				__m512 a = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, _mm512_maskz_loadu_epi32(m, xi0 + ox), row, 4);
				__m512 b = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, _mm512_maskz_loadu_epi32(m, xi1 + ox), row, 4);
				__m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, wx0 + ox), a),
				                         _mm512_mul_ps(_mm512_maskz_loadu_ps(m, wx1 + ox), b));
				_mm512_mask_storeu_ps(rows + (size_t)sy * w + ox, m, v);
			}
		}
		float *out = dst + (size_t)p * h * w;
		for (int oy = 0; oy < h; oy++) {
			const float *r0 = rows + (size_t)yi0[oy] * w, *r1 = rows + (size_t)yi1[oy] * w;
			__m512 w0 = _mm512_set1_ps(wy0[oy]), w1 = _mm512_set1_ps(wy1[oy]);
			for (int ox = 0; ox < w; ox += 16) {
				__mmask16 m = lmask(w - ox);
				__m512 v = _mm512_add_ps(_mm512_mul_ps(w0, _mm512_maskz_loadu_ps(m, r0 + ox)),
				                         _mm512_mul_ps(w1, _mm512_maskz_loadu_ps(m, r1 + ox)));
				_mm512_mask_storeu_ps(out + (size_t)oy * w + ox, m, v);
			}
		}
	}
}
