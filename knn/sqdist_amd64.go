//go:build amd64 && !purego

package knn

import "github.com/crd-ad/crd/internal/kernels"

// useAVX2 says whether the CPU and OS support AVX2 and FMA, which the
// assembly distance kernel needs.
var useAVX2 = kernels.AVX2FMA()

// sqDist is ||a - b||^2 in float32 (len(b) >= len(a)): 32 elements at a time
// with AVX2 and FMA where available, the rest in Go.
func sqDist(a, b []float32) float32 {
	n := len(a) &^ 31
	if !useAVX2 || n == 0 {
		return sqDistGeneric(a, b)
	}
	b = b[:len(a)]
	s := sqDistAVX2(&a[0], &b[0], n)
	if n < len(a) {
		s += sqDistGeneric(a[n:], b[n:])
	}
	return s
}

// sqDistAVX2 returns sum_i (a[i] - b[i])^2 over n elements, n a positive
// multiple of 32, in four 8-lane FMA accumulators.
//
//go:noescape
func sqDistAVX2(a, b *float32, n int) float32
