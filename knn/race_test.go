//go:build race

package knn

// raceEnabled: the race detector makes sync.Pool drop entries on purpose.
const raceEnabled = true
