package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/blas"
)

// TestChoice: the zero Set is Detected; BLAS runs nothing on the AVX-512
// kernels; AVX512 runs exactly the operations asked; Detected matches the
// rule (everything where the kernels run, kNN only where OpenBLAS has no
// AVX-512 kernels of its own).
func TestChoice(t *testing.T) {
	t.Parallel()
	var zero Set
	for _, op := range []Op{Gram, Score, Conv, Nearest, Pool, Pixels, All} {
		if zero.UsesAVX512(op) != Detected().UsesAVX512(op) {
			t.Errorf("op %d: the zero Set differs from Detected", op)
		}
		if BLAS().UsesAVX512(op) {
			t.Errorf("op %d: BLAS() uses the AVX-512 kernels", op)
		}
	}
	if zero.UsesAVX512(0) {
		t.Error("the empty operation set uses the AVX-512 kernels")
	}
	on := avx512.Supported()
	if Detected().UsesAVX512(Gram|Score|Conv|Pool|Pixels) != on {
		t.Errorf("Detected: Gram, Score, Conv, Pool, Pixels on AVX-512 = %v, kernels supported = %v", !on, on)
	}
	if want := on && !blas.AVX512Kernels(); Detected().UsesAVX512(Nearest) != want {
		t.Errorf("Detected: Nearest on AVX-512 = %v, want %v", !want, want)
	}
	if !on {
		defer func() {
			if recover() == nil {
				t.Error("AVX512 did not panic where the kernels do not run")
			}
		}()
	}
	s := AVX512(Gram | Conv)
	if !s.UsesAVX512(Gram) || !s.UsesAVX512(Conv) || s.UsesAVX512(Score) || s.UsesAVX512(Nearest) || s.UsesAVX512(Gram|Score) {
		t.Errorf("AVX512(Gram|Conv) = %v", s)
	}
	if got, want := s.String(), "avx512: gram conv; blas: score nearest pool pixels; emulated: conv-bf16"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestChoiceBF16: Detected runs ConvBF16 on the kernel exactly where it
// runs; AVX512 with ConvBF16 runs it there and panics elsewhere; All and
// BLAS leave it emulated.
func TestChoiceBF16(t *testing.T) {
	t.Parallel()
	on := avx512.BF16Supported()
	if Detected().UsesAVX512(ConvBF16) != on || (Set{}).UsesAVX512(ConvBF16) != on {
		t.Errorf("Detected: ConvBF16 on the kernel = %v, bf16 kernel supported = %v", !on, on)
	}
	if BLAS().UsesAVX512(ConvBF16) {
		t.Error("BLAS() runs ConvBF16 on the kernel")
	}
	if !avx512.Supported() {
		return
	}
	if AVX512(All).UsesAVX512(ConvBF16) {
		t.Error("AVX512(All) runs ConvBF16 on the kernel")
	}
	if !on {
		defer func() {
			if recover() == nil {
				t.Error("AVX512(ConvBF16) did not panic where the bf16 kernel does not run")
			}
		}()
	}
	s := AVX512(Conv | ConvBF16)
	if !s.UsesAVX512(ConvBF16) || !s.UsesAVX512(Conv) || s.UsesAVX512(Pool) {
		t.Errorf("AVX512(Conv|ConvBF16) = %v", s)
	}
	if got, want := s.String(), "avx512: conv conv-bf16; blas: gram score nearest pool pixels"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestSgemm: both paths, beta 0, 1 and another value (which always goes
// to BLAS), against the float64 product.
func TestSgemm(t *testing.T) {
	t.Parallel()
	sets := []Set{BLAS()}
	if avx512.Supported() {
		sets = append(sets, AVX512(All))
	}
	r := rand.New(rand.NewPCG(1, 1))
	const m, n, k = 29, 37, 41
	a, b, c0 := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for _, s := range [][]float32{a, b, c0} {
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
	}
	for _, s := range sets {
		for _, beta := range []float32{0, 1, 0.5} {
			c := append([]float32(nil), c0...)
			s.Sgemm(Conv, m, n, k, 2, a, k, b, n, beta, c, n)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					want, mag := float64(beta)*float64(c0[i*n+j]), 1.0
					for p := 0; p < k; p++ {
						x := 2 * float64(a[i*k+p]) * float64(b[p*n+j])
						want += x
						mag += math.Abs(x)
					}
					if math.Abs(float64(c[i*n+j])-want) > 1e-6*mag {
						t.Fatalf("%v beta=%g: C[%d,%d] = %g, want %g", s, beta, i, j, c[i*n+j], want)
					}
				}
			}
		}
	}
}

// TestChoiceWinograd: Detected runs Winograd with Conv where the AVX-512
// kernels run; All includes it, so that All &^ Winograd forces the direct
// path; String lists it only with Conv.
func TestChoiceWinograd(t *testing.T) {
	t.Parallel()
	if BLAS().UsesAVX512(Winograd) {
		t.Error("BLAS() runs Winograd")
	}
	if Detected().UsesAVX512(Conv|Winograd) != avx512.Supported() {
		t.Errorf("Detected: Winograd = %v, kernels supported = %v", !avx512.Supported(), avx512.Supported())
	}
	if !avx512.Supported() {
		return
	}
	if s := AVX512(All); !s.UsesAVX512(Conv | Winograd) {
		t.Errorf("AVX512(All) = %v runs no Winograd", s)
	}
	s := AVX512(All &^ Winograd)
	if s.UsesAVX512(Winograd) || !s.UsesAVX512(Conv) {
		t.Errorf("AVX512(All &^ Winograd) = %v", s)
	}
	for _, c := range []struct {
		s    Set
		want string
	}{
		{AVX512(Conv | Winograd), "avx512: conv winograd; blas: gram score nearest pool pixels; emulated: conv-bf16"},
		{AVX512(Conv), "avx512: conv; blas: gram score nearest pool pixels; emulated: conv-bf16"},
		{AVX512(Gram | Winograd), "avx512: gram; blas: score conv nearest pool pixels; emulated: conv-bf16"},
	} {
		if got := c.s.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}
