package blas

// ErrShape-style panics: a shape that does not fit its slice is a programming
// error, never a data condition, so it panics rather than corrupting memory in
// C code.

func checkGemm(transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if k == 0 {
		ar, br = min(ar, 1), min(br, 1)
	}
	if lda < max(ac, 1) || ldb < max(bc, 1) || ldc < max(n, 1) ||
		la < (ar-1)*lda+ac || lb < (br-1)*ldb+bc || lc < (m-1)*ldc+n {
		panic("blas: gemm shape does not fit slices")
	}
}

func checkSyrk(n, k, la, lda, lc, ldc int) {
	if lda < max(k, 1) || ldc < max(n, 1) || la < (n-1)*lda+k || lc < (n-1)*ldc+n {
		panic("blas: syrk shape does not fit slices")
	}
}
