//go:build cgo && amd64

// The direct convolution of an image stored as planes (see avx512.h).

#include <immintrin.h>
#include <stddef.h>

#include "avx512.h"

// cp_tile computes nr (a constant: 12, 4 or 1) output pixels of one output
// row, starting at the window whose first tap is x0 in plane 0, into out
// (row stride ldc). Each pixel's two vectors of 16 outputs start at zero
// and take one fused multiply-add per tap, taps in (ky, kx, c) order, then
// + bias and the ReLU: sgemm.c's arithmetic for the im2col row of the
// pixel (one part of the inner dimension), so the same values bit for bit.
__attribute__((target("avx512f"), always_inline))
static inline void cp_tile(const int nr, const float *x0, long plane, long w, int kh, int kw, int cin, int stride,
                           const float *wt, long ldw, __m512 b0, __m512 b1, int relu, float *out, long ldc) {
#define CDECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
	CDECL(0) CDECL(1) CDECL(2) CDECL(3) CDECL(4) CDECL(5) CDECL(6) CDECL(7) CDECL(8) CDECL(9) CDECL(10) CDECL(11)
	for (int ky = 0; ky < kh; ky++) {
		for (int kx = 0; kx < kw; kx++) {
			const float *xr = x0 + ky * w + kx;
			for (int c = 0; c < cin; c++, wt += ldw, xr += plane) {
				__m512 y0 = _mm512_loadu_ps(wt), y1 = _mm512_loadu_ps(wt + 16);
#define CSTEP(r) if (r < nr) { __m512 v = _mm512_set1_ps(xr[r * stride]); c##r##0 = _mm512_fmadd_ps(v, y0, c##r##0); c##r##1 = _mm512_fmadd_ps(v, y1, c##r##1); }
				CSTEP(0) CSTEP(1) CSTEP(2) CSTEP(3) CSTEP(4) CSTEP(5) CSTEP(6) CSTEP(7) CSTEP(8) CSTEP(9) CSTEP(10) CSTEP(11)
			}
		}
	}
#define CRELU1(v) v = _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_srai_epi32(_mm512_castps_si512(v), 31), _mm512_castps_si512(v)));
#define CEND(r) if (r < nr) { c##r##0 = _mm512_add_ps(c##r##0, b0); c##r##1 = _mm512_add_ps(c##r##1, b1); \
	if (relu) { CRELU1(c##r##0) CRELU1(c##r##1) } \
	_mm512_storeu_ps(out + r * ldc, c##r##0); _mm512_storeu_ps(out + r * ldc + 16, c##r##1); }
	CEND(0) CEND(1) CEND(2) CEND(3) CEND(4) CEND(5) CEND(6) CEND(7) CEND(8) CEND(9) CEND(10) CEND(11)
}

#define CPTILE(name, nr)                                                                                              \
	__attribute__((target("avx512f"), noinline)) static void name(                                                 \
	    const float *x0, long plane, long w, int kh, int kw, int cin, int stride, const float *wt, long ldw,          \
	    __m512 b0, __m512 b1, int relu, float *out, long ldc) {                                                       \
		cp_tile(nr, x0, plane, w, kh, kw, cin, stride, wt, ldw, b0, b1, relu, out, ldc);                          \
	}
CPTILE(cp_tile12, 12)
CPTILE(cp_tile4, 4)
CPTILE(cp_tile1, 1)

__attribute__((target("avx512f")))
void crd_conv_planes(const float *x, int cin, int h, int w, int kh, int kw, int stride, int outh, int outw,
                     const float *wt, long ldw, const float *bias, int relu, float *out, long ldc, int r0, int r1) {
	__m512 b0 = _mm512_loadu_ps(bias), b1 = _mm512_loadu_ps(bias + 16);
	long plane = (long)h * w;
	for (int r = r0; r < r1; r++) {
		int n = r / outh, oy = r % outh;
		const float *xrow = x + (long)n * cin * plane + (long)oy * stride * w;
		float *orow = out + (long)r * outw * ldc;
		int ox = 0;
		for (; ox + 12 <= outw; ox += 12)
			cp_tile12(xrow + (long)ox * stride, plane, w, kh, kw, cin, stride, wt, ldw, b0, b1, relu, orow + ox * ldc, ldc);
		for (; ox + 4 <= outw; ox += 4)
			cp_tile4(xrow + (long)ox * stride, plane, w, kh, kw, cin, stride, wt, ldw, b0, b1, relu, orow + ox * ldc, ldc);
		for (; ox < outw; ox++)
			cp_tile1(xrow + (long)ox * stride, plane, w, kh, kw, cin, stride, wt, ldw, b0, b1, relu, orow + ox * ldc, ldc);
	}
}
