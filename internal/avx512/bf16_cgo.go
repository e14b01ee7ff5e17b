//go:build cgo && amd64

package avx512

// The bf16 kernels are in bf16.c; bf16.h documents them.

/*
#cgo CFLAGS: -O3
#include "bf16.h"
*/
import "C"

import "unsafe"

// The bf16 tile sizes are defined once for C (bf16.h) and once for Go;
// these arrays have a negative length, and the build fails, if they differ.
var (
	_ [C.BMR - bf16RowTile]struct{}
	_ [bf16RowTile - C.BMR]struct{}
	_ [C.BNR - bf16Panel]struct{}
	_ [bf16Panel - C.BNR]struct{}
	_ [C.BKC2 - bf16Part]struct{}
	_ [bf16Part - C.BKC2]struct{}
)

// bf16Kernel runs crd_bf16_gemm on m rows.
func bf16Kernel(m, n, k2 int, a []uint16, lda int, pb []uint16, beta1 bool, c []float32, ldc int, scratch []uint16) {
	var beta C.int
	if beta1 {
		beta = 1
	}
	C.crd_bf16_gemm(C.int(m), C.int(n), C.int(k2), (*C.uint16_t)(unsafe.Pointer(&a[0])), C.long(lda),
		(*C.uint16_t)(unsafe.Pointer(&pb[0])), beta, (*C.float)(unsafe.Pointer(&c[0])), C.long(ldc),
		(*C.uint16_t)(unsafe.Pointer(&scratch[0])))
}

// bf16RowsKernel runs crd_bf16_rows.
func bf16RowsKernel(m, k int, src []float32, lds int, dst []uint16, ldd int) {
	C.crd_bf16_rows(C.int(m), C.int(k), (*C.float)(unsafe.Pointer(&src[0])), C.long(lds),
		(*C.uint16_t)(unsafe.Pointer(&dst[0])), C.long(ldd))
}
