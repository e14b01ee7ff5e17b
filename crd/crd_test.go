package crd

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/crd-ad/crd/internal/blas"
	"github.com/crd-ad/crd/internal/kernels"
	"gonum.org/v1/gonum/mat"
)

// images returns n random d x p feature matrices with a low-rank-plus-noise
// structure (like CNN features: a few strong directions), float32 valued.
func images(seed uint64, n, d, p int) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 99))
	basis := make([]float64, 3*d)
	rb := rand.New(rand.NewPCG(7, 7)) // shared across seeds: same distribution
	for i := range basis {
		basis[i] = rb.NormFloat64()
	}
	out := make([][]float32, n)
	for k := range out {
		y := make([]float32, d*p)
		for j := 0; j < p; j++ {
			c := [3]float64{3 * r.NormFloat64(), 2 * r.NormFloat64(), r.NormFloat64()}
			for i := 0; i < d; i++ {
				v := 0.1*r.NormFloat64() + 0.5
				for b := range c {
					v += c[b] * basis[b*d+i]
				}
				y[i*p+j] = float32(v)
			}
		}
		out[k] = y
	}
	return out
}

// featureMatrix stacks the images' patch features as the columns of F
// (d x N), in float64.
func featureMatrix(imgs [][]float32, d, p int) *mat.Dense {
	f := mat.NewDense(d, len(imgs)*p, nil)
	for k, y := range imgs {
		for i := 0; i < d; i++ {
			for j := 0; j < p; j++ {
				f.Set(i, k*p+j, float64(y[i*p+j]))
			}
		}
	}
	return f
}

