package blas

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = r.NormFloat64()
	}
	return s
}

func TestGemmAgainstLoops(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			m, n, k := 7, 5, 9
			a, b := randSlice(r, m*k), randSlice(r, k*n)
			c := randSlice(r, m*n)
			lda, ldb := k, n
			if ta {
				lda = m
			}
			if tb {
				ldb = k
			}
			at := func(i, p int) float64 {
				if ta {
					return a[p*lda+i]
				}
				return a[i*lda+p]
			}
			bt := func(p, j int) float64 {
				if tb {
					return b[j*ldb+p]
				}
				return b[p*ldb+j]
			}
			want := make([]float64, m*n)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					s := 0.0
					for p := 0; p < k; p++ {
						s += at(i, p) * bt(p, j)
					}
					want[i*n+j] = 2*s + 0.5*c[i*n+j]
				}
			}
			got := append([]float64(nil), c...)
			Dgemm(ta, tb, m, n, k, 2, a, lda, b, ldb, 0.5, got, n)
			a32, b32, c32 := to32(a), to32(b), to32(c)
			Sgemm(ta, tb, m, n, k, 2, a32, lda, b32, ldb, 0.5, c32, n)
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-12*(1+math.Abs(want[i])) {
					t.Fatalf("dgemm ta=%v tb=%v [%d]: got %g want %g", ta, tb, i, got[i], want[i])
				}
				if math.Abs(float64(c32[i])-want[i]) > 1e-5*(1+math.Abs(want[i])) {
					t.Fatalf("sgemm ta=%v tb=%v [%d]: got %g want %g", ta, tb, i, c32[i], want[i])
				}
			}
		}
	}
}

func to32(s []float64) []float32 {
	o := make([]float32, len(s))
	for i, v := range s {
		o[i] = float32(v)
	}
	return o
}

func TestSyrkAndCholeskyInverse(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n, k := 6, 11
	a := randSlice(r, n*k)
	c := make([]float64, n*n)
	Dsyrk(n, k, 1, a, k, 0, c, n)
	c32 := make([]float32, n*n)
	Ssyrk(n, k, 1, to32(a), k, 0, c32, n)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			s := 0.0
			for p := 0; p < k; p++ {
				s += a[i*k+p] * a[j*k+p]
			}
			if math.Abs(c[i*n+j]-s) > 1e-12*(1+math.Abs(s)) || math.Abs(float64(c32[i*n+j])-s) > 1e-4*(1+math.Abs(s)) {
				t.Fatalf("syrk [%d,%d]: got %g / %g want %g", i, j, c[i*n+j], c32[i*n+j], s)
			}
		}
	}
	Symmetrize(n, c, n)
	orig := append([]float64(nil), c...)
	if err := CholeskyInverse(n, c, n); err != nil {
		t.Fatal(err)
	}
	// orig * inv must be the identity.
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for p := 0; p < n; p++ {
				s += orig[i*n+p] * c[p*n+j]
			}
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(s-want) > 1e-9 {
				t.Fatalf("A*inv(A) [%d,%d] = %g", i, j, s)
			}
		}
	}
}

func TestCholeskyInverseRejectsIndefinite(t *testing.T) {
	a := []float64{1, 2, 2, 1} // eigenvalues 3 and -1
	if err := CholeskyInverse(2, a, 2); err != ErrNotPositiveDefinite {
		t.Fatalf("got %v, want ErrNotPositiveDefinite", err)
	}
}

func TestShapePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a slice too short")
		}
	}()
	Sgemm(false, false, 3, 3, 3, 1, make([]float32, 8), 3, make([]float32, 9), 3, 0, make([]float32, 9), 3)
}

// TestCholesky: U is upper triangular and U^T U gives A back (float64),
// from Cholesky and from CholeskyGo.
func TestCholesky(t *testing.T) {
	t.Run("Cholesky", func(t *testing.T) { testCholesky(t, Cholesky) })
	t.Run("CholeskyGo", func(t *testing.T) { testCholesky(t, CholeskyGo) })
}

func testCholesky(t *testing.T, cholesky func(n int, a []float64, lda int) error) {
	const n = 37
	r := rand.New(rand.NewPCG(9, 9))
	b := make([]float64, n*n)
	for i := range b {
		b[i] = r.NormFloat64()
	}
	a := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			for k := 0; k < n; k++ {
				a[i*n+j] += b[k*n+i] * b[k*n+j]
			}
		}
		a[i*n+i] += 1
	}
	u := slices.Clone(a)
	if err := cholesky(n, u, n); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if j < i && u[i*n+j] != 0 {
				t.Fatalf("U[%d,%d] = %g below the diagonal", i, j, u[i*n+j])
			}
			var s float64
			for k := 0; k < n; k++ {
				s += u[k*n+i] * u[k*n+j]
			}
			if math.Abs(s-a[i*n+j]) > 1e-10*math.Abs(a[i*n+i]) {
				t.Fatalf("(U^T U)[%d,%d] = %g, A = %g", i, j, s, a[i*n+j])
			}
		}
	}
	neg := []float64{1, 2, 2, 1}
	if err := cholesky(2, neg, 2); err != ErrNotPositiveDefinite {
		t.Fatalf("indefinite matrix: %v", err)
	}
}

// TestGemmThreaded: a product large enough for OpenBLAS to run on its
// threads (stopped at init, started again by the call) matches the loops,
// twice in a row.
func TestGemmThreaded(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const m, n, k = 257, 263, 300
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for p := 0; p < k; p++ {
			for j := 0; j < n; j++ {
				want[i*n+j] += a[i*k+p] * b[p*n+j]
			}
		}
	}
	for round := range 2 {
		got := make([]float64, m*n)
		Dgemm(false, false, m, n, k, 1, a, k, b, n, 0, got, n)
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-9*(1+math.Abs(want[i])) {
				t.Fatalf("round %d: c[%d] = %g, want %g", round, i, got[i], want[i])
			}
		}
	}
}
