//go:build cgo && amd64

// Neighbours: inner products of neighbouring columns (see avx512.h).

#include <stddef.h>

#include "avx512.h"

__attribute__((target("avx512f")))
void crd_neighbours(const float *restrict v, int n, int pc, int wc, double *restrict g) {
	double *restrict g0 = g, *restrict gr = g + pc, *restrict gdl = g + 2 * (size_t)pc;
	double *restrict gd = g + 3 * (size_t)pc, *restrict gdr = g + 4 * (size_t)pc;
	int inner = pc - wc - 1 > 0 ? pc - wc - 1 : 0;
	for (int i = 0; i < n; i++) {
		const float *restrict a = v + (size_t)i * pc;
		// Where every neighbour exists.
		for (int k = 0; k < inner; k++) {
			double a0 = a[k];
			g0[k] += a0 * a0;
			gr[k] += a0 * a[k + 1];
			gdl[k] += a0 * a[k + wc - 1];
			gd[k] += a0 * a[k + wc];
			gdr[k] += a0 * a[k + wc + 1];
		}
		for (int k = inner; k < pc; k++) {
			double a0 = a[k];
			g0[k] += a0 * a0;
			if (k + 1 < pc) gr[k] += a0 * a[k + 1];
			if (k + wc - 1 < pc) gdl[k] += a0 * a[k + wc - 1];
			if (k + wc < pc) gd[k] += a0 * a[k + wc];
			if (k + wc + 1 < pc) gdr[k] += a0 * a[k + wc + 1];
		}
	}
}
