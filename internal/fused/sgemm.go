package fused

import (
	"fmt"
	"runtime"
	"sync"
)

// Sgemm computes C = A B, or C = A B + C when beta1, in float32: A is m x k,
// B is k x n, C is m x n, all row-major with row strides lda, ldb and ldc
// (OpenBLAS's cblas_sgemm with no transposes, alpha = 1 and beta 0 or 1:
// what a convolution lowered to a matrix product needs). It uses 12 x 32
// register tiles with both operands packed, and splits the rows among
// GOMAXPROCS goroutines. It panics on slices too short for the shapes, or
// unless Available.
func Sgemm(m, n, k int, a []float32, lda int, b []float32, ldb int, beta1 bool, c []float32, ldc int) {
	if !Available {
		panic("fused: no AVX-512 kernel in this build or on this CPU")
	}
	if m < 0 || n < 0 || k < 0 || lda < max(k, 1) || ldb < max(n, 1) || ldc < max(n, 1) ||
		(m > 0 && k > 0 && len(a) < (m-1)*lda+k) || (k > 0 && n > 0 && len(b) < (k-1)*ldb+n) ||
		(m > 0 && n > 0 && len(c) < (m-1)*ldc+n) {
		panic(fmt.Sprintf("fused: Sgemm: %d x %d x %d with strides %d, %d, %d on %d, %d, %d values",
			m, n, k, lda, ldb, ldc, len(a), len(b), len(c)))
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if !beta1 {
			for i := 0; i < m; i++ {
				clear(c[i*ldc : i*ldc+n])
			}
		}
		return
	}
	// Row ranges in whole tiles; small products stay on one core.
	tiles := (m + sgemmRowTile - 1) / sgemmRowTile
	workers := min(runtime.GOMAXPROCS(0), tiles)
	if m*n*k < 1<<18 {
		workers = 1
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		r0 := w * tiles / workers * sgemmRowTile
		r1 := min(m, (w+1)*tiles/workers*sgemmRowTile)
		run := func() {
			s := sgemmScratch.Get().(*[]float32)
			need := sgemmABuf + sgemmBBuf(n)
			if cap(*s) < need {
				*s = make([]float32, need)
			}
			buf := (*s)[:need]
			sgemmKernel(r1-r0, n, k, a[r0*lda:], lda, b, ldb, beta1, c[r0*ldc:], ldc, buf[:sgemmABuf], buf[sgemmABuf:])
			sgemmScratch.Put(s)
		}
		if w == workers-1 {
			run()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			run()
		}()
	}
	wg.Wait()
}

// sgemmScratch holds packing buffers, one per running Sgemm worker.
var sgemmScratch = sync.Pool{New: func() any { return new([]float32) }}