func train(t testing.TB, imgs [][]float32, d, p int, opts SolveOptions) (*Accumulator, *Model) {
	t.Helper()
	a := NewAccumulator(d)
	for _, y := range imgs {
		a.Add(y, p)
	}
	m, err := a.Solve(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a, m
}

func relErr(got, want []float64) float64 {
	num, den := 0.0, 0.0
	for i := range want {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	return math.Sqrt(num / den)
}

// TestAgainstDirectFormula checks the d x d form against the paper's N x N
// formula M = F (F^T F + lambda I_N)^-1 F^T - I_d, computed with gonum in
// float64, and the float32 scores against direct float64 scores.
func TestAgainstDirectFormula(t *testing.T) {
	const d, p = 16, 8
	for _, tc := range []struct {
		name   string
		n      int // images; N = n p patches
		lambda float64
		mode   LambdaMode
	}{
		{"N=40 absolute", 5, 5, Absolute},
		{"N=40 relative", 5, 1e-2, Relative},
		{"N=8 rank-deficient", 1, 0.5, Absolute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imgs := images(1, tc.n, d, p)
			fm := featureMatrix(imgs, d, p)
			N := tc.n * p
			acc, _ := train(t, imgs, d, p, SolveOptions{Lambda: 1, Mode: Absolute, Score: Residual})
			lambda := tc.lambda
			if tc.mode == Relative {
				var g mat.Dense
				g.Mul(fm, fm.T())
				lambda *= mat.Trace(&g) / d
			}
			if got := acc.ResolveLambda(SolveOptions{Lambda: tc.lambda, Mode: tc.mode}); math.Abs(got-lambda) > 1e-12*lambda {
				t.Fatalf("resolved lambda %g, want %g", got, lambda)
			}

			// Direct: M = F (F^T F + lambda I)^-1 F^T - I.
			var ftf mat.Dense
			ftf.Mul(fm.T(), fm)
			for i := 0; i < N; i++ {
				ftf.Set(i, i, ftf.At(i, i)+lambda)
			}
			var x mat.Dense // (F^T F + lambda I)^-1 F^T
			if err := x.Solve(&ftf, fm.T()); err != nil {
				t.Fatal(err)
			}
			var want mat.Dense
			want.Mul(fm, &x)
			for i := 0; i < d; i++ {
				want.Set(i, i, want.At(i, i)-1)
			}

			got, err := solve64(d, acc.g, lambda)
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(got, want.RawMatrix().Data); e > 1e-9 {
				t.Fatalf("d x d form vs N x N formula: relative error %g", e)
			}

			// Scores of fresh queries, both score kinds.
			q := images(2, 1, d, p)[0]
			for _, kind := range []ScoreKind{Residual, Objective} {
				m, err := acc.Solve(SolveOptions{Lambda: tc.lambda, Mode: tc.mode, Score: kind})
				if err != nil {
					t.Fatal(err)
				}
				out := make([]float32, p)
				m.Score(q, p, out)
				for j := 0; j < p; j++ {
					y := mat.NewVecDense(d, nil)
					for i := 0; i < d; i++ {
						y.SetVec(i, float64(q[i*p+j]))
					}
					var ref float64
					if kind == Residual {
						var my mat.VecDense
						my.MulVec(&want, y)
						ref = mat.Dot(&my, &my)
					} else {
						// min_rho ||y - F rho||^2 + lambda ||rho||^2 at
						// rho = (F^T F + lambda I)^-1 F^T y.
						var rho, fr mat.VecDense
						rho.MulVec(&x, y)
						fr.MulVec(fm, &rho)
						fr.SubVec(y, &fr)
						ref = mat.Dot(&fr, &fr) + lambda*mat.Dot(&rho, &rho)
					}
					if tol := tol32(m, q, p, j); math.Abs(float64(out[j])-ref) > tol {
						t.Fatalf("%s score of patch %d: got %g, direct %g (tolerance %g)", kind, j, out[j], ref, tol)
					}
				}
			}
		})
	}
}

// TestScoreAgainstFloat64 checks Score at a size where BLAS blocks, against
// ||M y||^2 in float64 with the float32-rounded M; run under both backends
// (go test and CGO_ENABLED=0 go test) it bounds their disagreement. Both
// scoring paths run where the AVX-512 kernels do: the GEMM and the
// triangular factor.
func TestScoreAgainstFloat64(t *testing.T) {
	const d, p = 98, 70 // d not a multiple of 4: exercises the reduction tails
	imgs := images(3, 6, d, p)
	_, m := train(t, imgs, d, p, DefaultSolveOptions())
	q := images(4, 1, d, p)[0]
	out := make([]float32, p)
	kerns := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		kerns = append(kerns, kernels.AVX512(kernels.All))
	}
	for _, kern := range kerns {
		m.kern = kern
		for _, kind := range []ScoreKind{Residual, Objective} {
			m.Options.Score = kind
			m.Score(q, p, out)
			for j := 0; j < p; j++ {
				ref := 0.0
				for i := 0; i < d; i++ {
					z := 0.0
					for k := 0; k < d; k++ {
						z += float64(m.M[i*d+k]) * float64(q[k*p+j])
					}
					if kind == Residual {
						ref += z * z
					} else {
						ref -= float64(q[i*p+j]) * z
					}
				}
				if tol := tol32(m, q, p, j); math.Abs(float64(out[j])-ref) > tol {
					t.Fatalf("%v, %s patch %d: got %g want %g (tolerance %g)", kern, kind, j, out[j], ref, tol)
				}
			}
		}
	}
}

// tol32 is the float32 rounding bound on the score of column j of y: each
// z_i = (M y)_i computed in float32 (from a float32-rounded M) is off by at
// most gamma_{d+1} (|M| |y|)_i with gamma_n = n eps / (1 - n eps), and the
// reduction in float64 adds nothing comparable.
func tol32(m *Model, y []float32, p, j int) float64 {
	d := m.D
	const eps = 0x1p-24
	gamma := float64(d+1) * eps / (1 - float64(d+1)*eps)
	scale := 0.0
	for i := 0; i < d; i++ {
		z, za := 0.0, 0.0
		for k := 0; k < d; k++ {
			v := float64(m.M[i*d+k]) * float64(y[k*p+j])
			z += v
			za += math.Abs(v)
		}
		if m.Options.Score == Residual {
			scale += (2*math.Abs(z) + gamma*za) * za
		} else {
			scale += math.Abs(float64(y[i*p+j])) * za
		}
	}
	return gamma*scale + 1e-30
}

