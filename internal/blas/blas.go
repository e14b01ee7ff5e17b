// Package blas is the project's one binding to dense linear algebra.
//
// Every matrix is row-major and described by its leading dimension (the
// distance between the starts of two consecutive rows). With cgo enabled the
// calls go to OpenBLAS (libopenblas); built with CGO_ENABLED=0 or the build tag
// "noopenblas" they go to pure-Go gonum, which gives the same results to
// rounding but is roughly 20x slower. Backend reports which one is linked.
package blas

import (
	"errors"
	"strings"

	gblas "gonum.org/v1/gonum/blas"
	golapack "gonum.org/v1/gonum/lapack/gonum"
)

// ErrNotPositiveDefinite is returned by CholeskyInverse when the matrix is not
// symmetric positive definite (a leading minor is not positive).
var ErrNotPositiveDefinite = errors.New("matrix is not positive definite")

// Sgemm computes C = alpha*op(A)*op(B) + beta*C in float32, where op(X) is X
// or its transpose, op(A) is m x k, op(B) is k x n and C is m x n.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is Sgemm in float64.
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	dgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dsyrk computes the upper triangle of C = alpha*A*A^T + beta*C in float64,
// where A is n x k and C is n x n. The strict lower triangle of C is not
// touched; use Symmetrize to fill it.
func Dsyrk(n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	if n == 0 {
		return
	}
	dsyrk(n, k, alpha, a, lda, beta, c, ldc)
}

// Ssyrk is Dsyrk in float32.
func Ssyrk(n, k int, alpha float32, a []float32, lda int, beta float32, c []float32, ldc int) {
	if n == 0 {
		return
	}
	ssyrk(n, k, alpha, a, lda, beta, c, ldc)
}

// CholeskyInverse overwrites the symmetric positive definite n x n matrix A
// (only its upper triangle is read) with its full symmetric inverse, computed
// through the Cholesky factorisation A = U^T U (LAPACK dpotrf then dpotri).
// It returns ErrNotPositiveDefinite, leaving A in an unspecified state, when
// the factorisation fails.
func CholeskyInverse(n int, a []float64, lda int) error {
	if n == 0 {
		return nil
	}
	if err := cholInverseUpper(n, a, lda); err != nil {
		return err
	}
	Symmetrize(n, a, lda)
	return nil
}

// AVX512Kernels reports whether the backend runs AVX-512 kernels (OpenBLAS
// with its SkylakeX, Cooperlake or SapphireRapids kernel set).
func AVX512Kernels() bool {
	switch strings.ToLower(CoreName()) {
	case "skylakex", "cooperlake", "sapphirerapids":
		return true
	}
	return false
}

// Cholesky overwrites the symmetric positive definite n x n matrix A (only
// its upper triangle is read) with its upper-triangular Cholesky factor U,
// A = U^T U, and zeroes the strict lower triangle (LAPACK dpotrf). It
// returns ErrNotPositiveDefinite when the factorisation fails.
func Cholesky(n int, a []float64, lda int) error {
	if n == 0 {
		return nil
	}
	if err := cholUpper(n, a, lda); err != nil {
		return err
	}
	for i := 1; i < n; i++ {
		clear(a[i*lda : i*lda+i])
	}
	return nil
}

// CholeskyGo is Cholesky computed by gonum's pure-Go LAPACK (dpotrf, its
// BLAS on goroutines) whatever the backend: for a one-off factorisation in
// a process whose cores have other work. OpenBLAS's threads go on
// spinning (sched_yield) for a while after each call, which cost crd
// predict about 0.3 s of CPU on 2 cores after the scoring factor of a
// 1056-dimensional model (26 ms on OpenBLAS, 70-95 ms here).
func CholeskyGo(n int, a []float64, lda int) error {
	if n == 0 {
		return nil
	}
	if len(a) < (n-1)*lda+n {
		panic("blas: matrix slice too short")
	}
	var l golapack.Implementation
	if !l.Dpotrf(gblas.Upper, n, a, lda) {
		return ErrNotPositiveDefinite
	}
	for i := 1; i < n; i++ {
		clear(a[i*lda : i*lda+i])
	}
	return nil
}

// Symmetrize copies the upper triangle of the n x n matrix A into its lower
// triangle.
func Symmetrize(n int, a []float64, lda int) {
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			a[j*lda+i] = a[i*lda+j]
		}
	}
}
