//go:build cgo && amd64

package fused

/*
#cgo CFLAGS: -O3
#include <immintrin.h>
#include <stddef.h>

#define GM 8
#define GN 24
#define GK 128

// One GM x GN tile of G (at g, row stride ldg) += A B^T over kc inner
// indices, with a the tile's GM rows and b the GN columns, both read from
// panel data (GN doubles per inner index). Rows past `rows` are computed
// but not stored; columns are masked by m0..m2.
__attribute__((target("avx512f"), noinline))
static void gtile(const double *a, const double *b, long kc, double *g, long ldg, int rows,
                  __mmask8 m0, __mmask8 m1, __mmask8 m2) {
#define GDECL(r) __m512d c##r##0, c##r##1, c##r##2; \
	if (r < rows) { c##r##0 = _mm512_maskz_loadu_pd(m0, g + r * ldg); c##r##1 = _mm512_maskz_loadu_pd(m1, g + r * ldg + 8); \
		c##r##2 = _mm512_maskz_loadu_pd(m2, g + r * ldg + 16); } \
	else { c##r##0 = _mm512_setzero_pd(); c##r##1 = _mm512_setzero_pd(); c##r##2 = _mm512_setzero_pd(); }
	GDECL(0) GDECL(1) GDECL(2) GDECL(3) GDECL(4) GDECL(5) GDECL(6) GDECL(7)
	for (long k = 0; k < kc; k++, a += GN, b += GN) {
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
// each column panel right of the block's diagonal, GK-long parts (the
// panel's part stays in L1 for the block's tiles, and the block's 96 x 24
// patch of G in L1/L2 across the parts) of row tiles of GM. Tiles on the
// diagonal also write their entries below it (with their true values);
// callers keep only the upper triangle.
#define GB 96
#define GKB 1024
__attribute__((target("avx512f")))
static void crd_gram(const double *buf, int d, long K, double *g, int *next) {
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
				for (long k0 = kb; k0 < ke; k0 += GK) {
					long kc = ke - k0 < GK ? ke - k0 : GK;
					const double *bp = buf + (size_t)q * K * GN + (size_t)k0 * GN;
					for (int i0 = ib; i0 < ie && i0 < j0 + cols; i0 += GM) {
						int rows = d - i0 < GM ? d - i0 : GM;
						const double *ap = buf + (size_t)(i0 / GN) * K * GN + (i0 % GN) + (size_t)k0 * GN;
						gtile(ap, bp, kc, g + (size_t)i0 * d + j0, d, rows, m0, m1, m2);
					}
				}
			}
		}
	}
}
*/
import "C"

import "unsafe"

// gramKernel runs blocks of GramUpper until none is left; next (shared by
// the callers of one GramUpper) counts the blocks taken.
func gramKernel(buf []float64, d, k int, g []float64, next *int32) {
	C.crd_gram((*C.double)(unsafe.Pointer(&buf[0])), C.int(d), C.long(k), (*C.double)(unsafe.Pointer(&g[0])), (*C.int)(unsafe.Pointer(next)))
}
