package metrics

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

// PixelSet accumulates the anomaly maps and ground-truth masks of many images
// for the pixel-level metrics: AUROC, F1-max, the ROC and PRO curves and
// AUPRO. It stores each normal pixel as a 4-byte order-preserving key of its
// float32 score, and each defect pixel as 8 bytes (the key and the id of its
// connected ground-truth region). The first metric computed after an Add sorts
// the keys with an LSD radix sort, which needs as much scratch memory again
// for the duration of the sort; later metrics reuse the sorted order.
//
// The zero value is an empty set ready to use. A PixelSet is not safe for
// concurrent use.
type PixelSet struct {
	neg        []uint32 // keys of normal pixels
	pos        []uint64 // key<<32 | region id of defect pixels
	regionSize []int64  // pixels of each region, indexed by region id
	images     int
	nan        int64  // NaN scores seen (not stored)
	firstNaN   string // where the first NaN was seen
	sorted     bool
	lab        labeller
}

// Grow reserves room for n more normal pixels, so that Add does not
// reallocate (and briefly hold two copies) while filling a large set of known
// size. Defect pixels, usually few, are stored apart and grow as needed.
func (s *PixelSet) Grow(n int) {
	s.neg = slices.Grow(s.neg, n)
}

// Add adds one image: its anomaly map scores and its ground-truth mask
// (true = defect), both h x w in row-major order with h = len(scores) / w.
// The mask's 8-connected components are the regions of the PRO metric. NaN
// scores are counted and make every metric return an ErrNaN error. Add panics
// if the lengths differ or are not a multiple of w.
func (s *PixelSet) Add(scores []float32, mask []bool, w int) {
	if len(scores) != len(mask) || w <= 0 || len(scores)%w != 0 {
		panic(fmt.Sprintf("metrics: PixelSet.Add: %d scores, %d mask pixels, width %d", len(scores), len(mask), w))
	}
	s.add(scores, mask, w)
}

// add is Add; w = 0 skips the region labelling (all defect pixels get region
// id 0), for metrics that do not need regions.
func (s *PixelSet) add(scores []float32, mask []bool, w int) {
	var labels []int32
	base := uint64(len(s.regionSize)) // region k (1-based) of this image gets id base + k - 1
	if w > 0 && hasTrue(mask) {
		var sizes []int64
		labels, sizes = s.lab.label(mask, w)
		s.regionSize = append(s.regionSize, sizes...)
	}
	for i, v := range scores {
		if v != v { // NaN
			if s.nan == 0 {
				s.firstNaN = fmt.Sprintf("image %d, pixel %d", s.images, i)
			}
			s.nan++
			continue
		}
		k := floatKey(v)
		if !mask[i] {
			s.neg = append(s.neg, k)
			continue
		}
		var id uint64
		if labels != nil {
			id = base + uint64(labels[i]-1)
		}
		s.pos = append(s.pos, uint64(k)<<32|id)
	}
	s.images++
	s.sorted = false
}

func hasTrue(m []bool) bool {
	for _, b := range m {
		if b {
			return true
		}
	}
	return false
}

// Images is the number of images added.
func (s *PixelSet) Images() int { return s.images }

// Len is the number of pixels added, NaN pixels included.
func (s *PixelSet) Len() int64 { return int64(len(s.neg)+len(s.pos)) + s.nan }

// Defects is the number of defect (mask true) pixels added, NaN excluded.
func (s *PixelSet) Defects() int64 { return int64(len(s.pos)) }

// Regions is the number of connected defect regions added.
func (s *PixelSet) Regions() int { return len(s.regionSize) }

// check returns the error that bars every metric: no pixels or NaN scores.
func (s *PixelSet) check() error {
	if s.nan > 0 {
		return fmt.Errorf("%w: %d of %d pixel scores are NaN, the first in %s", ErrNaN, s.nan, s.Len(), s.firstNaN)
	}
	if len(s.neg)+len(s.pos) == 0 {
		return ErrEmpty
	}
	return nil
}

// sort sorts both key arrays ascending, concurrently, once per batch of Adds.
func (s *PixelSet) sort() {
	if s.sorted {
		return
	}
	var wg sync.WaitGroup
	if len(s.pos) > 0 {
		wg.Go(func() { radixSort(s.pos, make([]uint64, len(s.pos)), 32) })
	}
	radixSort(s.neg, make([]uint32, len(s.neg)), 0)
	wg.Wait()
	s.sorted = true
}

// sweep merges the sorted keys from the top, one step per distinct score.
func (s *PixelSet) sweep() sweep {
	s.sort()
	return func(yield func(step) bool) {
		var tp int64
		s.walk(func(uint32) { tp++ }, func(t uint32, fp int64) bool {
			return yield(step{float64(keyFloat(t)), tp, fp})
		})
	}
}

