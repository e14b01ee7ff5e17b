//go:build cgo && !noopenblas

package blas

/*
#cgo LDFLAGS: -lopenblas -ldl
// Prototypes are declared here rather than taken from cblas.h, whose location
// differs between distributions. Enum values are those of the CBLAS standard.
void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void cblas_dgemm(int order, int transA, int transB, int m, int n, int k, double alpha, const double *a, int lda, const double *b, int ldb, double beta, double *c, int ldc);
void cblas_dsyrk(int order, int uplo, int trans, int n, int k, double alpha, const double *a, int lda, double beta, double *c, int ldc);
void cblas_ssyrk(int order, int uplo, int trans, int n, int k, float alpha, const float *a, int lda, float beta, float *c, int ldc);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);
char *openblas_get_corename(void);

#include <dlfcn.h>

// crd_blas_stop_threads stops OpenBLAS's worker threads where the linked
// library has them (blas_thread_shutdown_, looked up at run time: a
// single-threaded OpenBLAS has no such function).
static void crd_blas_stop_threads(void) {
	int (*stop)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
	if (stop) stop();
}
*/
import "C"

import "unsafe"

const (
	rowMajor = 101
	noTrans  = 111
	trans    = 112
	upper    = 121
)

// Backend names the linked implementation.
const Backend = "openblas"

// CoreName is the CPU kernel set OpenBLAS chose at load time, for example
// "SkylakeX", "Haswell" or "Prescott" (its slowest, SSE3-only, fallback,
// which OpenBLAS 0.3.21 picks on CPUs newer than it knows unless
// OPENBLAS_CORETYPE says otherwise).
func CoreName() string { return coreName }

var coreName = C.GoString(C.openblas_get_corename())

// OpenBLAS starts its worker threads when the library is loaded, before
// main, and they spin (sched_yield) for about a tenth of a second waiting
// for work: measured 0.14 s of CPU (0.05 user, 0.08 system) in a process
// that only sleeps, on 2 cores, where crd loads its model and backbone at
// that moment and makes no BLAS call (its AVX-512 kernels do the work).
// Stopping them here costs nothing: OpenBLAS starts them again on the first
// call that runs threaded.
func init() { C.crd_blas_stop_threads() }

func tr(t bool) C.int {
	if t {
		return trans
	}
	return noTrans
}

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	C.cblas_sgemm(rowMajor, tr(transA), tr(transB), C.int(m), C.int(n), C.int(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.int(lda), (*C.float)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.int(ldc))
}

func dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkGemm(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	C.cblas_dgemm(rowMajor, tr(transA), tr(transB), C.int(m), C.int(n), C.int(k), C.double(alpha),
		(*C.double)(unsafe.Pointer(&a[0])), C.int(lda), (*C.double)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.int(ldc))
}

func dsyrk(n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	checkSyrk(n, k, len(a), lda, len(c), ldc)
	C.cblas_dsyrk(rowMajor, upper, noTrans, C.int(n), C.int(k), C.double(alpha),
		(*C.double)(unsafe.Pointer(&a[0])), C.int(lda), C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.int(ldc))
}

func ssyrk(n, k int, alpha float32, a []float32, lda int, beta float32, c []float32, ldc int) {
	checkSyrk(n, k, len(a), lda, len(c), ldc)
	C.cblas_ssyrk(rowMajor, upper, noTrans, C.int(n), C.int(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.int(lda), C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.int(ldc))
}

// cholUpper factors the row-major upper triangle (the column-major lower
// triangle that Fortran LAPACK sees).
func cholUpper(n int, a []float64, lda int) error {
	if len(a) < (n-1)*lda+n {
		panic("blas: matrix slice too short")
	}
	uplo := C.char('L')
	cn, clda := C.int(n), C.int(lda)
	var info C.int
	C.dpotrf_(&uplo, &cn, (*C.double)(unsafe.Pointer(&a[0])), &clda, &info)
	if info > 0 {
		return ErrNotPositiveDefinite
	}
	if info < 0 {
		panic("blas: dpotrf bad argument")
	}
	return nil
}

// cholInverseUpper works on the row-major upper triangle, which is the
// column-major lower triangle that Fortran LAPACK sees.
func cholInverseUpper(n int, a []float64, lda int) error {
	if err := cholUpper(n, a, lda); err != nil {
		return err
	}
	uplo := C.char('L')
	cn, clda := C.int(n), C.int(lda)
	var info C.int
	C.dpotri_(&uplo, &cn, (*C.double)(unsafe.Pointer(&a[0])), &clda, &info)
	if info > 0 {
		return ErrNotPositiveDefinite
	}
	return nil
}
