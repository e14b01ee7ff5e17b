//go:build cgo && amd64

// The NHWC to NCHW conversion of a map's channels (see avx512.h).

#include <immintrin.h>
#include <stddef.h>

#include "avx512.h"

static __mmask16 tmask(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// tr16 transposes the 16 x 16 block r (r[i] is row i) in place.
__attribute__((target("avx512f")))
static inline void tr16(__m512 r[16]) {
	__m512 t[16];
	for (int i = 0; i < 16; i += 2) {
		t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
		t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
	}
	for (int i = 0; i < 16; i += 4) {
		r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
		r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
		r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
		r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
	}
	for (int h = 0; h < 16; h += 8) {
		for (int i = 0; i < 4; i++) {
			t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
			t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
		}
	}
	for (int i = 0; i < 8; i++) {
		r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
		r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
	}
}

__attribute__((target("avx512f")))
void crd_transpose(const float *src, int p, int c, int c0, int c1, float *dst, long ldd) {
	for (int ch = c0; ch < c1; ch += 16) {
		int nc = c1 - ch < 16 ? c1 - ch : 16;
		__mmask16 cm = tmask(nc);
		for (int q = 0; q < p; q += 16) {
			int nq = p - q < 16 ? p - q : 16;
			__m512 r[16];
			for (int i = 0; i < 16; i++)
				r[i] = i < nq ? _mm512_maskz_loadu_ps(cm, src + (size_t)(q + i) * c + ch) : _mm512_setzero_ps();
			tr16(r);
			__mmask16 qm = tmask(nq);
			for (int i = 0; i < nc; i++) _mm512_mask_storeu_ps(dst + (size_t)(ch + i) * ldd + q, qm, r[i]);
		}
	}
}
