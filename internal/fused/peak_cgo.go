//go:build cgo && amd64

package fused

/*
#cgo CFLAGS: -O3
#include <immintrin.h>

// n rounds of 24 independent 8-wide float64 FMAs, all in registers: the
// core's float64 peak, with nothing to wait for but the FMA units.
__attribute__((target("avx512f"), noinline))
static double crd_peak(long n) {
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
*/
import "C"

// PeakFlops runs a float64 FMA loop with all operands in registers on the
// calling thread and returns the flops it performed (at least n). Run on
// every core at once, it measures the machine's float64 peak: the baseline
// that the Gram benchmarks are read against, since on a shared machine
// absolute rates drift from run to run. It panics unless Available.
func PeakFlops(n int) float64 {
	if !Available {
		panic("fused: no AVX-512 kernel in this build or on this CPU")
	}
	rounds := (n + 383) / 384
	C.crd_peak(C.long(rounds))
	return float64(rounds) * 384
}
