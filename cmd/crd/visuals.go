package main

import (
	"maps"
	"slices"
	"time"

	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/report"
)

// mapRange is the anomaly-map range shown by the colour map: the pixel
// threshold sits in the middle, so red means "above threshold". Without a
// calibration the map's own range is used.
func mapRange(d *detector.Detector, m []float32) (lo, hi float64) {
	if d.Calibrated() && d.Header.Calibration.PixelThreshold > 0 {
		return 0, 2 * d.Header.Calibration.PixelThreshold
	}
	return float64(slices.Min(m)), float64(slices.Max(m))
}

// writeVisuals writes predict's heatmap overlay on the original image and
// the binary defect mask (map above the pixel threshold).
func writeVisuals(d *detector.Detector, r *detector.Result, heatPath, maskPath string) error {
	m := d.PixelMapOriginal(r)
	lo, hi := mapRange(d, m)
	if err := report.WritePNG(heatPath, report.Overlay(r.Image, m, lo, hi, 0.45)); err != nil {
		return err
	}
	mask := make([]bool, len(m))
	if d.Calibrated() {
		thr := float32(d.Header.Calibration.PixelThreshold)
		for i, v := range m {
			mask[i] = v > thr
		}
	}
	return report.MaskPNG(maskPath, mask, r.Image.W, r.Image.H)
}

// stageTimings lists the measured stages in name order.
func stageTimings(seconds map[string]float64) []report.Timing {
	var tm []report.Timing
	for _, k := range slices.Sorted(maps.Keys(seconds)) {
		tm = append(tm, report.Timing{Name: k, Total: time.Duration(seconds[k] * float64(time.Second))})
	}
	return tm
}