func TestMergeEqualsUnion(t *testing.T) {
	const d, p = 24, 10
	a := images(5, 3, d, p)
	b := images(6, 4, d, p)
	accA, _ := train(t, a, d, p, DefaultSolveOptions())
	accB, _ := train(t, b, d, p, DefaultSolveOptions())
	union := append(append([][]float32(nil), a...), b...)
	accU, mU := train(t, union, d, p, DefaultSolveOptions())

	merged := accA.Clone()
	if err := merged.Merge(accB); err != nil {
		t.Fatal(err)
	}
	if e := relErr(merged.Gram(), accU.Gram()); e > 1e-12 {
		t.Fatalf("merged G vs union G: relative error %g", e)
	}
	if e := relErr(merged.FeatureSum(), accU.FeatureSum()); e > 1e-12 {
		t.Fatalf("merged feature sum: relative error %g", e)
	}
	if merged.NumImages() != 7 || merged.NumPatches() != 70 {
		t.Fatalf("merged counts %d images %d patches", merged.NumImages(), merged.NumPatches())
	}
	mM, err := merged.Solve(DefaultSolveOptions())
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(f64(mM.M), f64(mU.M)); e > 1e-6 {
		t.Fatalf("merged M vs union M: relative error %g", e)
	}
	if err := merged.Merge(NewAccumulator(d + 1)); err == nil {
		t.Fatal("merging different d succeeded")
	}
}

func f64(s []float32) []float64 {
	o := make([]float64, len(s))
	for i, v := range s {
		o[i] = float64(v)
	}
	return o
}

func TestOrderIndependence(t *testing.T) {
	const d, p = 20, 9
	imgs := images(8, 6, d, p)
	fwd, _ := train(t, imgs, d, p, DefaultSolveOptions())
	rev := make([][]float32, len(imgs))
	for i := range imgs {
		rev[i] = imgs[len(imgs)-1-i]
	}
	bwd, _ := train(t, rev, d, p, DefaultSolveOptions())
	if e := relErr(fwd.Gram(), bwd.Gram()); e > 1e-12 {
		t.Fatalf("image order changes G: relative error %g", e)
	}
	// AddBatch over a contiguous N x C x H x W batch matches image-wise Add.
	batch := make([]float32, 0, len(imgs)*d*p)
	for _, y := range imgs {
		batch = append(batch, y...)
	}
	bat := NewAccumulator(d)
	bat.AddBatch(batch, len(imgs), p)
	if e := relErr(bat.Gram(), fwd.Gram()); e > 1e-12 {
		t.Fatalf("AddBatch vs Add: relative error %g", e)
	}
	if e := relErr(bat.FeatureSum(), fwd.FeatureSum()); e > 1e-12 || bat.NumImages() != 6 || bat.NumPatches() != 54 {
		t.Fatalf("AddBatch sum error %g, counts %d %d", e, bat.NumImages(), bat.NumPatches())
	}
}

func TestGramAgainstLoops(t *testing.T) {
	const d, p = 5, 3
	imgs := images(9, 2, d, p)
	a, _ := train(t, imgs, d, p, DefaultSolveOptions())
	g := a.Gram()
	for i := 0; i < d; i++ {
		for k := 0; k < d; k++ {
			want := 0.0
			for _, y := range imgs {
				for j := 0; j < p; j++ {
					want += float64(y[i*p+j]) * float64(y[k*p+j])
				}
			}
			if math.Abs(g[i*d+k]-want) > 1e-12*math.Abs(want) {
				t.Fatalf("G[%d,%d] = %g, want %g", i, k, g[i*d+k], want)
			}
		}
	}
	if got, want := a.Trace(), g[0]+g[6]+g[12]+g[18]+g[24]; math.Abs(got-want) > 1e-12*want {
		t.Fatalf("trace %g want %g", got, want)
	}
}

