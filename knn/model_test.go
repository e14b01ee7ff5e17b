package knn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// randFeatures returns n values: N(mean, 1) if mean != 0 and positive is
// false, or |N(0,1)| + mean (ReLU-like, all positive) otherwise.
func randFeatures(r *rand.Rand, n int, mean float64, positive bool) []float32 {
	x := make([]float32, n)
	for i := range x {
		v := r.NormFloat64()
		if positive {
			v = math.Abs(v)
		}
		x[i] = float32(v + mean)
	}
	return x
}

// bruteNearest returns, for every column of the d x p query y, the smallest
// squared distance to a row of the M x d bank and that row's squared norm, in
// float64 with explicit differences.
func bruteNearest(bank []float32, d int, y []float32, p int) (dist2, norm2 []float64) {
	dist2, norm2 = make([]float64, p), make([]float64, p)
	for j := 0; j < p; j++ {
		dist2[j] = math.Inf(1)
		for r := 0; r < len(bank)/d; r++ {
			var s, nm float64
			for c := 0; c < d; c++ {
				diff := float64(y[c*p+j]) - float64(bank[r*d+c])
				s += diff * diff
				nm += float64(bank[r*d+c]) * float64(bank[r*d+c])
			}
			if s < dist2[j] {
				dist2[j], norm2[j] = s, nm
			}
		}
	}
	return dist2, norm2
}

func TestScoreMatchesBruteForce(t *testing.T) {
	defer func(b int) { scratchBytes = b }(scratchBytes)
	cases := []struct {
		name        string
		d, m, p     int
		mean        float64
		positive    bool
		chunkBytes  int
		copyBankRow bool // make patch 0 equal to a bank row (distance 0)
	}{
		{"centred one chunk", 32, 50, 17, 0, false, 2 << 20, false},
		{"centred many chunks", 24, 301, 13, 0, false, 13 * 4 * 7, false},
		{"positive offset many chunks", 64, 200, 29, 3, true, 29 * 4 * 16, true},
		{"single row bank", 16, 1, 9, 0.5, false, 2 << 20, true},
		{"single patch", 40, 77, 1, 0, false, 4 * 10, false},
	}
	for _, kern := range testKernels() {
		for i, tc := range cases {
			t.Run(fmt.Sprintf("%s/%v", tc.name, kern), func(t *testing.T) {
				scratchBytes = tc.chunkBytes
				r := rand.New(rand.NewPCG(uint64(i), 1))
				bank := randFeatures(r, tc.m*tc.d, tc.mean, tc.positive)
				y := randFeatures(r, tc.d*tc.p, tc.mean, tc.positive)
				if tc.copyBankRow {
					for c := 0; c < tc.d; c++ {
						y[c*tc.p] = bank[(tc.m/2)*tc.d+c]
					}
				}
				model := NewModel(tc.d, bank)
				model.kern = kern
				out := make([]float32, tc.p)
				model.Score(y, tc.p, out)
				ref, norm2 := bruteNearest(bank, tc.d, y, tc.p)
				const eps32 = 1.0 / (1 << 23)
				for j := range out {
					var xn float64
					for c := 0; c < tc.d; c++ {
						xn += float64(y[c*tc.p+j]) * float64(y[c*tc.p+j])
					}
					got := float64(out[j]) * float64(out[j])
					// The norm expansion loses about eps * (||x||^2 + ||m||^2)
					// times a small multiple of sqrt(d) to cancellation.
					tol := 4 * math.Sqrt(float64(tc.d)) * eps32 * (xn + norm2[j])
					if math.Abs(got-ref[j]) > tol {
						t.Errorf("patch %d: squared score %.7g, brute force %.7g (tol %.2g)", j, got, ref[j], tol)
					}
				}
				if tc.copyBankRow && out[0] > float32(math.Sqrt(4*math.Sqrt(float64(tc.d))*eps32*2*norm2[0])) {
					t.Errorf("patch equal to a bank row scores %g, want about 0", out[0])
				}
			})
		}
	}
}

