package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crd-ad/crd/internal/kernels"
)

// TestToNCHWAt: ToNCHWAt places a map's channels at an offset of a wider
// tensor, element (n, c, y, x) of dst being (n, y, x, c - c0) of the map,
// leaves the other channels alone, and panics on a tensor that does not
// fit; on every path (ToNCHWAtKernels: the loop in Go and, where it runs,
// the AVX-512 kernel), bit for bit.
func TestToNCHWAt(t *testing.T) {
	sets := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		sets = append(sets, kernels.AVX512(kernels.Pool))
	}
	for _, kern := range sets {
		testToNCHWAt(t, kern)
	}
}

func testToNCHWAt(t *testing.T, kern kernels.Set) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][5]int{{2, 5, 7, 37, 11}, {1, 3, 3, 64, 0}, {3, 9, 4, 1, 2}, {2, 35, 35, 288, 0}, {3, 17, 17, 768, 288}, {1, 4, 5, 130, 7}} {
		n, h, w, c, c0 := s[0], s[1], s[2], s[3], s[4]
		m := FromNCHW(nil, randTensor(r, n, c, h, w))
		dst := NewTensor(n, c0+c+3, h, w)
		for i := range dst.Data {
			dst.Data[i] = float32(i)
		}
		m.ToNCHWAtKernels(dst, c0, kern)
		for b := 0; b < n; b++ {
			for ch := 0; ch < dst.C; ch++ {
				for y := 0; y < h; y++ {
					for x := 0; x < w; x++ {
						i := ((b*dst.C+ch)*h+y)*w + x
						want := float32(i)
						if ch >= c0 && ch < c0+c {
							want = m.Data[((b*h+y)*w+x)*c+ch-c0]
						}
						if math.Float32bits(dst.Data[i]) != math.Float32bits(want) {
							t.Fatalf("%v: %v at %d: (%d, %d, %d, %d) = %g, want %g", kern, m, c0, b, ch, y, x, dst.Data[i], want)
						}
					}
				}
			}
		}
	}
	m := &NHWC{N: 1, H: 2, W: 2, C: 4, Data: make([]float32, 16)}
	for _, dst := range []*Tensor{NewTensor(1, 5, 2, 2), NewTensor(2, 8, 2, 2), NewTensor(1, 8, 2, 3)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("a %dx%dx%dx%d tensor at channel 2 accepted", dst.N, dst.C, dst.H, dst.W)
				}
			}()
			m.ToNCHWAtKernels(dst, 2, kern)
		}()
	}
}

// BenchmarkToNCHW converts inception_v3's mixed2 and mixed5 for a batch of
// 8 (the extractor's conversion of the pooled layers), with the loop in Go
// and, where it runs, the AVX-512 kernel.
func BenchmarkToNCHW(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	maps := []*NHWC{FromNCHW(nil, randTensor(r, 8, 288, 35, 35)), FromNCHW(nil, randTensor(r, 8, 768, 17, 17))}
	dst := []*Tensor{{}, {}}
	sets := map[string]kernels.Set{"go": kernels.BLAS()}
	if kernels.AVX512Supported() {
		sets["avx512"] = kernels.AVX512(kernels.Pool)
	}
	for name, kern := range sets {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				for i, m := range maps {
					dst[i].Reshape(m.N, m.C, m.H, m.W)
					m.ToNCHWAtKernels(dst[i], 0, kern)
				}
			}
		})
	}
}
