package knn

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crd-ad/crd/internal/kernels"
)

// naiveGreedy is the k-center greedy written out directly in float64: m
// passes, each computing the distance of every point to the newest centre.
func naiveGreedy(x []float32, n, k, m, start int) []int {
	minD := make([]float64, n)
	for i := range minD {
		minD[i] = math.Inf(1)
	}
	sel := []int{start}
	for len(sel) < m {
		c := sel[len(sel)-1]
		arg := 0
		for i := 0; i < n; i++ {
			var s float64
			for j := 0; j < k; j++ {
				diff := float64(x[i*k+j]) - float64(x[c*k+j])
				s += diff * diff
			}
			minD[i] = math.Min(minD[i], s)
			if minD[i] > minD[arg] {
				arg = i
			}
		}
		minD[arg] = 0
		sel = append(sel, arg)
	}
	return sel
}

// coverRadius is max_i min_{c in sel} ||x_i - x_c|| in float64.
func coverRadius(x []float32, n, k int, sel []int) float64 {
	var r float64
	for i := 0; i < n; i++ {
		best := math.Inf(1)
		for _, c := range sel {
			var s float64
			for j := 0; j < k; j++ {
				diff := float64(x[i*k+j]) - float64(x[c*k+j])
				s += diff * diff
			}
			best = math.Min(best, s)
		}
		r = math.Max(r, best)
	}
	return math.Sqrt(r)
}

// clusteredBank is n rows of dimension d around a few random centres, like
// patch features that fall into a few textures.
func clusteredBank(r *rand.Rand, n, d int) []float32 {
	const clusters = 7
	centres := randFeatures(r, clusters*d, 0, false)
	x := make([]float32, n*d)
	for i := 0; i < n; i++ {
		c := r.IntN(clusters)
		spread := 0.05 + 0.3*float64(c)/clusters
		for j := 0; j < d; j++ {
			x[i*d+j] = 3*centres[c*d+j] + float32(spread*r.NormFloat64())
		}
	}
	return x
}

func TestCoresetMatchesNaiveGreedy(t *testing.T) {
	cases := []struct {
		name          string
		n, d, dims, m int
		workers       int
	}{
		{"one worker", 1500, 20, 16, 120, 1},
		{"three workers", 2000, 12, 8, 90, 3},
		{"projection up", 700, 6, 32, 40, 2},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 2))
			bank := clusteredBank(r, tc.n, tc.d)
			seed := uint64(100 + i)
			proj, err := Project(context.Background(), bank, tc.n, tc.d, tc.dims, seed)
			if err != nil {
				t.Fatal(err)
			}
			start := StartIndex(tc.n, seed)
			got, err := kCenterGreedy(context.Background(), proj, tc.n, tc.dims, tc.m, start, nil, tc.workers)
			if err != nil {
				t.Fatal(err)
			}
			want := naiveGreedy(proj, tc.n, tc.dims, tc.m, start)
			if len(got) != len(want) {
				t.Fatalf("selected %d, want %d", len(got), len(want))
			}
			for j := range want {
				if got[j] != want[j] {
					t.Fatalf("selection %d is row %d, naive float64 greedy picks %d", j, got[j], want[j])
				}
			}
			// The public entry point must make the same choice.
			pub, err := Coreset(context.Background(), bank, tc.n, tc.d,
				CoresetOptions{Ratio: float64(tc.m) / float64(tc.n), Dims: tc.dims, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			if len(pub) != tc.m || pub[0] != want[0] || pub[len(pub)-1] != want[len(want)-1] {
				t.Errorf("Coreset selected %d rows (%d ... %d), want %d (%d ... %d)",
					len(pub), pub[0], pub[len(pub)-1], tc.m, want[0], want[len(want)-1])
			}
		})
	}
}

