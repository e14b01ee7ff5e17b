//go:build cgo && amd64

// The float32 matrix product C = alpha A B (+ C) and the packing of B (see avx512.h).

#include <immintrin.h>
#include <stddef.h>

#include "avx512.h"

#define SMC 384

// One tile of C (rows x 32 at c, row stride ldc; columns masked by m0 for
// 0..15 and m1 for 16..31) += alpha A B over kc inner indices, a pointing
// at the tile's SMR rows of A (row stride lda; read in place) and b at the
// packed column panel (SNR floats per index). Unless load, the old values
// are not read (beta = 0 on the first part); with load they are read from
// src (row stride lds): C itself, or the first part's residual. stile_n
// computes the first nr rows (nr a constant: 12, 8 or 4, see stile), those
// past `rows` computed but not stored; each row's arithmetic is the same
// whatever nr. With alpha = 1 the tile accumulates onto
// the old values; else it starts from zero and is scaled when stored. On
// the last part (e set), the epilogue runs in registers before the store:
// + bias (e->bias at the tile's first column, unless NULL), then with
// e->relu the ReLU of addBiasReLU in package nn: the sign bit spread to a
// mask clears negative values, -0 and NaNs with the sign bit set.
struct sepi {
	const float *bias;
	int relu;
};

__attribute__((target("avx512f"), always_inline))
static inline void stile_n(const int nr, const float *pf, const float *a, long lda, const float *const *ar, const float *b,
                           long kc, float *c, long ldc, const float *src, long lds, int rows, __mmask16 m0, __mmask16 m1,
                           int load, float alpha, const struct sepi *e) {
	int one = alpha == 1.0f;
	// With ar, row r of A is at ar[r] (one pointer a row: an implicit GEMM
	// whose rows are not evenly spaced); else at a + r*lda. Either way it
	// is read at a + o<r>, a moving along the inner dimension.
	if (ar) a = ar[0];
#define SAROW(r) const long o##r = ar ? (r < nr ? ar[r] - ar[0] : 0) : r * lda;
	SAROW(0) SAROW(1) SAROW(2) SAROW(3) SAROW(4) SAROW(5) SAROW(6) SAROW(7) SAROW(8) SAROW(9) SAROW(10) SAROW(11)
	__m512 al = _mm512_set1_ps(alpha);
#define SDECL(r) __m512 c##r##0, c##r##1; \
	if (r < nr && one && load && r < rows) { c##r##0 = _mm512_maskz_loadu_ps(m0, src + r * lds); c##r##1 = _mm512_maskz_loadu_ps(m1, src + r * lds + 16); } \
	else { c##r##0 = _mm512_setzero_ps(); c##r##1 = _mm512_setzero_ps(); }
	SDECL(0) SDECL(1) SDECL(2) SDECL(3) SDECL(4) SDECL(5) SDECL(6) SDECL(7) SDECL(8) SDECL(9) SDECL(10) SDECL(11)
	for (long k = 0; k < kc; k++, a++, b += SNR) {
		__m512 y0 = _mm512_loadu_ps(b), y1 = _mm512_loadu_ps(b + 16);
		if (pf) { _mm_prefetch((const char *)(pf + k * SNR), _MM_HINT_T1); _mm_prefetch((const char *)(pf + k * SNR + 16), _MM_HINT_T1); }
#define SSTEP(r) if (r < nr) { __m512 x = _mm512_set1_ps(a[o##r]); c##r##0 = _mm512_fmadd_ps(x, y0, c##r##0); c##r##1 = _mm512_fmadd_ps(x, y1, c##r##1); }
		SSTEP(0) SSTEP(1) SSTEP(2) SSTEP(3) SSTEP(4) SSTEP(5) SSTEP(6) SSTEP(7) SSTEP(8) SSTEP(9) SSTEP(10) SSTEP(11)
	}
#define SSCALE(r) if (r < nr && r < rows) { \
	c##r##0 = _mm512_fmadd_ps(al, c##r##0, load ? _mm512_maskz_loadu_ps(m0, src + r * lds) : _mm512_setzero_ps()); \
	c##r##1 = _mm512_fmadd_ps(al, c##r##1, load ? _mm512_maskz_loadu_ps(m1, src + r * lds + 16) : _mm512_setzero_ps()); }
	if (!one) { SSCALE(0) SSCALE(1) SSCALE(2) SSCALE(3) SSCALE(4) SSCALE(5) SSCALE(6) SSCALE(7) SSCALE(8) SSCALE(9) SSCALE(10) SSCALE(11) }
	if (e) {
		if (e->bias) {
			__m512 b0 = _mm512_maskz_loadu_ps(m0, e->bias), b1 = _mm512_maskz_loadu_ps(m1, e->bias + 16);
#define SBIAS(r) c##r##0 = _mm512_add_ps(c##r##0, b0); c##r##1 = _mm512_add_ps(c##r##1, b1);
			SBIAS(0) SBIAS(1) SBIAS(2) SBIAS(3) SBIAS(4) SBIAS(5) SBIAS(6) SBIAS(7) SBIAS(8) SBIAS(9) SBIAS(10) SBIAS(11)
		}
		if (e->relu) {
#define SRELU1(v) v = _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_srai_epi32(_mm512_castps_si512(v), 31), _mm512_castps_si512(v)));
#define SRELU(r) SRELU1(c##r##0) SRELU1(c##r##1)
			SRELU(0) SRELU(1) SRELU(2) SRELU(3) SRELU(4) SRELU(5) SRELU(6) SRELU(7) SRELU(8) SRELU(9) SRELU(10) SRELU(11)
		}
	}
#define SST(r) if (r < nr && r < rows) { _mm512_mask_storeu_ps(c + r * ldc, m0, c##r##0); _mm512_mask_storeu_ps(c + r * ldc + 16, m1, c##r##1); }
	SST(0) SST(1) SST(2) SST(3) SST(4) SST(5) SST(6) SST(7) SST(8) SST(9) SST(10) SST(11)
}

// The noinline kernels: stile<nr> and stile<nr>p, the latter also
// prefetching into L2 the kc x SNR floats at pf (the next panel of B).
// stile<nr>r and stile<nr>pr read the rows of A at the pointers ar.
#define STILE(name, nr, pfon, rowsp)                                                                                 \
	__attribute__((target("avx512f"), noinline)) static void name(                                                \
	    const float *pf, const float *a, long lda, const float *const *ar, const float *b, long kc, float *c,      \
	    long ldc, const float *src, long lds, int rows, __mmask16 m0, __mmask16 m1, int load, float alpha,         \
	    const struct sepi *e) {                                                                                   \
		stile_n(nr, pfon ? pf : NULL, a, lda, rowsp ? ar : NULL, b, kc, c, ldc, src, lds, rows, m0, m1, load,    \
		        alpha, e);                                                                                        \
	}
STILE(stile12, 12, 0, 0)
STILE(stile8, 8, 0, 0)
STILE(stile4, 4, 0, 0)
STILE(stile12p, 12, 1, 0)
STILE(stile8p, 8, 1, 0)
STILE(stile4p, 4, 1, 0)
STILE(stile12r, 12, 0, 1)
STILE(stile8r, 8, 0, 1)
STILE(stile4r, 4, 0, 1)
STILE(stile12pr, 12, 1, 1)
STILE(stile8pr, 8, 1, 1)
STILE(stile4pr, 4, 1, 1)

// stile runs a tile of `rows` rows with the smallest of the 12-, 8- and
// 4-row kernels that covers them (a last, partial tile of rows, 49 rows =
// 4 x 12 + 1, does not pay for 12), prefetching the kc x SNR floats at pf
// into L2 unless pf is NULL, reading row r of A at ar[r] unless ar is NULL
// (else at a + r*lda).
__attribute__((target("avx512f")))
static inline void stile(const float *pf, const float *a, long lda, const float *const *ar, const float *b, long kc,
                         float *c, long ldc, const float *src, long lds, int rows, __mmask16 m0, __mmask16 m1, int load,
                         float alpha, const struct sepi *e) {
	typedef void (*kern)(const float *, const float *, long, const float *const *, const float *, long, float *, long,
	                     const float *, long, int, __mmask16, __mmask16, int, float, const struct sepi *);
	static const kern ks[2][2][3] = {{{stile4, stile8, stile12}, {stile4p, stile8p, stile12p}},
	                                 {{stile4r, stile8r, stile12r}, {stile4pr, stile8pr, stile12pr}}};
	int size = rows <= 4 ? 0 : rows <= 8 ? 1 : 2;
	ks[ar != NULL][pf != NULL][size](pf, a, lda, ar, b, kc, c, ldc, src, lds, rows, m0, m1, load, alpha, e);
}

static __mmask16 smask(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// The inner dimension is cut into parts: part p is [pstart(p), pstart(p+1))
// for p < nparts; pk NULL means parts of SKC (the last one shorter).
static inline int pstart(const int *pk, int p, int k) {
	if (pk) return pk[p];
	return p * SKC < k ? p * SKC : k;
}
static inline int pcount(const int *pk, int nparts, int k) { return pk ? nparts : (k + SKC - 1) / SKC; }

// Panels [q0, q1) of the k x n row-major B (stride ldb) into the packed
// layout pb: for each part of the inner dimension (part [pc, pc + kc)
// starts at pb + pc * panels * SNR), panel q holds the part's rows of
// columns [q SNR, q SNR + SNR) as kc x SNR floats, zero padded past n.
__attribute__((target("avx512f")))
void crd_packb(int k, int n, const float *B, long ldb, float *pb, int q0, int q1, const int *pk, int nparts) {
	int panels = (n + SNR - 1) / SNR;
	nparts = pcount(pk, nparts, k);
	for (int pp = 0; pp < nparts; pp++) {
		int pc = pstart(pk, pp, k), kc = pstart(pk, pp + 1, k) - pc;
		for (int q = q0; q < q1; q++) {
			int j0 = q * SNR, cols = n - j0 < SNR ? n - j0 : SNR;
			float *dst = pb + (size_t)pc * panels * SNR + (size_t)q * kc * SNR;
			for (int p = 0; p < kc; p++) {
				const float *src = B + (size_t)(pc + p) * ldb + j0;
				if (cols == SNR) {
					_mm512_storeu_ps(dst + p * SNR, _mm512_loadu_ps(src));
					_mm512_storeu_ps(dst + p * SNR + 16, _mm512_loadu_ps(src + 16));
				} else {
					_mm512_storeu_ps(dst + p * SNR, _mm512_maskz_loadu_ps(smask(cols), src));
					_mm512_storeu_ps(dst + p * SNR + 16, _mm512_maskz_loadu_ps(smask(cols - 16), src + 16));
				}
			}
		}
	}
}

// Where the rows of A are: in place (tile NULL: A with row stride lda, a
// last, partial tile of rows copied into abuf so that the kernel never
// reads past A's last row), or tile by tile (crd_sgemm_conv).
struct asrc {
	const float *A;
	long lda;
	float *abuf;
	const float *x, *g;
	long xstride, ldg;
	const long *xoff, *tile;
	// rowoff (not NULL): row i of A holds part p at x + rowoff[i] + xoff[p],
	// or when rowoff[i] < 0 at g + (-1 - rowoff[i])*ldg + pk[p].
	const long *rowoff;
};

// C (m x n, row stride ldc) = alpha A B (+ R), then + bias and ReLU, A m x
// k (a) and B k x n packed by crd_packb (parts pk); R is res (row stride
// ldr) when not NULL, else C itself when beta1 (avx512.h). For each part of
// the inner dimension and each block of SMC rows of A, the tiles of SMR
// rows run panel by panel: a panel's part (32 KB) stays in L1 while the
// block's part of A (in L2) streams past it. The last part adds the bias
// and applies the ReLU in registers. Only panels [q0, q1) of B (columns
// [q0*SNR, min(q1*SNR, n)) of C) are computed; q1 < 0 means all panels.
__attribute__((target("avx512f")))
static void sgemm(int m, int n, int k, float alpha, const struct asrc *a, const float *pb, const int *pk, int nparts,
                  int beta1, const float *res, long ldr, const float *bias, int relu, float *C, long ldc, int q0, int q1) {
	int panels = (n + SNR - 1) / SNR;
	if (q1 < 0 || q1 > panels) q1 = panels;
	if (q0 < 0) q0 = 0;
	int epi = bias != NULL || relu;
	nparts = pcount(pk, nparts, k);
	for (int pp = 0; pp < nparts; pp++) {
		int pc = pstart(pk, pp, k), kc = pstart(pk, pp + 1, k) - pc;
		const float *bbuf = pb + (size_t)pc * panels * SNR;
		int first = pp == 0, last = pp == nparts - 1;
		int load = !first || beta1 || res != NULL;
		const float *src = first && res != NULL ? res : C;
		long lds = first && res != NULL ? ldr : ldc;
		for (int ic = 0; ic < m; ic += SMC) {
			int mc = m - ic < SMC ? m - ic : SMC;
			int tiles = (mc + SMR - 1) / SMR;
			int part = mc % SMR;
			if (part && !a->tile && !a->rowoff) {
				const float *srcA = a->A + (size_t)(ic + mc - part) * a->lda + pc;
				for (int r = 0; r < SMR; r++)
					for (int p = 0; p < kc; p++) a->abuf[r * kc + p] = r < part ? srcA[(size_t)r * a->lda + p] : 0;
			}
			for (int q = q0; q < q1; q++) {
				int j0 = q * SNR, cols = n - j0 < SNR ? n - j0 : SNR;
				__mmask16 m0 = smask(cols), m1 = smask(cols - 16);
				struct sepi e = {bias != NULL ? bias + j0 : NULL, relu};
				// The first tile of rows prefetches the next panel of B
				// into L2 (or the next part's first, after the last):
				// with few rows, B is streamed once at a few flops a byte.
				const float *pf = NULL;
				if (q + 1 < q1) pf = bbuf + (size_t)(q + 1) * kc * SNR;
				else if (pp + 1 < nparts) {
					int pn = pstart(pk, pp + 1, k), kn = pstart(pk, pp + 2, k) - pn;
					pf = pb + (size_t)pn * panels * SNR + (size_t)q0 * kn * SNR;
				}
				for (int t = 0; t < tiles; t++) {
					int rows = mc - t * SMR < SMR ? mc - t * SMR : SMR;
					size_t r0 = (size_t)(ic + t * SMR);
					const float *at = NULL, *ar[SMR];
					long la = 0;
					if (a->rowoff) {
						// Rows past m read row r0's values (computed, not stored).
						const long *ro = a->rowoff + r0;
						for (int r = 0; r < SMR; r++) {
							long d = r < rows ? ro[r] : ro[0];
							ar[r] = d >= 0 ? a->x + d + a->xoff[pp] : a->g + (size_t)(-1 - d) * a->ldg + pc;
						}
					} else if (!a->tile) {
						at = a->A + r0 * a->lda + pc, la = a->lda;
						if (rows < SMR) at = a->abuf, la = kc;
					} else {
						long d = a->tile[r0 / SMR];
						if (d >= 0) at = a->x + d + a->xoff[pp], la = a->xstride;
						else at = a->g + (size_t)(-1 - d) * a->ldg + pc, la = a->ldg;
					}
					stile(t == 0 ? pf : NULL, at, la, a->rowoff ? ar : NULL, bbuf + (size_t)q * kc * SNR, kc, C + r0 * ldc + j0, ldc, src + r0 * lds + j0, lds,
					      rows, m0, m1, load, alpha, last && epi ? &e : NULL);
				}
			}
		}
	}
}

// crd_sgemm_epi: sgemm on A in place.
__attribute__((target("avx512f")))
void crd_sgemm_epi(int m, int n, int k, float alpha, const float *A, long lda, const float *pb, const int *pk, int nparts,
                   int beta1, const float *res, long ldr, const float *bias, int relu, float *C, long ldc, float *abuf,
                   int q0, int q1) {
	struct asrc a = {.A = A, .lda = lda, .abuf = abuf};
	sgemm(m, n, k, alpha, &a, pb, pk, nparts, beta1, res, ldr, bias, relu, C, ldc, q0, q1);
}

// crd_sgemm is crd_sgemm_epi with no residual, bias or ReLU, on parts of SKC.
__attribute__((target("avx512f")))
void crd_sgemm(int m, int n, int k, float alpha, const float *A, long lda, const float *pb, int beta1,
               float *C, long ldc, float *abuf) {
	crd_sgemm_epi(m, n, k, alpha, A, lda, pb, NULL, 0, beta1, NULL, 0, NULL, 0, C, ldc, abuf, 0, -1);
}

// crd_sgemm_conv: sgemm (alpha = 1) on A given tile by tile.
__attribute__((target("avx512f")))
void crd_sgemm_conv(int m, int n, const float *pb, const int *pk, int nparts, const float *x, long xstride,
                    const long *xoff, const float *g, long ldg, const long *tile, const float *res, long ldr,
                    const float *bias, int relu, float *C, long ldc, int q0, int q1) {
	struct asrc a = {.x = x, .xstride = xstride, .xoff = xoff, .g = g, .ldg = ldg, .tile = tile};
	sgemm(m, n, pk[nparts], 1.0f, &a, pb, pk, nparts, 0, res, ldr, bias, relu, C, ldc, q0, q1);
}

// crd_sgemm_rows: sgemm (alpha = 1) on A given row by row.
__attribute__((target("avx512f")))
void crd_sgemm_rows(int m, int n, const float *pb, const int *pk, int nparts, const float *x, const long *xoff,
                    const long *rowoff, const float *g, long ldg, const float *res, long ldr, const float *bias, int relu,
                    float *C, long ldc, int q0, int q1) {
	struct asrc a = {.x = x, .xoff = xoff, .rowoff = rowoff, .g = g, .ldg = ldg};
	sgemm(m, n, pk[nparts], 1.0f, &a, pb, pk, nparts, 0, res, ldr, bias, relu, C, ldc, q0, q1);
}
