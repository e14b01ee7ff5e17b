//go:build !amd64 || purego

package knn

// sqDist is ||a - b||^2 in float32 (len(b) >= len(a)).
func sqDist(a, b []float32) float32 { return sqDistGeneric(a, b) }