// walk merges the sorted negative and positive keys from the top, one
// distinct score key t at a time: it counts the negatives at t, calls onPos
// with each positive's region (the key's low 32 bits), then calls at with t
// and the negatives counted so far. It stops when at returns false.
func (s *PixelSet) walk(onPos func(region uint32), at func(t uint32, fp int64) bool) {
	s.sort()
	neg, pos := s.neg, s.pos
	i, j := len(neg)-1, len(pos)-1
	var fp int64
	for i >= 0 || j >= 0 {
		var t uint32
		switch {
		case i < 0:
			t = uint32(pos[j] >> 32)
		case j < 0:
			t = neg[i]
		default:
			t = max(neg[i], uint32(pos[j]>>32))
		}
		for i >= 0 && neg[i] == t {
			fp++
			i--
		}
		for j >= 0 && uint32(pos[j]>>32) == t {
			onPos(uint32(pos[j]))
			j--
		}
		if !at(t, fp) {
			return
		}
	}
}

// AUROC is the exact pixel-level area under the ROC curve, with ties handled
// as in scikit-learn's roc_auc_score (see AUROC). It returns an error wrapping
// ErrEmpty, ErrNaN or ErrOneClass.
func (s *PixelSet) AUROC() (float64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	p, n := int64(len(s.pos)), int64(len(s.neg))
	if err := needBothClasses(p, n); err != nil {
		return 0, err
	}
	return aucOfSweep(s.sweep(), p, n), nil
}

// F1Max is the largest pixel-level F1 score over all thresholds and the
// threshold that reaches it (pixels with score >= threshold are predicted
// defective), as F1Max computes it. It returns an error wrapping ErrEmpty,
// ErrNaN, or ErrOneClass when there is no defect pixel.
func (s *PixelSet) F1Max() (f1 float64, threshold float32, err error) {
	if err := s.check(); err != nil {
		return 0, 0, err
	}
	p := int64(len(s.pos))
	if p == 0 {
		return 0, 0, fmt.Errorf("%w: all %d pixels are normal (no defect pixel)", ErrOneClass, len(s.neg))
	}
	f1, thr := f1MaxOfSweep(s.sweep(), p)
	return f1, float32(thr), nil
}

// ROC returns the pixel-level ROC curve (X = false positive rate, Y = true
// positive rate) from (0, 0) at threshold +Inf to (1, 1), thinned to about
// maxPoints points for plotting (all points when maxPoints <= 0; there is one
// per distinct score). It returns the errors of AUROC.
func (s *PixelSet) ROC(maxPoints int) (Curve, error) {
	if err := s.check(); err != nil {
		return Curve{}, err
	}
	p, n := int64(len(s.pos)), int64(len(s.neg))
	if err := needBothClasses(p, n); err != nil {
		return Curve{}, err
	}
	c := newThinCurve(maxPoints)
	c.add(0, 0, math.Inf(1), false)
	var last step
	for st := range s.sweep() {
		if st.tp == p && st.fp == n {
			last = st
			break
		}
		c.add(float64(st.fp)/float64(n), float64(st.tp)/float64(p), st.thr, false)
	}
	c.add(1, 1, last.thr, true)
	return c.Curve, nil
}

// Confusion counts the pixel decisions "score >= threshold" against the
// masks. It returns an error wrapping ErrEmpty or ErrNaN.
func (s *PixelSet) Confusion(threshold float32) (ConfusionMatrix, error) {
	if err := s.check(); err != nil {
		return ConfusionMatrix{}, err
	}
	var c ConfusionMatrix
	t := floatKey(threshold)
	for _, k := range s.neg {
		if k >= t {
			c.FP++
		}
	}
	for _, k := range s.pos {
		if uint32(k>>32) >= t {
			c.TP++
		}
	}
	c.TN = int64(len(s.neg)) - c.FP
	c.FN = int64(len(s.pos)) - c.TP
	return c, nil
}

// AUROC32 is AUROC for float32 scores, without float64 copies: it uses about
// 8 bytes per sample while it runs (4 for the keys, 4 for the sort's scratch).
func AUROC32(scores []float32, labels []bool) (float64, error) {
	if len(scores) != len(labels) {
		panic(fmt.Sprintf("metrics: %d scores but %d labels", len(scores), len(labels)))
	}
	var s PixelSet
	s.add(scores, labels, 0)
	if s.nan > 0 {
		s.firstNaN = "sample " + s.firstNaN[len("image 0, pixel "):]
	}
	return s.AUROC()
}