func TestNotPositiveDefinite(t *testing.T) {
	// Every feature is (1, 1, 1, 1): G = N * ones is exactly rank one, and
	// lambda = 1e-300 vanishes against its diagonal, so the second Cholesky
	// pivot is exactly zero.
	a := NewAccumulator(4)
	a.Add([]float32{1, 1, 1, 1, 1, 1, 1, 1}, 2)
	a.Add([]float32{1, 1, 1, 1, 1, 1, 1, 1}, 2)
	_, err := a.Solve(SolveOptions{Lambda: 1e-300, Mode: Absolute, Score: Residual})
	if !errors.Is(err, blas.ErrNotPositiveDefinite) || errors.Is(err, ErrNonFinite) {
		t.Fatalf("got %v, want ErrNotPositiveDefinite", err)
	}
	if _, err := a.Solve(SolveOptions{Lambda: 1e-3, Mode: Absolute, Score: Residual}); err != nil {
		t.Fatalf("a reasonable lambda fails: %v", err)
	}
	// An indefinite G (as a crafted model file could hold).
	b := NewAccumulator(2)
	b.Add([]float32{1, 0, 0, 1}, 2)
	b.g = []float64{1, 0, 0, -5}
	if _, err := b.Solve(SolveOptions{Lambda: 1, Mode: Absolute, Score: Residual}); !errors.Is(err, blas.ErrNotPositiveDefinite) {
		t.Fatalf("indefinite G: got %v", err)
	}
}

func TestNonFinite(t *testing.T) {
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32} {
		a := NewAccumulator(3)
		a.Add([]float32{1, 2, 3, 4, 5, 6}, 2)
		y := []float32{1, 2, 3, 4, bad, 6}
		a.Add(y, 2)
		if bad == math.MaxFloat32 {
			// Finite in float32 and squared fine in float64: no error.
			if _, err := a.Solve(DefaultSolveOptions()); err != nil {
				t.Fatalf("MaxFloat32 feature: %v", err)
			}
			continue
		}
		for _, mode := range []LambdaMode{Absolute, Relative} {
			_, err := a.Solve(SolveOptions{Lambda: 1, Mode: mode, Score: Residual})
			if mode == Relative {
				// trace(G) is not finite, so lambda is not either.
				if !errors.Is(err, ErrLambda) {
					t.Fatalf("%g relative: got %v, want ErrLambda", bad, err)
				}
				continue
			}
			if !errors.Is(err, ErrNonFinite) || !errors.Is(err, blas.ErrNotPositiveDefinite) {
				t.Fatalf("%g: got %v, want ErrNonFinite and ErrNotPositiveDefinite", bad, err)
			}
		}
	}
}

func TestBadOptions(t *testing.T) {
	a := NewAccumulator(2)
	if _, err := a.Solve(DefaultSolveOptions()); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty accumulator: %v", err)
	}
	a.Add([]float32{1, 2, 3, 4}, 2)
	for _, o := range []SolveOptions{
		{Lambda: 0, Mode: Absolute, Score: Residual},
		{Lambda: -1, Mode: Relative, Score: Residual},
		{Lambda: math.NaN(), Mode: Absolute, Score: Residual},
		{Lambda: math.Inf(1), Mode: Absolute, Score: Residual},
	} {
		if _, err := a.Solve(o); !errors.Is(err, ErrLambda) {
			t.Errorf("%+v: got %v, want ErrLambda", o, err)
		}
	}
	if _, err := a.Solve(SolveOptions{Lambda: 1, Mode: "log", Score: Residual}); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := a.Solve(SolveOptions{Lambda: 1, Mode: Absolute}); err == nil {
		t.Error("empty score kind accepted")
	}
	z := NewAccumulator(2)
	z.Add([]float32{0, 0, 0, 0}, 2)
	if _, err := z.Solve(DefaultSolveOptions()); !errors.Is(err, ErrLambda) {
		t.Fatalf("all-zero features, relative lambda: %v", err)
	}
}

