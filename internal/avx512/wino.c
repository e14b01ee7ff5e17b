//go:build cgo && amd64

// The input and output transforms of Winograd F(2x2, 3x3) convolutions (see avx512.h).

#include <immintrin.h>
#include <stddef.h>

#include "avx512.h"

static __mmask16 wmask(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// crd_wino_in: V = B^T d B for each 4x4 input tile d, 16 channels at a time.
__attribute__((target("avx512f")))
void crd_wino_in(const float *x, int h, int w, int cin, int pt, int pl, int th, int tw, long t0, int nt, float *v,
                 long ldv, long es) {
	long per = (long)th * tw;
	for (int i = 0; i < nt; i++) {
		long t = t0 + i;
		long n = t / per;
		int r = (int)(t % per), ty = r / tw, tx = r % tw;
		int iy0 = 2 * ty - pt, ix0 = 2 * tx - pl;
		const float *px[16];
		for (int a = 0; a < 4; a++)
			for (int b = 0; b < 4; b++) {
				int iy = iy0 + a, ix = ix0 + b;
				px[a * 4 + b] = iy >= 0 && iy < h && ix >= 0 && ix < w ? x + ((n * h + iy) * w + ix) * (long)cin : NULL;
			}
		float *vo = v + (long)i * ldv;
		for (int c = 0; c < cin; c += 16) {
			__mmask16 m = wmask(cin - c);
			__m512 d[16];
			for (int k = 0; k < 16; k++) d[k] = px[k] ? _mm512_maskz_loadu_ps(m, px[k] + c) : _mm512_setzero_ps();
			// t = B^T d (rows), then t B (columns).
			__m512 t[16];
			for (int b = 0; b < 4; b++) {
				t[0 * 4 + b] = _mm512_sub_ps(d[0 * 4 + b], d[2 * 4 + b]);
				t[1 * 4 + b] = _mm512_add_ps(d[1 * 4 + b], d[2 * 4 + b]);
				t[2 * 4 + b] = _mm512_sub_ps(d[2 * 4 + b], d[1 * 4 + b]);
				t[3 * 4 + b] = _mm512_sub_ps(d[1 * 4 + b], d[3 * 4 + b]);
			}
			for (int a = 0; a < 4; a++) {
				__m512 u0 = _mm512_sub_ps(t[a * 4 + 0], t[a * 4 + 2]);
				__m512 u1 = _mm512_add_ps(t[a * 4 + 1], t[a * 4 + 2]);
				__m512 u2 = _mm512_sub_ps(t[a * 4 + 2], t[a * 4 + 1]);
				__m512 u3 = _mm512_sub_ps(t[a * 4 + 1], t[a * 4 + 3]);
				_mm512_mask_storeu_ps(vo + (a * 4 + 0) * es + c, m, u0);
				_mm512_mask_storeu_ps(vo + (a * 4 + 1) * es + c, m, u1);
				_mm512_mask_storeu_ps(vo + (a * 4 + 2) * es + c, m, u2);
				_mm512_mask_storeu_ps(vo + (a * 4 + 3) * es + c, m, u3);
			}
		}
	}
}

// crd_wino_out: Y = A^T m A for each tile, + residual, + bias, ReLU, into
// the output pixels that lie inside the output.
__attribute__((target("avx512f")))
void crd_wino_out(const float *mm, long ldm, long es, long t0, int nt, int th, int tw, int oh, int ow, int j0, int j1,
                  const float *bias, int relu, const float *res, long ldr, float *dst, long ldd) {
	long per = (long)th * tw;
	for (int i = 0; i < nt; i++) {
		long t = t0 + i;
		long n = t / per;
		int r = (int)(t % per), ty = r / tw, tx = r % tw;
		int oy0 = 2 * ty, ox0 = 2 * tx;
		int ny = oh - oy0 < 2 ? oh - oy0 : 2, nx = ow - ox0 < 2 ? ow - ox0 : 2;
		const float *mi = mm + (long)i * ldm;
		for (int j = j0; j < j1; j += 16) {
			__mmask16 k = wmask(j1 - j);
			__m512 s[16];
			for (int e = 0; e < 16; e++) s[e] = _mm512_maskz_loadu_ps(k, mi + e * es + j);
			// u = A^T m (2 x 4), then y = u A (2 x 2).
			__m512 u[8];
			for (int b = 0; b < 4; b++) {
				u[0 * 4 + b] = _mm512_add_ps(_mm512_add_ps(s[0 * 4 + b], s[1 * 4 + b]), s[2 * 4 + b]);
				u[1 * 4 + b] = _mm512_sub_ps(_mm512_sub_ps(s[1 * 4 + b], s[2 * 4 + b]), s[3 * 4 + b]);
			}
			__m512 bv = bias ? _mm512_maskz_loadu_ps(k, bias + j) : _mm512_setzero_ps();
			for (int a = 0; a < ny; a++) {
				__m512 y[2];
				y[0] = _mm512_add_ps(_mm512_add_ps(u[a * 4 + 0], u[a * 4 + 1]), u[a * 4 + 2]);
				y[1] = _mm512_sub_ps(_mm512_sub_ps(u[a * 4 + 1], u[a * 4 + 2]), u[a * 4 + 3]);
				for (int b = 0; b < nx; b++) {
					long p = (n * oh + oy0 + a) * ow + ox0 + b;
					__m512 o = y[b];
					if (res) o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(k, res + p * ldr + j));
					if (bias) o = _mm512_add_ps(o, bv);
					if (relu)
						o = _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_srai_epi32(_mm512_castps_si512(o), 31),
						                                            _mm512_castps_si512(o)));
					_mm512_mask_storeu_ps(dst + p * ldd + j, k, o);
				}
			}
		}
	}
}
