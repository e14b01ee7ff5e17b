package peak

import (
	"testing"

	"github.com/crd-ad/crd/internal/avx512"
)

// TestFlops: the count covers at least the flops asked for, in whole
// rounds of 384, and a call where the kernels do not run panics.
func TestFlops(t *testing.T) {
	if !avx512.Supported() {
		defer func() {
			if recover() == nil {
				t.Error("Flops did not panic without the AVX-512 kernels")
			}
		}()
	}
	for _, n := range []int{1, 384, 1000} {
		f := Flops(n)
		if f < float64(n) || f >= float64(n)+384 || int(f)%384 != 0 {
			t.Errorf("Flops(%d) = %g", n, f)
		}
	}
}