func TestScoreConcurrentAndAllocFree(t *testing.T) {
	const d, p = 32, 25
	_, m := train(t, images(10, 4, d, p), d, p, DefaultSolveOptions())
	qs := images(11, 8, d, p)
	want := make([][]float32, len(qs))
	for i, q := range qs {
		want[i] = make([]float32, p)
		m.Score(q, p, want[i])
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(qs))
	for i := range qs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := make([]float32, p)
			for rep := 0; rep < 20; rep++ {
				m.Score(qs[i], p, out)
				for j := range out {
					if out[j] != want[i][j] {
						errs <- "concurrent score differs"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	out := make([]float32, p)
	if n := testing.AllocsPerRun(200, func() { m.Score(qs[0], p, out) }); n != 0 {
		t.Fatalf("Score allocates %g times per call", n)
	}
}

func TestShapePanics(t *testing.T) {
	_, m := train(t, images(12, 1, 4, 3), 4, 3, DefaultSolveOptions())
	for name, f := range map[string]func(){
		"score short y":   func() { m.Score(make([]float32, 11), 3, make([]float32, 3)) },
		"score short out": func() { m.Score(make([]float32, 12), 3, make([]float32, 2)) },
		"add":             func() { NewAccumulator(4).Add(make([]float32, 11), 3) },
		"d = 0":           func() { NewAccumulator(0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestGramPaths: both Gram updates (dsyrk and, where it runs, the
// AVX-512 kernel with its panel layout) give G = sum f f^T and the feature
// sum to float64 rounding, for a d that is not a multiple of the panel
// width and batches of different widths into one accumulator.
func TestGramPaths(t *testing.T) {
	t.Parallel()
	const d, p = 50, 17
	imgs := images(21, 5, d, p)
	want := make([]float64, d*d)
	sum := make([]float64, d)
	for _, y := range imgs {
		for i := 0; i < d; i++ {
			for j := 0; j < d; j++ {
				for q := 0; q < p; q++ {
					want[i*d+j] += float64(y[i*p+q]) * float64(y[j*p+q])
				}
			}
			for q := 0; q < p; q++ {
				sum[i] += float64(y[i*p+q])
			}
		}
	}
	paths := []bool{false}
	if kernels.AVX512Supported() {
		paths = append(paths, true)
	}
	for _, f := range paths {
		a := NewAccumulator(d)
		a.kern = kernels.BLAS()
		if f {
			a.kern = kernels.AVX512(kernels.Gram)
		}
		a.Add(imgs[0], p)
		a.AddBatch(slices.Concat(imgs[1], imgs[2], imgs[3]), 3, p)
		a.Add(imgs[4], p)
		g, s := a.Gram(), a.FeatureSum()
		for i := range want {
			if math.Abs(g[i]-want[i]) > 1e-9*math.Abs(want[i])+1e-9 {
				t.Fatalf("avx512 %v: G[%d,%d] = %g, want %g", f, i/d, i%d, g[i], want[i])
			}
		}
		for i := range sum {
			if math.Abs(s[i]-sum[i]) > 1e-9 {
				t.Fatalf("avx512 %v: feature sum %d = %g, want %g", f, i, s[i], sum[i])
			}
		}
		if a.NumImages() != 5 || a.NumPatches() != 5*p {
			t.Fatalf("avx512 %v: counts %d images %d patches", f, a.NumImages(), a.NumPatches())
		}
	}
}

// TestGramOfColumns: M^T M of a non-symmetric matrix (so that M M^T would
// differ) against the direct float64 sum, on sizes around the AVX-512
// kernel's panel width, on both Gram paths.
func TestGramOfColumns(t *testing.T) {
	t.Parallel()
	kerns := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		kerns = append(kerns, kernels.AVX512(kernels.Gram))
	}
	for _, kern := range kerns {
		for _, d := range []int{1, 5, 24, 37} {
			m := randF32(d*d, uint64(d))
			m64 := make([]float64, d*d)
			for i, v := range m {
				m64[i] = float64(v)
			}
			got := gramOfColumns(m, d, kern)
			for a := 0; a < d; a++ {
				for b := a; b < d; b++ {
					var want float64
					for i := 0; i < d; i++ {
						want += m64[i*d+a] * m64[i*d+b]
					}
					if math.Abs(got[a*d+b]-want) > 1e-12*float64(d) {
						t.Fatalf("%v, d=%d: (M^T M)[%d,%d] = %g, want %g", kern, d, a, b, got[a*d+b], want)
					}
				}
			}
		}
	}
}