func TestScoreConcurrent(t *testing.T) {
	const d, m, p = 16, 90, 11
	r := rand.New(rand.NewPCG(7, 7))
	model := NewModel(d, randFeatures(r, m*d, 0, false))
	ys := make([][]float32, 8)
	want := make([][]float32, len(ys))
	for i := range ys {
		ys[i] = randFeatures(r, d*p, 0, false)
		want[i] = make([]float32, p)
		model.Score(ys[i], p, want[i])
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(ys)*20)
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			out := make([]float32, p)
			for rep := 0; rep < 20; rep++ {
				i := (g + rep) % len(ys)
				model.Score(ys[i], p, out)
				for j := range out {
					if out[j] != want[i][j] {
						errs <- "concurrent score differs from sequential"
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestScoreAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops entries on purpose under the race detector")
	}
	const d, m, p = 32, 120, 49
	r := rand.New(rand.NewPCG(3, 3))
	model := NewModel(d, randFeatures(r, m*d, 0, false))
	y := randFeatures(r, d*p, 0, false)
	out := make([]float32, p)
	model.Score(y, p, out)
	// sync.Pool may drop its item at a GC, so allow a rare refill.
	if a := testing.AllocsPerRun(50, func() { model.Score(y, p, out) }); a > 0.5 {
		t.Errorf("Score allocates %.1f times per call in steady state", a)
	}
}

func TestBuildWholeBankKeepsRowsInOrder(t *testing.T) {
	const d = 3
	b := NewBankBuilder(d, 4) // less than needed: exercises growth
	// Two images, 2 x 3 = 6 patches each... d x p maps with p = 5 and 2.
	y1 := []float32{
		1, 2, 3, 4, 5,
		6, 7, 8, 9, 10,
		11, 12, 13, 14, 15,
	}
	y2 := []float32{
		-1, -2,
		-3, -4,
		-5, -6,
	}
	b.Add(y1, 5)
	b.Add(y2, 2)
	if b.Len() != 7 || b.Images() != 2 {
		t.Fatalf("Len, Images = %d, %d, want 7, 2", b.Len(), b.Images())
	}
	m, err := b.Build(context.Background(), CoresetOptions{Ratio: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{
		1, 6, 11, 2, 7, 12, 3, 8, 13, 4, 9, 14, 5, 10, 15,
		-1, -3, -5, -2, -4, -6,
	}
	got := m.Bank()
	if len(got) != len(want) {
		t.Fatalf("bank has %d values, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("bank[%d] = %g, want %g (bank %v)", i, got[i], want[i], got)
		}
	}
	if m.Len() != 7 || m.NumPatches() != 7 || m.NumImages() != 2 || m.Ratio() != 1 {
		t.Errorf("Len %d NumPatches %d NumImages %d Ratio %g, want 7 7 2 1", m.Len(), m.NumPatches(), m.NumImages(), m.Ratio())
	}
	if b.Len() != 0 {
		t.Errorf("builder still holds %d patches after Build", b.Len())
	}
	// Squared norms of the rows.
	if m.norms[0] != 1+36+121 || m.norms[6] != 4+16+36 {
		t.Errorf("norms %v", m.norms)
	}
}

func TestBuildErrors(t *testing.T) {
	b := NewBankBuilder(4, 0)
	if _, err := b.Build(context.Background(), CoresetOptions{Ratio: 0.5}); err == nil {
		t.Error("Build of an empty bank: no error")
	}
	b.Add(make([]float32, 8), 2)
	for _, r := range []float64{0, -0.1, 1.5, math.NaN()} {
		if _, err := b.Build(context.Background(), CoresetOptions{Ratio: r}); err == nil {
			t.Errorf("ratio %v: no error", r)
		}
	}
}
