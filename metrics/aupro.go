package metrics

import (
	"fmt"
	"math"
)

// The PRO curve (Bergmann et al., "The MVTec Anomaly Detection Dataset",
// IJCV 2021) follows the official MVTec AD evaluation code
// (pro_curve_util.py): regions are the 8-connected components of the
// ground-truth masks; at a threshold t, FPR is the fraction of normal pixels
// (mask false, in every image, defective images included) with score >= t, and
// PRO is the mean over all regions of all images of the fraction of the
// region's pixels with score >= t. The curve has one point per distinct score,
// swept in descending order, and starts at (0, 0). AUPRO integrates it with
// the trapezoid rule from FPR 0 to the limit, interpolating linearly at the
// limit, and divides by the limit. Unlike the official code, which sorts every
// score with argsort and accumulates FPR in float32, the curve is computed in
// float64 from a radix sort.

// proPoint is a point of the PRO curve: at threshold thr, the false positive
// rate is fpr and the per-region overlap is pro.
type proPoint struct{ fpr, pro, thr float64 }

// proSweep yields the points of the PRO curve at each distinct score, in
// descending order of threshold, after the start point (0, 0).
func (s *PixelSet) proSweep(yield func(proPoint) bool) {
	inv := make([]float64, len(s.regionSize))
	for k, n := range s.regionSize {
		inv[k] = 1 / float64(n)
	}
	nOK, nRegions := float64(len(s.neg)), float64(len(s.regionSize))
	var overlap float64 // sum over regions of the covered fraction
	s.walk(func(region uint32) { overlap += inv[region] }, func(t uint32, fp int64) bool {
		// Clip the rounding of the running sum, as the official code does.
		return yield(proPoint{float64(fp) / nOK, min(overlap/nRegions, 1), float64(keyFloat(t))})
	})
}

// checkPRO returns the error that bars the PRO metrics.
func (s *PixelSet) checkPRO(fprLimit float64) error {
	if err := s.check(); err != nil {
		return err
	}
	if !(fprLimit > 0 && fprLimit <= 1) {
		return fmt.Errorf("metrics: AUPRO FPR limit %g is not in (0, 1]", fprLimit)
	}
	if len(s.regionSize) == 0 {
		return fmt.Errorf("%w (%d images)", ErrNoRegion, s.images)
	}
	if len(s.neg) == 0 {
		return fmt.Errorf("%w: all %d pixels are defect pixels, FPR is undefined", ErrOneClass, len(s.pos))
	}
	return nil
}

// AUPRO is the area under the PRO curve from FPR 0 to fprLimit (0.3 in the
// literature), divided by fprLimit, so that it lies in [0, 1]. It returns an
// error wrapping ErrEmpty, ErrNaN, ErrNoRegion (no defect pixel at all) or
// ErrOneClass (no normal pixel), or an error for a limit outside (0, 1].
func (s *PixelSet) AUPRO(fprLimit float64) (float64, error) {
	if err := s.checkPRO(fprLimit); err != nil {
		return 0, err
	}
	var area, x0, y0 float64
	for p := range s.proSweep {
		x, y := p.fpr, p.pro
		if x > fprLimit {
			yl := y0 + (y-y0)*(fprLimit-x0)/(x-x0)
			area += 0.5 * (y0 + yl) * (fprLimit - x0)
			break
		}
		area += 0.5 * (y0 + y) * (x - x0)
		x0, y0 = x, y
	}
	return area / fprLimit, nil
}

// PROCurve returns the PRO curve (X = FPR, Y = PRO) from (0, 0) up to FPR =
// fprLimit, its last point interpolated at the limit as AUPRO does, thinned to
// about maxPoints points (all points when maxPoints <= 0). It returns the
// errors of AUPRO.
func (s *PixelSet) PROCurve(fprLimit float64, maxPoints int) (Curve, error) {
	if err := s.checkPRO(fprLimit); err != nil {
		return Curve{}, err
	}
	c := newThinCurve(maxPoints)
	c.add(0, 0, math.Inf(1), true)
	x0, y0 := 0.0, 0.0
	for p := range s.proSweep {
		x, y := p.fpr, p.pro
		if x > fprLimit {
			c.add(fprLimit, y0+(y-y0)*(fprLimit-x0)/(x-x0), p.thr, true)
			break
		}
		c.add(x, y, p.thr, x == fprLimit)
		x0, y0 = x, y
	}
	return c.Curve, nil
}

// AUPRO computes the AUPRO of anomaly maps against ground-truth masks, as
// PixelSet.AUPRO does. Image i has the scores maps[i] and the mask masks[i]
// (true = defect), both widths[i] pixels wide; images may differ in size. It
// panics if the slices do not match.
func AUPRO(maps [][]float32, masks [][]bool, widths []int, fprLimit float64) (float64, error) {
	if len(maps) != len(masks) || len(maps) != len(widths) {
		panic(fmt.Sprintf("metrics: AUPRO: %d maps, %d masks, %d widths", len(maps), len(masks), len(widths)))
	}
	var s PixelSet
	for i := range maps {
		s.Add(maps[i], masks[i], widths[i])
	}
	return s.AUPRO(fprLimit)
}
