package crd

import (
	"errors"
	"fmt"
	"math"

	"github.com/crd-ad/crd/internal/blas"
)

// LambdaMode says how SolveOptions.Lambda is read.
type LambdaMode string

const (
	// Absolute: lambda is used as given, as in the paper (lambda = 5 there).
	// Its meaning then depends on the number of training patches and on the
	// feature scale, because G grows with both.
	Absolute LambdaMode = "absolute"
	// Relative: lambda is r * trace(G) / d, a fraction r of G's mean
	// eigenvalue. It is invariant to the number of images (for a fixed
	// feature distribution) and to a rescaling of the features.
	Relative LambdaMode = "relative"
)

// ScoreKind selects the patch score.
type ScoreKind string

const (
	// Residual is the paper's score, the ridge reconstruction residual
	// ||M y||^2 = lambda^2 y^T (G + lambda I)^-2 y.
	Residual ScoreKind = "residual"
	// Objective is the minimum value of the ridge objective,
	// min_rho ||y - F rho||^2 + lambda ||rho||^2 = lambda y^T (G + lambda I)^-1 y.
	Objective ScoreKind = "objective"
)

// The default regulariser is relative: lambda = DefaultLambda * trace(G)/d,
// one hundredth of the mean eigenvalue of G. A relative lambda keeps its
// meaning when the training set grows or the features are rescaled, which
// the paper's absolute lambda = 5 (still reachable with Absolute) does not.
//
// The value was chosen on the synthetic demo data set (package synth), not
// on any test split: with inception_v3 features, image AUROC there peaks
// between 1e-2 and 3e-2 while pixel metrics keep rising slowly with lambda;
// 1e-3 and below lose accuracy quickly. On ball_screw the same sweep (docs/accuracy.md)
// puts image AUROC at its best at 1e-2 too.
const (
	DefaultLambda     = 1e-2
	DefaultLambdaMode = Relative
	DefaultScore      = Residual
)

// SolveOptions configure Accumulator.Solve. Every field must be set; start
// from DefaultSolveOptions.
type SolveOptions struct {
	// Lambda is the regulariser, read according to Mode. It must be positive
	// and finite.
	Lambda float64
	Mode   LambdaMode
	Score  ScoreKind
}

// DefaultSolveOptions returns the default regulariser and the paper's score.
func DefaultSolveOptions() SolveOptions {
	return SolveOptions{Lambda: DefaultLambda, Mode: DefaultLambdaMode, Score: DefaultScore}
}

// Validate reports whether the options are usable.
func (o SolveOptions) Validate() error {
	if !(o.Lambda > 0) || math.IsInf(o.Lambda, 0) {
		return fmt.Errorf("%w: lambda = %g, it must be positive and finite", ErrLambda, o.Lambda)
	}
	if o.Mode != Absolute && o.Mode != Relative {
		return fmt.Errorf("crd: unknown lambda mode %q (want %q or %q)", o.Mode, Absolute, Relative)
	}
	if o.Score != Residual && o.Score != Objective {
		return fmt.Errorf("crd: unknown score kind %q (want %q or %q)", o.Score, Residual, Objective)
	}
	return nil
}

var (
	// ErrLambda: the regulariser is not positive and finite (as given, or as
	// resolved from a relative value).
	ErrLambda = errors.New("crd: invalid lambda")
	// ErrEmpty: Solve was called before any patch was added.
	ErrEmpty = errors.New("crd: no training patches")
	// ErrNonFinite: G holds NaN or Inf, so some training feature did. Errors
	// wrapping it also wrap blas.ErrNotPositiveDefinite.
	ErrNonFinite = errors.New("crd: Gram matrix has non-finite values (NaN or Inf in the training features)")
)

// ResolveLambda returns the absolute lambda that opts give for a's G.
func (a *Accumulator) ResolveLambda(opts SolveOptions) float64 {
	if opts.Mode == Relative {
		return opts.Lambda * a.Trace() / float64(a.d)
	}
	return opts.Lambda
}

// Solve computes the model M = -lambda (G + lambda I)^-1 in float64 (Cholesky
// inverse, blas.CholeskyInverse) and stores it as float32. The model keeps a
// copy of the accumulator, so it can be updated or merged later.
//
// Solve returns an error wrapping ErrEmpty when no patch was added, ErrLambda
// for a bad regulariser, and blas.ErrNotPositiveDefinite when G + lambda I is
// not positive definite: G holds non-finite values (also wrapping
// ErrNonFinite), or lambda is too small for a rank-deficient G to survive
// rounding.
func (a *Accumulator) Solve(opts SolveOptions) (*Model, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if a.patches == 0 {
		return nil, ErrEmpty
	}
	lambda := a.ResolveLambda(opts)
	m64, err := solve64(a.d, a.g, lambda)
	if err != nil {
		return nil, err
	}
	m := &Model{
		D:          a.d,
		M:          make([]float32, len(m64)),
		Lambda:     lambda,
		Options:    opts,
		NumPatches: a.patches,
		NumImages:  a.images,
		Acc:        a.Clone(),
		kern:       a.kern,
	}
	for i, v := range m64 {
		m.M[i] = float32(v)
	}
	return m, nil
}

// solve64 returns M = -lambda (G + lambda I)^-1 in float64, full and
// symmetric, reading only the upper triangle of the d x d matrix g.
func solve64(d int, g []float64, lambda float64) ([]float64, error) {
	if !(lambda > 0) || math.IsInf(lambda, 0) {
		return nil, fmt.Errorf("%w: lambda resolves to %g (is trace(G) zero or non-finite?)", ErrLambda, lambda)
	}
	a := make([]float64, d*d)
	for i := 0; i < d; i++ {
		row := g[i*d+i : (i+1)*d]
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: G[%d,%d] = %g: %w", ErrNonFinite, i, i+j, v, blas.ErrNotPositiveDefinite)
			}
		}
		copy(a[i*d+i:(i+1)*d], row)
		a[i*d+i] += lambda
	}
	if err := blas.CholeskyInverse(d, a, d); err != nil {
		return nil, fmt.Errorf("crd: G + lambda I (d = %d, lambda = %g) cannot be inverted; use a larger lambda: %w", d, lambda, err)
	}
	for i := range a {
		a[i] *= -lambda
	}
	return a, nil
}
