//go:build cgo && amd64

// crd's bf16 kernels (bf16.c), called from bf16_cgo.go. Compiled for
// AVX-512F, BW and BF16 (target attributes); callers check the CPU first.
// A bf16 value is the top half of a float32 (uint16_t here). All matrices
// are row-major.

#ifndef CRD_BF16_H
#define CRD_BF16_H

#include <stdint.h>

// Register tile BMR x BNR; the inner dimension runs in pairs (one
// vdpbf16ps multiplies two bf16 pairs into a float32 lane), in parts of
// BKC2 pairs.
#define BMR 12
#define BNR 32
#define BKC2 128

// crd_bf16_gemm computes C = A B (+ C when beta1) in float32 from bf16
// operands: A is m x 2*k2 bf16 (row stride lda bf16 values, even), B is
// 2*k2 x n packed as below, C is m x n float32 (row stride ldc). abuf holds
// BMR*BKC2 pairs of scratch. The packed B: for each part of BKC2 pairs
// starting at pair pc (kc2 pairs in it), panel q (columns q*BNR...) holds,
// for each pair p of the part, BNR pairs: column j's pair is
//
//	pb[2*(pc*panels*BNR + q*kc2*BNR + p*BNR + t) + h] = bf16(B[2*(pc+p) + h][q*BNR + t])
//
// (h = 0, 1; zero past n and past the inner dimension). Each lane adds the
// products of a pair as vdpbf16ps does (float32, round to nearest even,
// denormals flushed). The reference loop, products exact in float32:
//
//	for (i = 0; i < m; i++)
//		for (j = 0; j < n; j++) {
//			float s = beta1 ? C[i*ldc + j] : 0;
//			for (p = 0; p < 2*k2; p++) s += float(A[i*lda + p]) * float(B[p][j]);
//			C[i*ldc + j] = s;
//		}
void crd_bf16_gemm(int m, int n, int k2, const uint16_t *A, long lda, const uint16_t *pb, int beta1, float *C,
                   long ldc, uint16_t *abuf);

// crd_bf16_rows converts m rows of k float32 values (row stride lds) into
// bf16 (row stride ldd) as vcvtne2ps2bf16 does: round to nearest even,
// denormals to signed zero, NaNs quiet. An odd k gets a zero after each
// row's last value. The reference loop:
//
//	for (i = 0; i < m; i++)
//		for (j = 0; j < (k + 1) / 2 * 2; j++)
//			dst[i*ldd + j] = j < k ? bf16(src[i*lds + j]) : 0;
void crd_bf16_rows(int m, int k, const float *src, long lds, uint16_t *dst, long ldd);

#endif
