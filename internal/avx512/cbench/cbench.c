// cbench times crd's AVX-512 kernels (../norms.c, ../gram.c, ../sgemm.c)
// and the float64 FMA peak (../../peak/peak.c) from C alone, without Go:
// the figures the kernels reach with nothing between them and the CPU.
//
// Build: make cbench (or ./build.sh OUT). Run: OUT [threads] [reps]; the
// defaults are 2 threads and 11 repetitions. For each kernel it prints the
// median and the best rate over the repetitions, at crd's production shapes:
// d = 1536 features, 784 patches, and wide_resnet50_2's layer1 im2col GEMM.

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define BENCH_NAME "cbench"
#include "bench.h"

#include "../avx512.h"
#include "../../peak/peak.h"

enum { D = 1536, P = 784, SM = 3136, SN = 128, SK = 1152 };

static int threads = 2;

// One thread's share of a run: which kernel, and its part of the work.
struct job {
	int kind;
	int lo, hi; // columns (norms), rows (sgemm)
	float *buf; // norms: packed columns; sgemm: partial tile of A
	double *acc;
	long rounds;
};

static const float *tp, *yp, *ap, *pbp;
static float *cp;
static const double *gbuf;
static double *g;
static int next;

enum { GRAM, NORMS, SGEMM, PEAK };

static void *run(void *arg) {
	struct job *j = arg;
	switch (j->kind) {
	case GRAM:
		crd_gram(gbuf, D, P, g, &next);
		break;
	case NORMS:
		if (j->lo < j->hi) crd_norms(tp, D, (D + MR - 1) / MR, 1, yp, P, j->lo, j->hi, j->buf, j->acc);
		break;
	case SGEMM:
		if (j->lo < j->hi)
			crd_sgemm(j->hi - j->lo, SN, SK, 1, ap + (size_t)j->lo * SK, SK, pbp, 0, cp + (size_t)j->lo * SN, SN, j->buf);
		break;
	case PEAK:
		crd_peak(j->rounds);
		break;
	}
	return NULL;
}

// once runs kind on all threads (the first on this one) and returns the
// seconds it took.
static double once(int kind, struct job *jobs) {
	pthread_t tid[64];
	next = 0;
	double t0 = wall_now();
	for (int w = 1; w < threads; w++) {
		jobs[w].kind = kind;
		pthread_create(&tid[w], NULL, run, &jobs[w]);
	}
	jobs[0].kind = kind;
	run(&jobs[0]);
	for (int w = 1; w < threads; w++) pthread_join(tid[w], NULL);
	return wall_now() - t0;
}

static void report(const char *name, int kind, struct job *jobs, int reps, double flops) {
	double *t = xalloc(reps * sizeof *t);
	once(kind, jobs); // warm up
	for (int r = 0; r < reps; r++) t[r] = once(kind, jobs);
	qsort(t, reps, sizeof *t, cmp);
	printf("%-34s median %7.1f GFLOP/s   best %7.1f GFLOP/s\n", name, flops / t[reps / 2] / 1e9, flops / t[0] / 1e9);
	free(t);
}

int main(int argc, char **argv) {
	int reps = 11;
	if (argc > 1) threads = atoi(argv[1]);
	if (argc > 2) reps = atoi(argv[2]);
	if (threads < 1 || threads > 64 || reps < 1) {
		fprintf(stderr, "usage: %s [threads (1-64)] [reps]\n", argv[0]);
		return 2;
	}
	if (!__builtin_cpu_supports("avx512f")) {
		fprintf(stderr, "cbench: this CPU has no AVX-512F\n");
		return 1;
	}
	unsigned seed = 1;
	struct job jobs[64] = {0};

	// Gram update: one image, d^2 K flops (as dsyrk counts them).
	int panels = (D + GN - 1) / GN;
	double *b64 = xalloc((size_t)panels * GN * P * sizeof(double));
	for (size_t i = 0; i < (size_t)panels * GN * P; i++) b64[i] = frand(&seed);
	g = xalloc((size_t)D * D * sizeof(double));
	for (size_t i = 0; i < (size_t)D * D; i++) g[i] = 0;
	gbuf = b64;
	report("gram d=1536 k=784 (float64)", GRAM, jobs, reps, (double)D * D * P);

	// Scoring: triangular T, 2 d^2 p flops counted (the dense product's).
	int tiles = (D + MR - 1) / MR;
	float *t = xalloc((size_t)tiles * MR * D * sizeof(float));
	for (size_t i = 0; i < (size_t)tiles * MR * D; i++) t[i] = frand(&seed);
	float *y = xalloc((size_t)D * P * sizeof(float));
	for (size_t i = 0; i < (size_t)D * P; i++) y[i] = frand(&seed);
	tp = t, yp = y;
	int cpanels = (P + NR - 1) / NR;
	for (int w = 0; w < threads; w++) {
		jobs[w].lo = w * cpanels / threads * NR;
		jobs[w].hi = (w + 1) * cpanels / threads * NR;
		if (jobs[w].hi > P) jobs[w].hi = P;
		if (jobs[w].lo > P) jobs[w].lo = P;
		jobs[w].buf = xalloc((size_t)(cpanels + 1) * D * NR * sizeof(float));
		jobs[w].acc = xalloc(P * sizeof(double));
		for (int j = 0; j < P; j++) jobs[w].acc[j] = 0;
	}
	report("norms d=1536 p=784 upper (eff.)", NORMS, jobs, reps, 2.0 * D * D * P);

	// Convolution GEMM: B packed once, rows split in whole tiles.
	float *a = xalloc((size_t)SM * SK * sizeof(float));
	for (size_t i = 0; i < (size_t)SM * SK; i++) a[i] = frand(&seed);
	float *b = xalloc((size_t)SK * SN * sizeof(float));
	for (size_t i = 0; i < (size_t)SK * SN; i++) b[i] = frand(&seed);
	int spanels = (SN + SNR - 1) / SNR;
	float *pb = xalloc((size_t)SK * spanels * SNR * sizeof(float));
	crd_packb(SK, SN, b, SN, pb, 0, spanels, NULL, 0);
	float *c = xalloc((size_t)SM * SN * sizeof(float));
	ap = a, pbp = pb, cp = c;
	int rtiles = (SM + SMR - 1) / SMR;
	for (int w = 0; w < threads; w++) {
		jobs[w].lo = w * rtiles / threads * SMR;
		jobs[w].hi = (w + 1) * rtiles / threads * SMR;
		if (jobs[w].hi > SM) jobs[w].hi = SM;
		free(jobs[w].buf);
		jobs[w].buf = xalloc(SMR * SKC * sizeof(float));
	}
	report("sgemm 3136x128x1152", SGEMM, jobs, reps, 2.0 * SM * SN * SK);

	// The float64 FMA peak, in units of one Gram update per thread share.
	for (int w = 0; w < threads; w++) jobs[w].rounds = (long)D * D * P / threads / 384;
	report("float64 FMA peak", PEAK, jobs, reps, (double)jobs[0].rounds * 384 * threads);
	return 0;
}
