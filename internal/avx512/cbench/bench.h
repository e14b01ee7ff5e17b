// The helpers the C benchmark harnesses (cbench.c, bf16bench.c) share:
// clocks, aligned allocation that exits on failure, a comparison of
// doubles for qsort, and a small deterministic random generator. Define
// BENCH_NAME (the program's name, for error messages) before including it.

#ifndef CRD_CBENCH_BENCH_H
#define CRD_CBENCH_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef BENCH_NAME
#error "define BENCH_NAME before including bench.h"
#endif

// wall_now is the monotonic clock in seconds: for runs on several threads.
static inline double wall_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// cpu_now is the calling thread's CPU time in seconds, so that waiting for
// a core on a shared machine does not count.
static inline double cpu_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// xalloc returns n bytes (rounded up to 64) aligned to 64; it exits when
// memory runs out.
static inline void *xalloc(size_t n) {
	void *p = aligned_alloc(64, (n + 63) / 64 * 64);
	if (!p) {
		fprintf(stderr, "%s: out of memory\n", BENCH_NAME);
		exit(1);
	}
	return p;
}

// cmp orders doubles, for qsort.
static inline int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

// frand is the next value in [-0.5, 0.5) of a linear congruential
// generator with state *s.
static inline float frand(unsigned *s) {
	*s = *s * 1664525u + 1013904223u;
	return (float)(*s >> 8) / (1 << 24) - 0.5f;
}

#endif
