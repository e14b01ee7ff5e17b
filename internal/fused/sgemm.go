package fused

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/crd-ad/crd/internal/blas"
)

// Sgemm computes C = alpha A B, or C = alpha A B + C when beta1, in
// float32: A is m x k, B is k x n, C is m x n, all row-major with row
// strides lda, ldb and ldc (OpenBLAS's cblas_sgemm with no transposes and
// beta 0 or 1: what a convolution lowered to a matrix product and the
// nearest-neighbour distances need). It uses 12 x 32 register tiles with
// both operands packed, and splits the rows among GOMAXPROCS goroutines. It
// panics on slices too short for the shapes, or unless Available.
func Sgemm(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta1 bool, c []float32, ldc int) {
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
	workers := min(runtime.GOMAXPROCS(0), runtime.NumCPU(), tiles)
	if m*n*k < 1<<18 {
		workers = 1
	}
	call := getSgemmCall()
	need := sgemmABuf + sgemmBBuf(n)
	for len(call.tasks) < workers {
		call.tasks = append(call.tasks, sgemmTask{})
	}
	for w := 0; w < workers; w++ {
		r0 := w * tiles / workers * sgemmRowTile
		r1 := min(m, (w+1)*tiles/workers*sgemmRowTile)
		t := &call.tasks[w]
		if cap(t.buf) < need {
			t.buf = make([]float32, need)
		}
		t.m, t.n, t.k, t.alpha, t.beta1 = r1-r0, n, k, alpha, beta1
		t.a, t.lda, t.b, t.ldb, t.c, t.ldc = a[r0*lda:], lda, b, ldb, c[r0*ldc:], ldc
		t.wg = &call.wg
	}
	startWorkers()
	call.wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		work <- &call.tasks[w]
	}
	call.tasks[0].run()
	call.wg.Wait()
	for w := range call.tasks[:workers] {
		t := &call.tasks[w]
		t.a, t.b, t.c = nil, nil, nil // do not keep the caller's matrices alive
	}
	putSgemmCall(call)
}

// sgemmCall is the state of one Sgemm call, reused through a free list
// (not a sync.Pool, which may drop entries) so that a call does not
// allocate: one task and packing buffer per worker.
type sgemmCall struct {
	tasks []sgemmTask
	wg    sync.WaitGroup
}

var sgemmFree struct {
	sync.Mutex
	calls []*sgemmCall
}

func getSgemmCall() *sgemmCall {
	sgemmFree.Lock()
	defer sgemmFree.Unlock()
	if n := len(sgemmFree.calls); n > 0 {
		c := sgemmFree.calls[n-1]
		sgemmFree.calls = sgemmFree.calls[:n-1]
		return c
	}
	return new(sgemmCall)
}

func putSgemmCall(c *sgemmCall) {
	sgemmFree.Lock()
	sgemmFree.calls = append(sgemmFree.calls, c)
	sgemmFree.Unlock()
}

// sgemmTask is one worker's rows of an Sgemm call.
type sgemmTask struct {
	m, n, k       int
	alpha         float32
	beta1         bool
	a, b, c       []float32
	lda, ldb, ldc int
	buf           []float32
	wg            *sync.WaitGroup
}

func (t *sgemmTask) run() {
	need := sgemmABuf + sgemmBBuf(t.n)
	sgemmKernel(t.m, t.n, t.k, t.alpha, t.a, t.lda, t.b, t.ldb, t.beta1, t.c, t.ldc, t.buf[:sgemmABuf], t.buf[sgemmABuf:need])
}

func (t *sgemmTask) group() *sync.WaitGroup { return t.wg }

// Gemm is C = alpha A B + beta C for row-major A (m x k), B (k x n) and C
// (m x n): Sgemm where the kernel runs and beta is 0 or 1, else OpenBLAS's
// cblas_sgemm (or gonum's without cgo).
func Gemm(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if Available && (beta == 0 || beta == 1) {
		Sgemm(m, n, k, alpha, a, lda, b, ldb, beta == 1, c, ldc)
		return
	}
	blas.Sgemm(false, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
