// bf16bench times the bf16 kernel (../bf16.c) against the float32 one
// (../sgemm.c) from C alone, one thread, on convolution shapes (a block of
// 384 im2col rows times a layer's weights; the bf16 time includes
// converting the rows to bf16), and the two instructions' peak rates:
// 24 independent vfmadd231ps (16 multiply-adds each) or vdpbf16ps (32) in
// a loop. Times are the thread's CPU time, so that waiting for a core on a
// shared machine does not count.
//
// Build (amd64, gcc 12): cc -O3 -o bin/bf16bench internal/avx512/cbench/bf16bench.c
// internal/avx512/sgemm.c internal/avx512/bf16.c. Run: bin/bf16bench [reps]
// (default 9); it prints medians and bests and their bf16 / float32 ratios.

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BENCH_NAME "bf16bench"
#include "bench.h"

#include "../avx512.h"
#include "../bf16.h"

// fmapeak and bf16peak run n rounds of 24 independent instructions.
__attribute__((target("avx512f"))) static void fmapeak(long n) {
	__asm__ volatile("vpxord %%zmm1, %%zmm1, %%zmm1\n\tvpxord %%zmm2, %%zmm2, %%zmm2\n\t1:\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm8\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm9\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm10\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm11\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm12\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm13\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm14\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm15\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm16\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm17\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm18\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm19\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm20\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm21\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm22\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm23\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm24\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm25\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm26\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm27\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm28\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm29\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm30\n\t"
		"vfmadd231ps %%zmm1, %%zmm2, %%zmm31\n\t"
		"dec %0\n\tjnz 1b"
		: "+r"(n)::"memory");
}

__attribute__((target("avx512f,avx512bf16"))) static void bf16peak(long n) {
	__asm__ volatile("vpxord %%zmm1, %%zmm1, %%zmm1\n\tvpxord %%zmm2, %%zmm2, %%zmm2\n\t1:\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm8\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm9\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm10\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm11\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm12\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm13\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm14\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm15\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm16\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm17\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm18\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm19\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm20\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm21\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm22\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm23\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm24\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm25\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm26\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm27\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm28\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm29\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm30\n\t"
		"vdpbf16ps %%zmm1, %%zmm2, %%zmm31\n\t"
		"dec %0\n\tjnz 1b"
		: "+r"(n)::"memory");
}

// line prints the medians and bests of f and b (GFLOP/s) and their ratios.
static void line(const char *name, double *f, double *b, int reps) {
	qsort(f, reps, sizeof *f, cmp);
	qsort(b, reps, sizeof *b, cmp);
	double fm = f[reps / 2], bm = b[reps / 2], fb = f[reps - 1], bb = b[reps - 1];
	printf("%-22s float32 median %6.1f best %6.1f | bf16 median %6.1f best %6.1f | bf16/float32 median %.2f best %.2f\n",
	       name, fm, fb, bm, bb, bm / fm, bb / fb);
}

int main(int argc, char **argv) {
	int reps = argc > 1 ? atoi(argv[1]) : 9;
	if (reps < 1 || reps > 1000) {
		fprintf(stderr, "usage: %s [reps]\n", argv[0]);
		return 2;
	}
	if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
	    !__builtin_cpu_supports("avx512bf16")) {
		fprintf(stderr, "bf16bench: this CPU has no AVX512_BF16\n");
		return 1;
	}
	double *f = xalloc(reps * sizeof *f), *b = xalloc(reps * sizeof *b);
	long n = 10000000;
	for (int r = 0; r < reps; r++) {
		double t = cpu_now();
		fmapeak(n);
		f[r] = 24.0 * 32 * n / (cpu_now() - t) / 1e9;
		t = cpu_now();
		bf16peak(n);
		b[r] = 24.0 * 64 * n / (cpu_now() - t) / 1e9;
	}
	line("instruction peak", f, b, reps);

	// wide_resnet50_2 layer1 and layer3 3x3, inception_v3 mixed5 3x3, a 64-channel 3x3.
	int shapes[][3] = {{384, 128, 1152}, {384, 256, 2304}, {384, 96, 864}, {384, 64, 576}};
	unsigned seed = 1;
	for (int s = 0; s < 4; s++) {
		int m = shapes[s][0], nn = shapes[s][1], k = shapes[s][2];
		int panels = (nn + SNR - 1) / SNR, k2 = (k + 1) / 2;
		float *a = xalloc((size_t)m * k * 4), *w = xalloc((size_t)k * nn * 4), *c = xalloc((size_t)m * nn * 4);
		float *pb = xalloc((size_t)k * panels * SNR * 4), *abuf = xalloc(SMR * SKC * 4);
		uint16_t *ah = xalloc((size_t)m * 2 * k2 * 2), *bh = xalloc((size_t)2 * k2 * panels * BNR * 2);
		uint16_t *hbuf = xalloc(BMR * BKC2 * 4);
		for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (seed = seed * 1664525u + 1013904223u) / 4294967296.0f - 0.5f;
		for (size_t i = 0; i < (size_t)k * nn; i++) w[i] = (seed = seed * 1664525u + 1013904223u) / 4294967296.0f - 0.5f;
		crd_packb(k, nn, w, nn, pb, 0, panels, NULL, 0);
		for (size_t i = 0; i < (size_t)2 * k2 * panels * BNR; i++) bh[i] = 0x3f80; // any bf16 times the same
		for (int r = 0; r < reps; r++) {
			double t = cpu_now();
			for (int i = 0; i < 5; i++) crd_sgemm(m, nn, k, 1, a, k, pb, 0, c, nn, abuf);
			f[r] = 5 * 2.0 * m * nn * k / (cpu_now() - t) / 1e9;
			t = cpu_now();
			for (int i = 0; i < 5; i++) {
				crd_bf16_rows(m, k, a, k, ah, 2 * k2);
				crd_bf16_gemm(m, nn, k2, ah, 2 * k2, bh, 0, c, nn, hbuf);
			}
			b[r] = 5 * 2.0 * m * nn * k / (cpu_now() - t) / 1e9;
		}
		char name[64];
		snprintf(name, sizeof name, "conv %dx%dx%d", m, nn, k);
		line(name, f, b, reps);
		free(a), free(w), free(c), free(pb), free(abuf), free(ah), free(bh), free(hbuf);
	}
	return 0;
}
