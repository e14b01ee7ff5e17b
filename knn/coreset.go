package knn

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// CoresetOptions configures the greedy k-center coreset of Build and Coreset.
type CoresetOptions struct {
	// Ratio is the fraction of the bank to keep, in (0, 1]. The coreset has
	// max(1, floor(N * Ratio)) rows (anomalib: int(N * ratio)); Ratio = 1
	// keeps the whole bank in its original order, with no selection.
	Ratio float64
	// Dims is the dimension of the random projection the selection works in;
	// 0 means DefaultProjectionDims.
	Dims int
	// Seed fixes the projection and the start index: the same bank and Seed
	// give the same coreset.
	Seed uint64
	// Progress, if not nil, is called after each selected centre with the
	// number selected so far and the coreset size, from the goroutine that
	// runs the selection.
	Progress func(done, total int)
}

func (o CoresetOptions) validate() error {
	if !(o.Ratio > 0 && o.Ratio <= 1) {
		return fmt.Errorf("knn: coreset ratio %v is not in (0, 1]", o.Ratio)
	}
	if o.Dims < 0 {
		return fmt.Errorf("knn: projection dimension %d is negative", o.Dims)
	}
	return nil
}

// CoresetSize is the number of bank rows a coreset of ratio r keeps out of n:
// max(1, floor(n*r)), and n when r >= 1.
func CoresetSize(n int, r float64) int {
	if r >= 1 {
		return n
	}
	return max(1, min(n, int(float64(n)*r)))
}

// Coreset selects the rows of the n x d bank that PatchCore keeps: it projects
// the bank (Project, opt.Dims, opt.Seed), then runs KCenterGreedy from
// StartIndex(n, opt.Seed). With opt.Ratio = 1 it returns 0, 1, ..., n-1.
func Coreset(ctx context.Context, bank []float32, n, d int, opt CoresetOptions) ([]int, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	if len(bank) != n*d {
		panic(fmt.Sprintf("knn: Coreset: %d values are not a %d x %d bank", len(bank), n, d))
	}
	m := CoresetSize(n, opt.Ratio)
	if m == n {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx, nil
	}
	dims := opt.Dims
	if dims == 0 {
		dims = DefaultProjectionDims
	}
	proj, err := Project(ctx, bank, n, d, dims, opt.Seed)
	if err != nil {
		return nil, err
	}
	return KCenterGreedy(ctx, proj, n, dims, m, StartIndex(n, opt.Seed), opt.Progress)
}

// minRowsPerWorker keeps small problems on one goroutine.
const minRowsPerWorker = 4096

// KCenterGreedy is the greedy 2-approximation of the k-center problem
// (Gonzalez 1985; the coreset of PatchCore and Sener & Savarese 2018) on the
// n x k row-major points x: starting from the point start, it repeatedly adds
// the point whose squared distance to its nearest selected point is largest
// (ties to the lowest index), until m points are selected. It returns their
// indices in selection order. If every remaining point coincides with a
// selected one (the largest distance is 0) it stops early and returns fewer
// than m indices.
//
// The selection of m points costs m sweeps over x, each O(n k) float32 work
// split over GOMAXPROCS goroutines; the only memory besides x is n float32
// minimum distances. progress (may be nil) is called after each selection;
// ctx is checked before each sweep, and its error returned if cancelled.
func KCenterGreedy(ctx context.Context, x []float32, n, k, m, start int, progress func(done, total int)) ([]int, error) {
	workers := max(1, min(runtime.GOMAXPROCS(0), n/minRowsPerWorker))
	return kCenterGreedy(ctx, x, n, k, m, start, progress, workers)
}

func kCenterGreedy(ctx context.Context, x []float32, n, k, m, start int, progress func(done, total int), workers int) ([]int, error) {
	if len(x) != n*k || m < 1 || m > n || start < 0 || start >= n {
		panic(fmt.Sprintf("knn: KCenterGreedy(len %d, n=%d, k=%d, m=%d, start=%d): bad arguments", len(x), n, k, m, start))
	}
	minD := make([]float32, n)
	for i := range minD {
		minD[i] = float32(math.Inf(1))
	}
	g := newSweeper(x, k, minD, workers)
	defer g.close()

	sel := make([]int, 1, m)
	sel[0] = start
	if progress != nil {
		progress(1, m)
	}
	for len(sel) < m {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		best, arg := g.sweep(sel[len(sel)-1])
		if best <= 0 {
			break
		}
		minD[arg] = 0
		sel = append(sel, arg)
		if progress != nil {
			progress(len(sel), m)
		}
	}
	return sel, nil
}

// sweeper runs the greedy update "minD = min(minD, ||x_i - c||^2), then find
// the argmax of minD" over contiguous chunks of the points, chunk 0 on the
// calling goroutine and the others on persistent workers, so that one sweep
// allocates nothing.
type sweeper struct {
	parts []sweepPart
	wg    sync.WaitGroup
}

type sweepPart struct {
	x      []float32 // the chunk's rows
	minD   []float32 // the chunk's minimum distances
	all    []float32 // every row, to find the centre
	k, lo  int
	best   float32
	arg    int
	wakeup chan int
}

func newSweeper(x []float32, k int, minD []float32, w int) *sweeper {
	n := len(minD)
	w = max(1, min(w, n))
	g := &sweeper{parts: make([]sweepPart, w)}
	for i := range g.parts {
		lo, hi := i*n/w, (i+1)*n/w
		pt := &g.parts[i]
		*pt = sweepPart{x: x[lo*k : hi*k], minD: minD[lo:hi], all: x, k: k, lo: lo}
		if i > 0 {
			pt.wakeup = make(chan int)
			go func() {
				for c := range pt.wakeup {
					pt.run(c)
					g.wg.Done()
				}
			}()
		}
	}
	return g
}

// sweep updates every minimum distance with the centre c and returns the
// largest one and its index.
func (g *sweeper) sweep(c int) (best float32, arg int) {
	g.wg.Add(len(g.parts) - 1)
	for i := 1; i < len(g.parts); i++ {
		g.parts[i].wakeup <- c
	}
	g.parts[0].run(c)
	g.wg.Wait()
	best, arg = -1, -1
	for i := range g.parts {
		if pt := &g.parts[i]; pt.best > best {
			best, arg = pt.best, pt.arg
		}
	}
	return best, arg
}

func (g *sweeper) close() {
	for i := 1; i < len(g.parts); i++ {
		close(g.parts[i].wakeup)
	}
}

func (pt *sweepPart) run(c int) {
	k := pt.k
	ctr := pt.all[c*k : (c+1)*k : (c+1)*k]
	best, arg := float32(-1), -1
	minD := pt.minD
	x := pt.x
	for i := range minD {
		d := sqDist(x[i*k:(i+1)*k:(i+1)*k], ctr)
		m := minD[i]
		if d < m {
			m = d
			minD[i] = m
		}
		if m > best {
			best, arg = m, i
		}
	}
	pt.best, pt.arg = best, pt.lo+arg
}

// sqDist is ||a - b||^2 in float32, with four partial sums.
func sqDist(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0 := a[i] - b[i]
		d1 := a[i+1] - b[i+1]
		d2 := a[i+2] - b[i+2]
		d3 := a[i+3] - b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}
