//go:build cgo && amd64

// The heat-map blend of package report (see avx512.h).

#include <immintrin.h>
#include <stddef.h>

#include "avx512.h"

// blend8 blends the 8 pixels at r, g, b, m into the int32 values out[k*8 + j] (channel k of pixel j), in double
// precision with each product and sum rounded as the reference loop rounds it (no fused multiply-add).
__attribute__((target("avx512f"), optimize("fp-contract=off")))
static inline void blend8(const float *r, const float *g, const float *b, const float *m, double lo, double hi,
                          double keep, const double *heat, int *out) {
	const __m512d zero = _mm512_setzero_pd(), one = _mm512_set1_pd(1), half = _mm512_set1_pd(0.5);
	__m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(m));
	__m256i idx;
	if (hi <= lo) {
		__mmask8 above = _mm512_cmp_pd_mask(v, _mm512_set1_pd(lo), _CMP_GT_OQ);
		idx = _mm512_cvttpd_epi32(_mm512_maskz_mov_pd(above, _mm512_set1_pd(255)));
	} else {
		__m512d q = _mm512_div_pd(_mm512_sub_pd(v, _mm512_set1_pd(lo)), _mm512_set1_pd(hi - lo));
		__mmask8 pos = _mm512_cmp_pd_mask(q, zero, _CMP_GT_OQ); // false for NaN
		__m512d t = _mm512_mul_pd(_mm512_min_pd(q, one), _mm512_set1_pd(256));
		t = _mm512_min_pd(t, _mm512_set1_pd(255)); // min(int(t), 255) == int(min(t, 255)) for t in (0, 256]
		idx = _mm512_cvttpd_epi32(_mm512_maskz_mov_pd(pos, t));
	}
	__m256i idx3 = _mm256_add_epi32(_mm256_add_epi32(idx, idx), idx); // heat is 256 rows of 3
	const float *ch[3] = {r, g, b};
	for (int k = 0; k < 3; k++) {
		__m512d hc = _mm512_i32gather_pd(idx3, heat + k, 8);
		__m512d c = _mm512_cvtps_pd(_mm256_loadu_ps(ch[k]));
		c = _mm512_min_pd(one, _mm512_max_pd(zero, c)); // NaN stays NaN, as with Go's min and max
		__m512d x = _mm512_add_pd(_mm512_mul_pd(_mm512_set1_pd(keep), _mm512_mul_pd(_mm512_set1_pd(255), c)), hc);
		__m512d t = _mm512_cvtepi32_pd(_mm512_cvttpd_epi32(x));
		__mmask8 up = _mm512_cmp_pd_mask(_mm512_sub_pd(x, t), half, _CMP_GE_OQ);
		t = _mm512_mask_add_pd(t, up, t, one);
		_mm256_storeu_si256((__m256i *)(out + 8 * k), _mm512_cvttpd_epi32(t));
	}
}

__attribute__((target("avx512f")))
void crd_blend(const float *r, const float *g, const float *b, const float *m, int n, double lo, double hi, double keep,
               const double *heat, unsigned char *dst, int step) {
	int out[24];
	for (int i = 0; i < n; i += 8) {
		int c = n - i < 8 ? n - i : 8;
		if (c == 8) {
			blend8(r + i, g + i, b + i, m + i, lo, hi, keep, heat, out);
		} else {
			float t[4][8] = {{0}};
			for (int j = 0; j < c; j++) t[0][j] = r[i + j], t[1][j] = g[i + j], t[2][j] = b[i + j], t[3][j] = m[i + j];
			blend8(t[0], t[1], t[2], t[3], lo, hi, keep, heat, out);
		}
		for (int j = 0; j < c; j++) {
			unsigned char *p = dst + (size_t)(i + j) * step;
			p[0] = (unsigned char)out[j], p[1] = (unsigned char)out[8 + j], p[2] = (unsigned char)out[16 + j];
			if (step == 4) p[3] = 255;
		}
	}
}
