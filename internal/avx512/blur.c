//go:build cgo && amd64

// The sums of the anomaly map's separable Gaussian blur (see avx512.h).

#include <immintrin.h>
#include <stddef.h>

#include "avx512.h"

static __mmask16 bmask(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// BV is the number of 16-float vectors of outputs summed side by side.
#define BV 4

// Every lane gets crd_blur_sum's multiplications and additions, each
// rounded to float32 in the reference loop's order: no fused multiply-add
// (fp-contract off, whatever flags the build adds).
__attribute__((target("avx512f"), optimize("fp-contract=off")))
void crd_blur_sum(const float *src, const long *lo, const long *hi, const float *g, int r, float *out, int n) {
	__m512 c = _mm512_set1_ps(g[r]);
	int x = 0;
	for (; x + 16 * BV <= n; x += 16 * BV) {
		__m512 s[BV];
		for (int v = 0; v < BV; v++) s[v] = _mm512_mul_ps(c, _mm512_loadu_ps(src + lo[0] + x + 16 * v));
		for (int k = 1; k <= r; k++) {
			__m512 gk = _mm512_set1_ps(g[r + k]);
			const float *l = src + lo[k] + x, *h = src + hi[k] + x;
			for (int v = 0; v < BV; v++) {
				__m512 p = _mm512_add_ps(_mm512_loadu_ps(l + 16 * v), _mm512_loadu_ps(h + 16 * v));
				s[v] = _mm512_add_ps(s[v], _mm512_mul_ps(gk, p));
			}
		}
		for (int v = 0; v < BV; v++) _mm512_storeu_ps(out + x + 16 * v, s[v]);
	}
	for (; x < n; x += 16) {
		__mmask16 m = bmask(n - x);
		__m512 s = _mm512_mul_ps(c, _mm512_maskz_loadu_ps(m, src + lo[0] + x));
		for (int k = 1; k <= r; k++) {
			__m512 p = _mm512_add_ps(_mm512_maskz_loadu_ps(m, src + lo[k] + x), _mm512_maskz_loadu_ps(m, src + hi[k] + x));
			s = _mm512_add_ps(s, _mm512_mul_ps(_mm512_set1_ps(g[r + k]), p));
		}
		_mm512_mask_storeu_ps(out + x, m, s);
	}
}
