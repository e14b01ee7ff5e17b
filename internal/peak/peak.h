//go:build cgo && amd64

#ifndef CRD_PEAK_H
#define CRD_PEAK_H

// crd_peak runs n rounds of 24 independent 8-wide float64 FMAs, all in
// registers (384 flops a round): the core's float64 peak, with nothing to
// wait for but the FMA units. It returns a sum of the results, so that the
// loop is not optimised away. The reference loop:
//
//	for (k = 0; k < n; k++)
//		for (i = 0; i < 24; i++)
//			for (l = 0; l < 8; l++) c[i][l] = a * c[i][l] + b;
double crd_peak(long n);

#endif
