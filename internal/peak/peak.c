//go:build cgo && amd64

#include <immintrin.h>

#include "peak.h"

__attribute__((target("avx512f"), noinline))
double crd_peak(long n) {
	__m512d c[24];
	for (int i = 0; i < 24; i++) c[i] = _mm512_set1_pd(i * 1e-3);
	__m512d a = _mm512_set1_pd(0.999999), b = _mm512_set1_pd(1e-9);
	for (long k = 0; k < n; k++) {
#pragma GCC unroll 24
		for (int i = 0; i < 24; i++) c[i] = _mm512_fmadd_pd(a, c[i], b);
	}
	double s = 0;
	for (int i = 0; i < 24; i++) s += _mm512_reduce_add_pd(c[i]);
	return s;
}
