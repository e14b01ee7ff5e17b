// Package peak measures the float64 FMA peak of a core: the baseline that
// benchmarks of the Gram kernel are read against, since on a shared machine
// absolute rates drift from run to run. Only benchmarks use it.
package peak

import "github.com/crd-ad/crd/internal/avx512"

// Flops runs a float64 FMA loop with all operands in registers on the
// calling thread and returns the flops it performed (at least n). Run on
// every core at once, it measures the machine's float64 peak. It panics
// unless avx512.Supported.
func Flops(n int) float64 {
	if !avx512.Supported() {
		panic("peak: no AVX-512 kernel in this build or on this CPU")
	}
	rounds := (n + 383) / 384
	loop(rounds)
	return float64(rounds) * 384
}
