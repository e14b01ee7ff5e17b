package crd

import (
	"fmt"
	"sync"

	"github.com/crd-ad/crd/internal/blas"
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

	scratch sync.Pool // of *scoreScratch
}

type scoreScratch struct {
	z   []float32 // M Y, d x p
	acc []float64 // per-column sums, p
}

// Score writes the patch scores of one image to out[:p]. y is the image's
// d x p row-major feature matrix (a C x H x W feature map, C = d, p = H*W);
// out[j] is the score of column j: ||M y_j||^2 for Residual and
// -y_j^T M y_j = lambda y_j^T (G + lambda I)^-1 y_j for Objective. The cost is
// one float32 GEMM, M times Y (2 d^2 p flops), and a column reduction
// accumulated in float64. In steady state Score does not allocate.
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
	s, _ := m.scratch.Get().(*scoreScratch)
	if s == nil {
		s = new(scoreScratch)
	}
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
		for i := 0; i < d; i++ {
			zr, yr := z[i*p:(i+1)*p], y[i*p:(i+1)*p]
			yr = yr[:len(zr)]
			acc := acc[:len(zr)]
			for j, v := range zr {
				acc[j] -= float64(v) * float64(yr[j])
			}
		}
	} else {
		for i := 0; i < d; i++ {
			zr := z[i*p : (i+1)*p]
			acc := acc[:len(zr)]
			for j, v := range zr {
				f := float64(v)
				acc[j] += f * f
			}
		}
	}
	for j, v := range acc {
		out[j] = float32(v)
	}
	m.scratch.Put(s)
}
