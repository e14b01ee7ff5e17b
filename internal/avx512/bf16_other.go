//go:build !cgo || !amd64

package avx512

func bf16Kernel(m, n, k2 int, a []uint16, lda int, pb []uint16, beta1 bool, c []float32, ldc int, scratch []uint16) {
	panic("avx512: no kernel in this build")
}

func bf16RowsKernel(m, k int, src []float32, lds int, dst []uint16, ldd int) {
	panic("avx512: no kernel in this build")
}
