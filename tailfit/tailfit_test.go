package tailfit

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// Reference normal quantiles from printed tables: z with P(Z > z) = rate.
var zTable = map[float64]float64{0.05: 1.6448536269514722, 0.01: 2.3263478740408408, 0.001: 3.090232306167813}

func TestLogNormalThresholdMatchesNormalTable(t *testing.T) {
	f := Fit{Kind: LogNormal, Loc: 1.2, Scale: 0.35, N: 10}
	for rate, z := range zTable {
		want := math.Exp(1.2 + 0.35*z)
		got := f.Threshold(rate)
		if math.Abs(got-want) > 1e-12*want {
			t.Errorf("rate %g: threshold %.15g, want %.15g", rate, got, want)
		}
		if s := f.Survival(got); math.Abs(s-rate) > 1e-12 {
			t.Errorf("rate %g: survival of its threshold is %g", rate, s)
		}
	}
}

// gumbelSample draws a standard Gumbel variable the way image scores arise:
// the maximum of m independent Exp(1) draws, less log m. Its CDF
// (1 - e^-(x + log m) / m)^m tends to exp(-exp(-x)) with an error of order
// 1/m, independently of the quantile formula under test.
func gumbelSample(r *rand.Rand, m int) float64 {
	best := 0.0
	for i := 0; i < m; i++ {
		best = max(best, r.ExpFloat64())
	}
	return best - math.Log(float64(m))
}

func TestGumbelThresholdMatchesSimulatedMaxima(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n, m = 40000, 2000
	mu, beta := 5.0, 0.7
	x := make([]float64, n)
	for i := range x {
		x[i] = mu + beta*gumbelSample(r, m)
	}
	f := Fit{Kind: Gumbel, Loc: mu, Scale: beta}
	for _, rate := range []float64{0.05, 0.01} {
		thr := f.Threshold(rate)
		over := 0
		for _, v := range x {
			if v > thr {
				over++
			}
		}
		got := float64(over) / n
		sd := math.Sqrt(rate * (1 - rate) / n)
		if math.Abs(got-rate) > 4*sd+1.0/m {
			t.Errorf("rate %g: %g of simulated maxima exceed the threshold %g", rate, got, thr)
		}
	}
}

func TestFitRecoversParameters(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const n = 20000
	ln := make([]float64, n)
	gu := make([]float64, n)
	for i := range ln {
		ln[i] = math.Exp(-0.5 + 0.4*r.NormFloat64())
		// Inverse CDF of Gumbel(2, 0.3).
		gu[i] = 2 - 0.3*math.Log(-math.Log(r.Float64()))
	}
	f, err := FitScores(LogNormal, ln)
	if err != nil || math.Abs(f.Loc+0.5) > 0.02 || math.Abs(f.Scale-0.4) > 0.01 {
		t.Errorf("log-normal fit %+v, %v; want loc -0.5, scale 0.4", f, err)
	}
	g, err := FitScores(Gumbel, gu)
	if err != nil || math.Abs(g.Loc-2) > 0.01 || math.Abs(g.Scale-0.3) > 0.01 {
		t.Errorf("Gumbel fit %+v, %v; want loc 2, scale 0.3", g, err)
	}
}

// The Gumbel ML estimate must satisfy its score equations, checked in
// float64 directly on the raw data.
func TestGumbelFitSolvesLikelihoodEquations(t *testing.T) {
	x := []float64{3.1, 2.7, 4.4, 3.3, 2.9, 5.0, 3.6, 3.0, 3.8, 2.5}
	f, err := FitScores(Gumbel, x)
	if err != nil {
		t.Fatal(err)
	}
	var dmu, dbeta float64
	for _, v := range x {
		z := (v - f.Loc) / f.Scale
		e := math.Exp(-z)
		dmu += (1 - e) / f.Scale
		dbeta += (-1 + z - z*e) / f.Scale
	}
	if math.Abs(dmu) > 1e-8 || math.Abs(dbeta) > 1e-8 {
		t.Errorf("log-likelihood gradient at the fit (%g, %g) is (%g, %g), want 0", f.Loc, f.Scale, dmu, dbeta)
	}
}

func TestRateIntervalCoversTrueRate(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const reps, n = 150, 50
	// True threshold of 2% false rejects for log-normal(0, 0.3).
	thr := math.Exp(0.3 * 2.0537489106318225)
	covered := 0
	x := make([]float64, n)
	for k := 0; k < reps; k++ {
		for i := range x {
			x[i] = math.Exp(0.3 * r.NormFloat64())
		}
		rt, err := RateOf(LogNormal, x, thr, uint64(k))
		if err != nil {
			t.Fatal(err)
		}
		if !(rt.Low <= rt.Expected && rt.Expected <= rt.High) {
			t.Fatalf("expected rate %g outside its interval [%g, %g]", rt.Expected, rt.Low, rt.High)
		}
		if rt.Low <= 0.02 && 0.02 <= rt.High {
			covered++
		}
	}
	// Nominal 90%; a bootstrap on 50 points undercovers a little.
	if c := float64(covered) / reps; c < 0.75 || c > 0.98 {
		t.Errorf("the 90%% interval covered the true rate in %.0f%% of %d trials", 100*c, reps)
	}
}

func TestRateOfIsReproducible(t *testing.T) {
	x := []float64{1, 1.2, 1.1, 1.5, 0.9, 1.3, 1.05}
	a, _ := RateOf(Gumbel, x, 1.6, 9)
	b, _ := RateOf(Gumbel, x, 1.6, 9)
	if a != b {
		t.Errorf("same seed, different rates: %+v and %+v", a, b)
	}
	if !(a.Expected > 0 && a.Expected < 0.2 && a.Bootstrap > Resamples/2) {
		t.Errorf("rate %+v", a)
	}
}

func TestFitRejectsBadScores(t *testing.T) {
	for _, c := range []struct {
		kind   Kind
		scores []float64
	}{
		{LogNormal, []float64{1, 2}},
		{LogNormal, []float64{1, 2, 0}},
		{Gumbel, []float64{1, math.NaN(), 2}},
		{Gumbel, []float64{2, 2, 2, 2}},
		{LogNormal, []float64{2, 2, 2, 2}},
	} {
		if _, err := FitScores(c.kind, c.scores); !errors.Is(err, ErrScores) {
			t.Errorf("%s fit of %v: error %v, want ErrScores", c.kind, c.scores, err)
		}
	}
	if _, err := ParseKind("weibull"); err == nil {
		t.Error("ParseKind accepted weibull")
	}
	if v := (Fit{Kind: Gumbel, Loc: 0, Scale: 1}).Threshold(0); !math.IsNaN(v) {
		t.Errorf("threshold at rate 0 is %g, want NaN", v)
	}
}