func TestCoresetRadiusWithinTwiceOptimal(t *testing.T) {
	const n, k = 13, 3
	r := rand.New(rand.NewPCG(5, 5))
	x := clusteredBank(r, n, k)
	prev := math.Inf(1)
	for m := 1; m <= 5; m++ {
		sel, err := KCenterGreedy(context.Background(), x, n, k, m, 4, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := coverRadius(x, n, k, sel)
		// Brute force the optimal m-centre radius over all subsets.
		opt := math.Inf(1)
		for mask := 0; mask < 1<<n; mask++ {
			var sub []int
			for i := 0; i < n; i++ {
				if mask&(1<<i) != 0 {
					sub = append(sub, i)
				}
			}
			if len(sub) == m {
				opt = math.Min(opt, coverRadius(x, n, k, sub))
			}
		}
		if got > 2*opt*(1+1e-6) {
			t.Errorf("m=%d: greedy radius %g exceeds twice the optimum %g", m, got, opt)
		}
		if got > prev {
			t.Errorf("m=%d: radius %g grew from %g", m, got, prev)
		}
		prev = got
	}
}

func TestCoresetRatioOneKeepsAll(t *testing.T) {
	const n, d = 50, 4
	bank := randFeatures(rand.New(rand.NewPCG(1, 1)), n*d, 0, false)
	idx, err := Coreset(context.Background(), bank, n, d, CoresetOptions{Ratio: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != n {
		t.Fatalf("kept %d of %d", len(idx), n)
	}
	for i, v := range idx {
		if v != i {
			t.Fatalf("idx[%d] = %d", i, v)
		}
	}
}

func TestBuildCoresetRows(t *testing.T) {
	const d, p, images = 8, 30, 10
	r := rand.New(rand.NewPCG(9, 9))
	b := NewBankBuilder(d, p*images)
	all := NewBankBuilder(d, p*images)
	for i := 0; i < images; i++ {
		y := randFeatures(r, d*p, 0, false)
		b.Add(y, p)
		all.Add(y, p)
	}
	full, _ := all.Build(context.Background(), CoresetOptions{Ratio: 1})
	opt := CoresetOptions{Ratio: 0.1, Seed: 3}
	idx, err := Coreset(context.Background(), full.Bank(), full.Len(), d, opt)
	if err != nil {
		t.Fatal(err)
	}
	var calls, last int
	opt.Progress = func(done, total int) {
		calls++
		if total != 30 || done != last+1 {
			t.Errorf("progress(%d, %d) after %d", done, total, last)
		}
		last = done
	}
	m, err := b.Build(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 30 || len(idx) != 30 || calls != 30 {
		t.Fatalf("model %d rows, Coreset %d, progress calls %d; want 30", m.Len(), len(idx), calls)
	}
	if m.NumPatches() != p*images || m.NumImages() != images || m.Ratio() != 0.1 {
		t.Errorf("NumPatches %d NumImages %d Ratio %g", m.NumPatches(), m.NumImages(), m.Ratio())
	}
	for i, j := range idx {
		for c := 0; c < d; c++ {
			if m.Bank()[i*d+c] != full.Bank()[j*d+c] {
				t.Fatalf("model row %d is not bank row %d", i, j)
			}
		}
	}
	// Another seed gives another start, hence (almost surely) another set.
	other, _ := Coreset(context.Background(), full.Bank(), full.Len(), d, CoresetOptions{Ratio: 0.1, Seed: 4})
	if other[0] == idx[0] {
		t.Errorf("seeds 3 and 4 start at the same row %d", idx[0])
	}
}

func TestCoresetStopsOnDuplicates(t *testing.T) {
	const d = 3
	distinct := []float32{0, 0, 0, 1, 0, 0, 0, 5, 0, 2, 2, 2}
	var bank []float32
	for rep := 0; rep < 6; rep++ {
		bank = append(bank, distinct...)
	}
	n := len(bank) / d // 24 rows, 4 distinct
	idx, err := Coreset(context.Background(), bank, n, d, CoresetOptions{Ratio: 0.5, Dims: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(idx) != 4 {
		t.Fatalf("selected %d rows %v from 4 distinct points, want 4", len(idx), idx)
	}
	seen := map[int]bool{}
	for _, i := range idx {
		seen[i%4] = true
	}
	if len(seen) != 4 {
		t.Errorf("selection %v does not cover the 4 distinct points", idx)
	}
}

func TestCoresetCancel(t *testing.T) {
	const n, d = 400, 4
	bank := randFeatures(rand.New(rand.NewPCG(1, 2)), n*d, 0, false)
	ctx, cancel := context.WithCancel(context.Background())
	opt := CoresetOptions{Ratio: 0.5, Dims: 4, Progress: func(done, total int) {
		if done == 10 {
			cancel()
		}
	}}
	if _, err := Coreset(ctx, bank, n, d, opt); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled selection returned %v, want context.Canceled", err)
	}
}

func TestProjection(t *testing.T) {
	const d, dims = 200, 64
	p := ProjectionMatrix(d, dims, 11)
	var sum, sq float64
	for _, v := range p {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	mean, variance := sum/float64(len(p)), sq/float64(len(p))
	// 12800 N(0, 1/64) draws: the mean's sd is 1.4e-3 and the variance's
	// relative sd is 1.3%.
	if math.Abs(mean) > 0.007 || math.Abs(variance*dims-1) > 0.07 {
		t.Errorf("projection entries: mean %g, variance %g, want 0 and %g", mean, variance, 1.0/dims)
	}
	if q := ProjectionMatrix(d, dims, 11); q[17] != p[17] || ProjectionMatrix(d, dims, 12)[17] == p[17] {
		t.Error("projection is not a function of the seed")
	}
	const n = 9
	bank := randFeatures(rand.New(rand.NewPCG(4, 4)), n*d, 1, false)
	got, err := Project(context.Background(), bank, n, d, dims, 11)
	if err != nil {
		t.Fatal(err)
	}
	checkProjection(t, "Project", got, bank, p, n, d, dims)
	for _, kern := range testKernels() {
		got, err := project(context.Background(), kern, bank, n, d, dims, 11)
		if err != nil {
			t.Fatal(err)
		}
		checkProjection(t, kern.String(), got, bank, p, n, d, dims)
	}
}

// checkProjection compares the n x dims projection got with bank * p in
// float64.
func checkProjection(t *testing.T, name string, got, bank, p []float32, n, d, dims int) {
	t.Helper()
	for i := 0; i < n; i++ {
		for j := 0; j < dims; j++ {
			var s, a float64
			for c := 0; c < d; c++ {
				s += float64(bank[i*d+c]) * float64(p[c*dims+j])
				a += math.Abs(float64(bank[i*d+c]) * float64(p[c*dims+j]))
			}
			if math.Abs(float64(got[i*dims+j])-s) > 1e-5*a {
				t.Fatalf("%s: projection (%d, %d) = %g, want %g", name, i, j, got[i*dims+j], s)
			}
		}
	}
}

// testKernels is the choices of the distance products to test: BLAS, and
// the AVX-512 kernels where they run.
func testKernels() []kernels.Set {
	k := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		k = append(k, kernels.AVX512(kernels.Nearest))
	}
	return k
}

func TestGreedyPruningSkipsWork(t *testing.T) {
	const n, k, m = 3000, 16, 200
	x := clusteredBank(rand.New(rand.NewPCG(8, 8)), n, k)
	g := newSweeper(x, n, k, m, 2)
	g.sel = append(g.sel, 17)
	for len(g.sel) < m {
		_, arg := g.sweep()
		g.minD[arg] = 0
		g.sel = append(g.sel, arg)
	}
	want := naiveGreedy(x, n, k, m, 17)
	for j := range want {
		if g.sel[j] != want[j] {
			t.Fatalf("selection %d is row %d, naive greedy picks %d", j, g.sel[j], want[j])
		}
	}
	frac := float64(g.evals()) / float64(n*(m-1))
	t.Logf("computed %.1f%% of the point-to-centre distances", 100*frac)
	if frac > 0.8 {
		t.Errorf("pruning computed %.0f%% of the distances on clustered data, want it to skip more", 100*frac)
	}
}
