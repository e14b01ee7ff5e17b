//go:build cgo && amd64

// The Gram update G += Y Y^T in float64 and the packing of Y (see avx512.h).

#include <immintrin.h>
#include <stddef.h>

#include "avx512.h"

#define GM 8
#define GK 128
#define GB 48
#define GPF (GB / GM / 3)

// One GM x GN tile of G (at g, row stride ldg) += A B^T over kc inner
// indices, with a the tile's GM rows and b the GN columns, both read from
// panel data (GN doubles per inner index). Rows past `rows` are computed
// but not stored; columns are masked by m0..m2. Every GPF inner indices it
// also prefetches the next cache line from pf into L1 (the caller points
// it at its share of the panel data that the next tiles will need).
__attribute__((target("avx512f"), noinline))
static void gtile(const double *a, const double *b, long kc, double *g, long ldg, int rows,
                  const char *pf, __mmask8 m0, __mmask8 m1, __mmask8 m2) {
#define GDECL(r) __m512d c##r##0, c##r##1, c##r##2; \
	if (r < rows) { c##r##0 = _mm512_maskz_loadu_pd(m0, g + r * ldg); c##r##1 = _mm512_maskz_loadu_pd(m1, g + r * ldg + 8); \
		c##r##2 = _mm512_maskz_loadu_pd(m2, g + r * ldg + 16); } \
	else { c##r##0 = _mm512_setzero_pd(); c##r##1 = _mm512_setzero_pd(); c##r##2 = _mm512_setzero_pd(); }
	GDECL(0) GDECL(1) GDECL(2) GDECL(3) GDECL(4) GDECL(5) GDECL(6) GDECL(7)
	for (long k = 0; k < kc; k++, a += GN, b += GN) {
		if (k % GPF == 0) { _mm_prefetch(pf, _MM_HINT_T0); pf += 64; }
		__m512d b0 = _mm512_loadu_pd(b), b1 = _mm512_loadu_pd(b + 8), b2 = _mm512_loadu_pd(b + 16);
#define GSTEP(r) { __m512d x = _mm512_set1_pd(a[r]); c##r##0 = _mm512_fmadd_pd(x, b0, c##r##0); \
		c##r##1 = _mm512_fmadd_pd(x, b1, c##r##1); c##r##2 = _mm512_fmadd_pd(x, b2, c##r##2); }
		GSTEP(0) GSTEP(1) GSTEP(2) GSTEP(3) GSTEP(4) GSTEP(5) GSTEP(6) GSTEP(7)
	}
#define GST(r) if (r < rows) { _mm512_mask_storeu_pd(g + r * ldg, m0, c##r##0); \
		_mm512_mask_storeu_pd(g + r * ldg + 8, m1, c##r##1); _mm512_mask_storeu_pd(g + r * ldg + 16, m2, c##r##2); }
	GST(0) GST(1) GST(2) GST(3) GST(4) GST(5) GST(6) GST(7)
}

static __mmask8 gmask(int n) { return n >= 8 ? 0xFF : n <= 0 ? 0 : (__mmask8)((1u << n) - 1); }

// G (d x d row-major) += Y Y^T on and above the diagonal. Y is given as
// panels of GN features: panel q holds features [q GN, q GN + GN) as K rows
// of GN doubles (zero padded). The callers' threads share the work through
// *next: each takes the next block of GB rows of G (its data stays in L2)
// and does it whole: for each GKB-long chunk of the inner dimension and
// each column panel right of the block's diagonal, parts of at most GK
// inner indices, of equal length (the panel's part stays in L1 for the
// block's tiles, and the block's GB x GN patch of G in L1/L2 across the
// parts), of row tiles of GM. While the GB/GM tiles of one part run, each
// prefetches its share of the next part of the panel data (GN doubles, so
// 3 cache lines, per inner index: hence GPF = GB/GM/3 indices per line).
// Tiles on the diagonal also write their entries below it (with their true
// values); callers keep only the upper triangle.
#define GKB 1024
__attribute__((target("avx512f")))
void crd_gram(const double *buf, int d, long K, double *g, int *next) {
	int panels = (d + GN - 1) / GN;
	int blocks = (d + GB - 1) / GB;
	for (;;) {
		int blk = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED);
		if (blk >= blocks) return;
		int ib = blk * GB, ie = ib + GB < d ? ib + GB : d;
		for (long kb = 0; kb < K; kb += GKB) {
			long ke = K - kb < GKB ? K : kb + GKB;
			for (int q = ib / GN; q < panels; q++) {
				int j0 = q * GN, cols = d - j0 < GN ? d - j0 : GN;
				__mmask8 m0 = gmask(cols), m1 = gmask(cols - 8), m2 = gmask(cols - 16);
				long parts = (ke - kb + GK - 1) / GK, kp = (ke - kb + parts - 1) / parts;
				for (long k0 = kb; k0 < ke; k0 += kp) {
					long kc = ke - k0 < kp ? ke - k0 : kp;
					const double *bp = buf + (size_t)q * K * GN + (size_t)k0 * GN;
					for (int i0 = ib; i0 < ie && i0 < j0 + cols; i0 += GM) {
						int rows = d - i0 < GM ? d - i0 : GM;
						const double *ap = buf + (size_t)(i0 / GN) * K * GN + (i0 % GN) + (size_t)k0 * GN;
						// The next part follows this one in the panel data
						// (or begins the next panel); prefetching past the
						// end of the buffer is harmless.
						const char *pf = (const char *)(bp + kp * GN) + (size_t)((i0 - ib) / GM) * (kp / GPF) * 64;
						gtile(ap, bp, kc, g + (size_t)i0 * d + j0, d, rows, pf, m0, m1, m2);
					}
				}
			}
		}
	}
}

// Panel q of the d x K row-major float32 y (features [q GN, q GN + GN),
// all present) into dst (K rows of GN doubles), adding each feature's sum
// to sum[0..GN). Blocks of 8 features x 8 patches are converted to double
// and transposed in registers, so every store is a full row of 8 doubles.
__attribute__((target("avx512f")))
void crd_pack(double *dst, const float *y, long K, double *sum) {
	__m512d acc[GN];
	for (int t = 0; t < GN; t++) acc[t] = _mm512_setzero_pd();
	long j0 = 0;
	for (; j0 + 8 <= K; j0 += 8) {
		for (int t0 = 0; t0 < GN; t0 += 8) {
			__m512d r[8];
			for (int i = 0; i < 8; i++) {
				r[i] = _mm512_cvtps_pd(_mm256_loadu_ps(y + (t0 + i) * K + j0));
				acc[t0 + i] = _mm512_add_pd(acc[t0 + i], r[i]);
			}
			// 8 x 8 transpose: pairs, then 128-bit lanes, twice.
			__m512d t[8], u[8];
			for (int i = 0; i < 8; i += 2) {
				t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
				t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
			}
			for (int h = 0; h < 8; h += 4) {
				u[h] = _mm512_shuffle_f64x2(t[h], t[h + 2], 0x88);
				u[h + 1] = _mm512_shuffle_f64x2(t[h], t[h + 2], 0xDD);
				u[h + 2] = _mm512_shuffle_f64x2(t[h + 1], t[h + 3], 0x88);
				u[h + 3] = _mm512_shuffle_f64x2(t[h + 1], t[h + 3], 0xDD);
			}
			// u[0..3] hold columns (0,4), (2,6), (1,5), (3,7) of rows 0-3,
			// u[4..7] the same of rows 4-7.
			double *o = dst + j0 * GN + t0;
			_mm512_storeu_pd(o + 0 * GN, _mm512_shuffle_f64x2(u[0], u[4], 0x88));
			_mm512_storeu_pd(o + 4 * GN, _mm512_shuffle_f64x2(u[0], u[4], 0xDD));
			_mm512_storeu_pd(o + 2 * GN, _mm512_shuffle_f64x2(u[1], u[5], 0x88));
			_mm512_storeu_pd(o + 6 * GN, _mm512_shuffle_f64x2(u[1], u[5], 0xDD));
			_mm512_storeu_pd(o + 1 * GN, _mm512_shuffle_f64x2(u[2], u[6], 0x88));
			_mm512_storeu_pd(o + 5 * GN, _mm512_shuffle_f64x2(u[2], u[6], 0xDD));
			_mm512_storeu_pd(o + 3 * GN, _mm512_shuffle_f64x2(u[3], u[7], 0x88));
			_mm512_storeu_pd(o + 7 * GN, _mm512_shuffle_f64x2(u[3], u[7], 0xDD));
		}
	}
	for (int t = 0; t < GN; t++) {
		double s = _mm512_reduce_add_pd(acc[t]);
		for (long j = j0; j < K; j++) {
			double v = y[t * K + j];
			dst[j * GN + t] = v;
			s += v;
		}
		sum[t] += s;
	}
}
