package metrics

// Curve is a monotone curve sampled at thresholds, for plots and reports:
// point i is (X[i], Y[i]), reached at threshold Threshold[i] (samples with
// score >= Threshold[i] are predicted anomalous). For a ROC curve X is the
// false positive rate and Y the true positive rate; for a PRO curve X is the
// false positive rate and Y the per-region overlap.
type Curve struct {
	X, Y, Threshold []float64
}

// thinCurve builds a Curve from points whose X and Y never decrease, keeping a
// point only when X or Y moved by at least 1/maxPoints since the last kept
// point (every point when maxPoints <= 0), so a curve over millions of
// distinct scores stays small enough to plot.
type thinCurve struct {
	Curve
	minStep float64
}

func newThinCurve(maxPoints int) *thinCurve {
	c := &thinCurve{}
	if maxPoints > 0 {
		c.minStep = 1 / float64(maxPoints)
	}
	return c
}

// add appends the point (x, y) at threshold thr, unless it is too close to the
// previous kept point and force is false.
func (c *thinCurve) add(x, y, thr float64, force bool) {
	if n := len(c.X); n > 0 && !force && x-c.X[n-1] < c.minStep && y-c.Y[n-1] < c.minStep {
		return
	}
	c.X = append(c.X, x)
	c.Y = append(c.Y, y)
	c.Threshold = append(c.Threshold, thr)
}
