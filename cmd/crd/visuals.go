package main

import (
	"maps"
	"slices"
	"time"

	"github.com/crd-ad/crd/report"
)

// stageTimings lists the measured stages in name order.
func stageTimings(seconds map[string]float64) []report.Timing {
	var tm []report.Timing
	for _, k := range slices.Sorted(maps.Keys(seconds)) {
		tm = append(tm, report.Timing{Name: k, Total: time.Duration(seconds[k] * float64(time.Second))})
	}
	return tm
}
