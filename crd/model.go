package crd

import (
	"fmt"
	"sync"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/blas"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/internal/parallel"
	"github.com/crd-ad/crd/nn"
)

// Model is a solved CRD model: the float32 d x d matrix
// M = -lambda (G + lambda I)^-1 that scores patch features.
//
// Score is safe for concurrent use. Do not copy a Model after first use.
type Model struct {
	// D is the feature dimension.
	D int
	// M is the d x d row-major, symmetric scoring matrix.
	M []float32
	// Lambda is the absolute regulariser the solve used.
	Lambda float64
	// Options are the settings the model was solved with (Lambda there is
	// the value as given, read according to Options.Mode).
	Options SolveOptions
	// NumPatches and NumImages count the training data.
	NumPatches, NumImages int64
	// Acc is the model's own copy of the training statistics, or nil when
	// the model was loaded from a file saved without G. To add normal images
	// to a deployed model, Add them to Acc and Solve again with Options.
	Acc *Accumulator

	// Scratch buffers of Score, one per concurrent caller at most. Unlike a
	// sync.Pool, the free list is not emptied by the garbage collector, so
	// the d x p buffers are not reallocated after every GC cycle.
	free parallel.FreeList[scoreScratch]

	// kern chooses the scoring path and the Gram update behind the
	// factor (the zero Set: kernels.Detected).
	kern kernels.Set

	// The triangular scoring factor for the AVX-512 kernel, made on first
	// use for the score kind in factorKind (nil: use the GEMM).
	factorMu   sync.Mutex
	factorKind ScoreKind
	factorDone bool
	factor     *avx512.Packed
	// factorL is the same factor transposed, U^T row-major (d x d), for
	// ScoreLayers; blocks are its parts packed per layer (layerBlocks),
	// keyed by the layer's first and last feature.
	factorL []float32
	blocks  map[[2]int][]factorBlock
}

type scoreScratch struct {
	z   []float32 // M Y, d x p
	acc []float64 // per-column sums, p

	// ScoreLayers's buffers: the product on a coarse grid (z holds the
	// one on the grid), the concatenated features of its fallback, a
	// layer resized for them, and the inner products of quadSquares.
	coarse, y  []float32
	resizedMap nn.NHWC
	gram       []float64
}

// Score writes the patch scores of one image to out[:p]. y is the image's
// d x p row-major feature matrix (a C x H x W feature map, C = d, p = H*W);
// out[j] is the score of column j: ||M y_j||^2 for Residual and
// -y_j^T M y_j = lambda y_j^T (G + lambda I)^-1 y_j for Objective.
//
// Both are squared norms ||U y_j||^2 of an upper-triangular U: the Cholesky
// factor of M^T M (Residual) or of -M (Objective), made once in float64 on
// first use. Where crd's AVX-512 kernel runs, Score uses U
// and does d^2 p multiply-adds, half the 2 d^2 p flops of the product M Y,
// without forming U Y. Elsewhere (or if the factorisation fails) it is one
// float32 GEMM, M times Y, and a column reduction in float64. In steady
// state Score does not allocate.
//
// Score panics if len(y) != D*p or len(out) < p.
func (m *Model) Score(y []float32, p int, out []float32) {
	d := m.D
	if p < 0 || len(y) != d*p || len(out) < p {
		panic(fmt.Sprintf("crd: Score: %d features for %d x %d, %d outputs", len(y), d, p, len(out)))
	}
	if p == 0 {
		return
	}
	if f, _ := m.scoringFactor(); f != nil {
		f.Norms(y, p, out)
		return
	}
	m.scoreGEMM(y, p, out)
}

// Prepare makes now what Score and ScoreLayers otherwise make on their
// first call: the triangular factor of the scores (about 0.1 s of one core
// for d = 1056). A caller that is about to do other work, such as loading
// the backbone, can run it on another goroutine so that the first image
// does not wait for it. It is safe to call concurrently with the scores.
func (m *Model) Prepare() { m.scoringFactor() }

// scoringFactor returns the triangular factor U packed for the AVX-512
// kernel and its transpose U^T row-major (d x d), or nils where the
// AVX-512 kernel does not run or the factorisation failed.
func (m *Model) scoringFactor() (*avx512.Packed, []float32) {
	if !m.kern.UsesAVX512(kernels.Score) {
		return nil, nil
	}
	m.factorMu.Lock()
	defer m.factorMu.Unlock()
	if !m.factorDone || m.factorKind != m.Options.Score {
		u := triangularFactor(m)
		m.factor, m.factorL, m.factorKind, m.factorDone, m.blocks = nil, nil, m.Options.Score, true, nil
		if u != nil {
			d := m.D
			m.factor = avx512.Pack(u, d, true)
			m.factorL = make([]float32, d*d)
			for i := range d {
				for k, v := range u[i*d : (i+1)*d] {
					m.factorL[k*d+i] = v
				}
			}
		}
	}
	return m.factor, m.factorL
}

