package anomalymap

import (
	"fmt"
	"math"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
)

// KernelSize is the Gaussian kernel size anomalib uses for a given sigma:
// 2*int(4*sigma+0.5)+1, that is 33 for sigma 4 (a radius of 4 sigma).
func KernelSize(sigma float64) int {
	return 2*int(4*sigma+0.5) + 1
}

// GaussianKernel returns the normalised 1-D Gaussian kernel of KernelSize(sigma)
// taps, as kornia's get_gaussian_kernel1d computes it: g[i] =
// exp(-(i-r)^2 / (2 sigma^2)) / sum, with r the radius. sigma = 0 gives the
// identity kernel [1]. It panics for a negative or non-finite sigma.
func GaussianKernel(sigma float64) []float32 {
	if !(sigma >= 0) || math.IsInf(sigma, 1) {
		panic(fmt.Sprintf("anomalymap: Gaussian sigma %g is not a finite non-negative number", sigma))
	}
	n := KernelSize(sigma)
	r := n / 2
	g := make([]float64, n)
	var sum float64
	for i := range g {
		x := float64(i - r)
		g[i] = math.Exp(-x * x / (2 * sigma * sigma))
		if n == 1 {
			g[i] = 1
		}
		sum += g[i]
	}
	k := make([]float32, n)
	for i := range g {
		k[i] = float32(g[i] / sum)
	}
	return k
}

// Border selects how the blur extends an image beyond its edges.
type Border int

const (
	// Reflect mirrors without repeating the edge pixel (for n = 4:
	// ... 2 1 | 0 1 2 3 | 2 1 ...): PyTorch's "reflect" padding, used by
	// anomalib's GaussianBlur2d.
	Reflect Border = iota
	// Symmetric mirrors and repeats the edge pixel (... 1 0 | 0 1 2 3 | 3 2
	// ...): scipy.ndimage's mode "reflect", used by the PatchCore paper's
	// code through scipy.ndimage.gaussian_filter.
	Symmetric
)

// String returns "reflect" or "symmetric".
func (b Border) String() string {
	switch b {
	case Reflect:
		return "reflect"
	case Symmetric:
		return "symmetric"
	}
	return fmt.Sprintf("Border(%d)", int(b))
}

// index maps i, possibly outside [0, n), into the image. Pads wider than the
// image, which PyTorch refuses, repeat the mirroring: the extended signal is
// periodic with period 2(n-1) for Reflect (as numpy.pad(mode="reflect")
// extends it) and 2n for Symmetric (as scipy.ndimage does); for n = 1 Reflect
// repeats the single value.
func (b Border) index(i, n int) int {
	if i >= 0 && i < n {
		return i
	}
	if b == Symmetric {
		p := 2 * n
		i %= p
		if i < 0 {
			i += p
		}
		if i >= n {
			i = p - 1 - i
		}
		return i
	}
	if n == 1 {
		return 0
	}
	p := 2 * (n - 1)
	i %= p
	if i < 0 {
		i += p
	}
	if i >= n {
		i = p - i
	}
	return i
}

// Blur is a separable Gaussian blur, with Reflect borders by default as
// anomalib's GaussianBlur2d applies it: out = K * img with the 2-D kernel K = g g^T,
// computed as a horizontal then a vertical pass with the 1-D kernel g, whose
// symmetry halves the multiplications. The sums run on the AVX-512 kernel
// where its kernels.Set says so (kernels.Pixels; the zero Set is
// kernels.Detected), else in Go: the same values either way. A Blur
// keeps a scratch image between calls, so it is not safe for concurrent use;
// use one Blur per goroutine.
type Blur struct {
	kernel []float32
	border Border
	kern   kernels.Set
	tmp    []float32
}

// NewBlur returns a Blur with the kernel GaussianKernel(sigma) and Reflect
// borders.
func NewBlur(sigma float64) *Blur {
	return &Blur{kernel: GaussianKernel(sigma)}
}

// NewBlurBorder returns a Blur with the kernel GaussianKernel(sigma) and the
// given borders. With Symmetric it equals scipy.ndimage.gaussian_filter(img,
// sigma) (truncate 4, the same kernel size).
func NewBlurBorder(sigma float64, border Border) *Blur {
	return NewBlurKernels(sigma, border, kernels.Set{})
}

