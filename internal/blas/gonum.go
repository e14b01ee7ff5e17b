//go:build !cgo || noopenblas

package blas

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	lapack "gonum.org/v1/gonum/lapack/gonum"
)

// Backend names the linked implementation.
const Backend = "gonum"

// CoreName is the CPU kernel set of the backend: pure Go here.
func CoreName() string { return "go" }

var impl gonum.Implementation

func tr(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	impl.Sgemm(tr(transA), tr(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	impl.Dgemm(tr(transA), tr(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func dsyrk(n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	checkSyrk(n, k, len(a), lda, len(c), ldc)
	impl.Dsyrk(blas.Upper, blas.NoTrans, n, k, alpha, a, lda, beta, c, ldc)
}

func ssyrk(n, k int, alpha float32, a []float32, lda int, beta float32, c []float32, ldc int) {
	checkSyrk(n, k, len(a), lda, len(c), ldc)
	impl.Ssyrk(blas.Upper, blas.NoTrans, n, k, alpha, a, lda, beta, c, ldc)
}

func cholUpper(n int, a []float64, lda int) error {
	var l lapack.Implementation
	if !l.Dpotrf(blas.Upper, n, a, lda) {
		return ErrNotPositiveDefinite
	}
	return nil
}

func cholInverseUpper(n int, a []float64, lda int) error {
	if err := cholUpper(n, a, lda); err != nil {
		return err
	}
	var l lapack.Implementation
	if !l.Dpotri(blas.Upper, n, a, lda) {
		return ErrNotPositiveDefinite
	}
	return nil
}