// triangularFactor returns U, upper triangular with U^T U = M^T M
// (Residual) or -M (Objective), row-major d x d; nil if the matrix is not
// numerically positive definite.
func triangularFactor(m *Model) []float32 {
	d := m.D
	var a []float64
	if m.Options.Score == Objective {
		a = make([]float64, d*d)
		for i, v := range m.M {
			a[i] = -float64(v)
		}
	} else {
		a = gramOfColumns(m.M, d, m.kern)
	}
	// On gonum's pure-Go LAPACK: the factor is made once, while the backbone
	// works on the cores, where OpenBLAS's threads would spin on after the
	// call (blas.CholeskyGo).
	if err := blas.CholeskyGo(d, a, d); err != nil {
		return nil
	}
	u := make([]float32, d*d)
	for i, v := range a {
		u[i] = float32(v)
	}
	return u
}

// gramOfColumns returns M^T M for the d x d row-major m, upper triangle
// exact (d x d float64): the Gram matrix of M's rows, accumulated from M^T
// taken as d features of d patches, on the accumulator's own Gram path
// (the AVX-512 kernel or dsyrk, as kern chooses).
func gramOfColumns(m []float32, d int, kern kernels.Set) []float64 {
	mt := make([]float32, d*d)
	for i := 0; i < d; i++ {
		for j, v := range m[i*d : (i+1)*d] {
			mt[j*d+i] = v
		}
	}
	acc := NewAccumulator(d)
	acc.kern = kern
	acc.Add(mt, d)
	return acc.g
}

// scoreGEMM is Score through the product M Y.
func (m *Model) scoreGEMM(y []float32, p int, out []float32) {
	d := m.D
	s := m.getScratch()
	if cap(s.z) < d*p {
		s.z = make([]float32, d*p)
	}
	if cap(s.acc) < p {
		s.acc = make([]float64, p)
	}
	z, acc := s.z[:d*p], s.acc[:p]
	blas.Sgemm(false, false, d, p, d, 1, m.M, d, y, p, 0, z, p)
	clear(acc)
	if m.Options.Score == Objective {
		reduceDot(acc, z, y, d, p)
	} else {
		reduceSquares(acc, z, d, p)
	}
	for j, v := range acc {
		out[j] = float32(v)
	}
	m.putScratch(s)
}

func (m *Model) getScratch() *scoreScratch { return m.free.Get() }

func (m *Model) putScratch(s *scoreScratch) { m.free.Put(s) }

// reduceSquares adds the squared entries of each column of the d x p matrix
// z to acc, four rows per pass so that acc is loaded and stored a quarter as
// often.
func reduceSquares(acc []float64, z []float32, d, p int) {
	i := 0
	for ; i+4 <= d; i += 4 {
		z0, z1, z2, z3 := z[i*p:(i+1)*p], z[(i+1)*p:(i+2)*p], z[(i+2)*p:(i+3)*p], z[(i+3)*p:(i+4)*p]
		acc := acc[:len(z0)]
		z1, z2, z3 = z1[:len(z0)], z2[:len(z0)], z3[:len(z0)]
		for j, v := range z0 {
			a, b, c, e := float64(v), float64(z1[j]), float64(z2[j]), float64(z3[j])
			acc[j] += (a*a + b*b) + (c*c + e*e)
		}
	}
	for ; i < d; i++ {
		zr := z[i*p : (i+1)*p]
		acc := acc[:len(zr)]
		for j, v := range zr {
			f := float64(v)
			acc[j] += f * f
		}
	}
}

// reduceDot subtracts the column-wise dot products of the d x p matrices z
// and y from acc, four rows per pass.
func reduceDot(acc []float64, z, y []float32, d, p int) {
	i := 0
	for ; i+4 <= d; i += 4 {
		z0, z1, z2, z3 := z[i*p:(i+1)*p], z[(i+1)*p:(i+2)*p], z[(i+2)*p:(i+3)*p], z[(i+3)*p:(i+4)*p]
		y0, y1, y2, y3 := y[i*p:(i+1)*p], y[(i+1)*p:(i+2)*p], y[(i+2)*p:(i+3)*p], y[(i+3)*p:(i+4)*p]
		n := len(z0)
		acc := acc[:n]
		z1, z2, z3 = z1[:n], z2[:n], z3[:n]
		y0, y1, y2, y3 = y0[:n], y1[:n], y2[:n], y3[:n]
		for j, v := range z0 {
			acc[j] -= (float64(v)*float64(y0[j]) + float64(z1[j])*float64(y1[j])) +
				(float64(z2[j])*float64(y2[j]) + float64(z3[j])*float64(y3[j]))
		}
	}
	for ; i < d; i++ {
		zr, yr := z[i*p:(i+1)*p], y[i*p:(i+1)*p]
		acc := acc[:len(zr)]
		yr = yr[:len(zr)]
		for j, v := range zr {
			acc[j] -= float64(v) * float64(yr[j])
		}
	}
}
