package knn

import (
	"context"
	"fmt"
	"math"

	"github.com/crd-ad/crd/internal/parallel"
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
	workers := parallel.Workers(n/minRowsPerWorker, 0)
	return kCenterGreedy(ctx, x, n, k, m, start, progress, workers)
}

func kCenterGreedy(ctx context.Context, x []float32, n, k, m, start int, progress func(done, total int), workers int) ([]int, error) {
	if len(x) != n*k || m < 1 || m > n || start < 0 || start >= n {
		panic(fmt.Sprintf("knn: KCenterGreedy(len %d, n=%d, k=%d, m=%d, start=%d): bad arguments", len(x), n, k, m, start))
	}
	g := newSweeper(x, n, k, m, workers)

	g.sel = append(g.sel, start)
	if progress != nil {
		progress(1, m)
	}
	for len(g.sel) < m {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		best, arg := g.sweep()
		if best <= 0 {
			break
		}
		g.minD[arg] = 0
		g.sel = append(g.sel, arg)
		if progress != nil {
			progress(len(g.sel), m)
		}
	}
	return g.sel, nil
}

// pruneFactor is the triangle-inequality test of the sweep, squared, with a
// margin: a point i whose nearest centre a satisfies
// ||c - a||^2 > pruneFactor * ||x_i - a||^2, that is ||c - a|| > 2.002 ||x_i - a||,
// is at least 1.002 ||x_i - a|| from the new centre c, so its minimum distance
// cannot change and is not recomputed. The 0.1% margin is far above float32
// rounding, so the selection is the same as without pruning.
const pruneFactor = 4 * 1.001 * 1.001

// sweeper runs the greedy update "minD_i = min(minD_i, ||x_i - c||^2) for the
// newest centre c, then find the argmax of minD" over contiguous chunks of the
// points, chunk 0 on the calling goroutine and the others on parallel's
// worker pool, so that one sweep allocates nothing.
//
// Each point remembers its nearest centre, which lets the sweep skip the
// points that the triangle inequality shows cannot move closer (see
// pruneFactor; the acceleration of Elkan's k-means applied to farthest-point
// selection). A skipped point costs 8 bytes of memory traffic instead of
// 4k. The distances from c to the old centres are computed when first needed,
// once per worker and sweep.
type sweeper struct {
	x     []float32 // n x k points
	k     int
	minD  []float32 // squared distance of each point to its nearest centre
	near  []int32   // index in sel of that centre, -1 before the first sweep
	sel   []int     // selected points, in order; the newest is the centre
	parts []sweepPart
}

type sweepPart struct {
	g      *sweeper
	lo, hi int
	cc     []float32 // squared distance from the centre to each old centre
	stamp  []int32   // len(sel) when cc[j] was computed
	best   float32
	arg    int
	evals  int // distance evaluations so far, for tests and benchmarks
}

func newSweeper(x []float32, n, k, m, w int) *sweeper {
	w = max(1, min(w, n))
	g := &sweeper{x: x, k: k, minD: make([]float32, n), near: make([]int32, n), sel: make([]int, 0, m)}
	for i := range g.minD {
		g.minD[i] = float32(math.Inf(1))
		g.near[i] = -1
	}
	g.parts = make([]sweepPart, w)
	for i := range g.parts {
		g.parts[i] = sweepPart{g: g, lo: i * n / w, hi: (i + 1) * n / w, cc: make([]float32, m), stamp: make([]int32, m)}
	}
	return g
}

// sweep updates every minimum distance with the newest centre and returns the
// largest one and its index (the lowest index among equals).
func (g *sweeper) sweep() (best float32, arg int) {
	parallel.Run(g.parts)
	best, arg = -1, -1
	for i := range g.parts {
		if pt := &g.parts[i]; pt.best > best {
			best, arg = pt.best, pt.arg
		}
	}
	return best, arg
}

// evals is the number of point-to-centre distances computed so far.
func (g *sweeper) evals() int {
	e := 0
	for i := range g.parts {
		e += g.parts[i].evals
	}
	return e
}

// Run does the part's share of a sweep.
func (pt *sweepPart) Run() {
	g := pt.g
	k, x, sel := g.k, g.x, g.sel
	stampNow := int32(len(sel))
	cj := int32(len(sel) - 1)
	c := sel[cj]
	ctr := x[c*k : (c+1)*k : (c+1)*k]
	minD, near := g.minD[pt.lo:pt.hi], g.near[pt.lo:pt.hi]
	near = near[:len(minD)]
	best, arg, evals := float32(-1), -1, 0
	for i, m := range minD {
		if m > 0 {
			a := near[i]
			prune := false
			if a >= 0 {
				if pt.stamp[a] != stampNow {
					o := sel[a]
					pt.cc[a] = sqDist(x[o*k:(o+1)*k:(o+1)*k], ctr)
					pt.stamp[a] = stampNow
				}
				prune = pt.cc[a] > pruneFactor*m
			}
			if !prune {
				r := pt.lo + i
				d := sqDist(x[r*k:(r+1)*k:(r+1)*k], ctr)
				evals++
				if d < m {
					m = d
					minD[i], near[i] = d, cj
				}
			}
		}
		if m > best {
			best, arg = m, i
		}
	}
	pt.best, pt.arg = best, pt.lo+arg
	pt.evals += evals
}

// sqDistGeneric is ||a - b||^2 in float32, with four partial sums.
func sqDistGeneric(a, b []float32) float32 {
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