// NewBlurKernels is NewBlurBorder with the implementation of the sums
// chosen by kern (kernels.Pixels).
func NewBlurKernels(sigma float64, border Border, kern kernels.Set) *Blur {
	if border != Reflect && border != Symmetric {
		panic(fmt.Sprintf("anomalymap.NewBlurBorder: unknown %v", border))
	}
	return &Blur{kernel: GaussianKernel(sigma), border: border, kern: kern}
}

// Kernel returns the 1-D kernel (shared, do not modify).
func (b *Blur) Kernel() []float32 { return b.kernel }

// Apply blurs m and returns the result, whose values are written to dst,
// reallocated if its capacity is below m.W*m.H. dst may be m.Pix (in-place).
func (b *Blur) Apply(dst []float32, m Map) Map {
	src, h, w := m.Pix, m.H, m.W
	checkShape("Blur.Apply", len(src), h, w, h, w)
	dst = grow(dst, h*w)
	b.tmp = grow(b.tmp, h*w)
	tmp, g := b.tmp, b.kernel
	r := len(g) / 2
	fast := b.kern.UsesAVX512(kernels.Pixels)

	// Horizontal pass, src -> tmp: each row is padded into a buffer of
	// w + 2r values, then correlated with g (taps r-k and r+k on the
	// buffer from r-k and from r+k).
	rows(h, h*w, func(y0, y1 int) {
		pad := make([]float32, w+2*r)
		lo, hi := make([]int64, r+1), make([]int64, r+1)
		for k := range lo {
			lo[k], hi[k] = int64(r-k), int64(r+k)
		}
		for y := y0; y < y1; y++ {
			row := src[y*w:][:w]
			for i := range r {
				pad[i] = row[b.border.index(i-r, w)]
				pad[r+w+i] = row[b.border.index(w+i, w)]
			}
			copy(pad[r:r+w], row)
			blurSum(tmp[y*w:][:w], g, pad, lo, hi, fast)
		}
	})
	// Vertical pass, tmp -> dst: output row y accumulates the rows y - k and
	// y + k (mapped into the image) of tmp weighted by g[r+k].
	rows(h, h*w, func(y0, y1 int) {
		lo, hi := make([]int64, r+1), make([]int64, r+1)
		for y := y0; y < y1; y++ {
			for k := range lo {
				lo[k], hi[k] = int64(b.border.index(y-k, h)*w), int64(b.border.index(y+k, h)*w)
			}
			blurSum(dst[y*w:][:w], g, tmp, lo, hi, fast)
		}
	})
	return Map{Pix: dst, W: w, H: h}
}

// blurSum sets out[x] to g[r]*src[lo[0]+x], plus g[r+k]*(src[lo[k]+x] + src[hi[k]+x]) for k = 1 to r in turn: the
// symmetric kernel g (odd length 2r+1) with its taps r-k and r+k paired, applied to the rows of src from lo[k] and
// hi[k] that those taps fall on (lo[0] is the centre). Every x gets the same float32 operations in the same order,
// each rounded to float32 (no fused multiply-add: the explicit conversions), as avx512.BlurSum computes them, which
// runs instead when fast; in Go, four outputs are computed at once, so that their sums proceed side by side instead of
// each waiting on its own previous addition.
func blurSum(out, g, src []float32, lo, hi []int64, fast bool) {
	if fast {
		avx512.BlurSum(src, lo, hi, g, out)
		return
	}
	r := len(g) / 2
	c, mid := g[r], src[lo[0]:][:len(out)]
	x := 0
	for ; x+4 <= len(out); x += 4 {
		m := mid[x : x+4]
		s0, s1, s2, s3 := c*m[0], c*m[1], c*m[2], c*m[3]
		for k := 1; k <= r; k++ {
			gk := g[r+k]
			l, h := src[lo[k]+int64(x):][:4], src[hi[k]+int64(x):][:4]
			s0 += float32(gk * (l[0] + h[0]))
			s1 += float32(gk * (l[1] + h[1]))
			s2 += float32(gk * (l[2] + h[2]))
			s3 += float32(gk * (l[3] + h[3]))
		}
		out[x], out[x+1], out[x+2], out[x+3] = s0, s1, s2, s3
	}
	for ; x < len(out); x++ {
		s := c * mid[x]
		for k := 1; k <= r; k++ {
			s += float32(g[r+k] * (src[lo[k]+int64(x)] + src[hi[k]+int64(x)]))
		}
		out[x] = s
	}
}

// GaussianBlur returns a new map: m blurred by a Gaussian of the given sigma
// (see Blur).
func GaussianBlur(m Map, sigma float64) Map {
	return NewBlur(sigma).Apply(nil, m)
}
