package anomalymap

import (
	"fmt"
	"math"
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
// symmetry halves the multiplications. A Blur
// keeps a scratch image between calls, so it is not safe for concurrent use;
// use one Blur per goroutine.
type Blur struct {
	kernel []float32
	border Border
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
	if border != Reflect && border != Symmetric {
		panic(fmt.Sprintf("anomalymap.NewBlurBorder: unknown %v", border))
	}
	return &Blur{kernel: GaussianKernel(sigma), border: border}
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

	// Horizontal pass, src -> tmp: each row is padded into a buffer of
	// w + 2r values, then correlated with g.
	rows(h, h*w, func(y0, y1 int) {
		pad := make([]float32, w+2*r)
		for y := y0; y < y1; y++ {
			row := src[y*w:][:w]
			for i := range r {
				pad[i] = row[b.border.index(i-r, w)]
				pad[r+w+i] = row[b.border.index(w+i, w)]
			}
			copy(pad[r:r+w], row)
			blurRow(tmp[y*w:][:w], pad, g)
		}
	})
	// Vertical pass, tmp -> dst: output row y accumulates the rows y - k and
	// y + k (mapped into the image) of tmp weighted by g[r+k].
	rows(h, h*w, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			out := dst[y*w:][:w]
			mid := tmp[y*w:][:w]
			for x, v := range mid {
				out[x] = g[r] * v
			}
			for k := 1; k <= r; k++ {
				gk := g[r+k]
				up := tmp[b.border.index(y-k, h)*w:][:w]
				down := tmp[b.border.index(y+k, h)*w:][:w]
				for x := range out {
					out[x] += gk * (up[x] + down[x])
				}
			}
		}
	})
	return Map{Pix: dst, W: w, H: h}
}

// blurRow sets out[x] to the correlation of the symmetric kernel g (odd length 2r+1) with pad[x : x+2r+1]:
// g[r]*pad[x+r], plus g[r+k]*(pad[x+r-k] + pad[x+r+k]) for k = 1 to r in turn (g is symmetric: the taps r-k and
// r+k are paired), the same float32 operations in the same order for every x. Four outputs are computed at once,
// so that their sums proceed side by side instead of each waiting on its own previous addition.
func blurRow(out, pad, g []float32) {
	r := len(g) / 2
	w := len(out)
	x := 0
	for ; x+4 <= w; x += 4 {
		win := pad[x : x+2*r+4]
		c := g[r]
		s0, s1, s2, s3 := c*win[r], c*win[r+1], c*win[r+2], c*win[r+3]
		for k := 1; k <= r; k++ {
			gk := g[r+k]
			lo, hi := win[r-k:r-k+4], win[r+k:r+k+4]
			s0 += gk * (lo[0] + hi[0])
			s1 += gk * (lo[1] + hi[1])
			s2 += gk * (lo[2] + hi[2])
			s3 += gk * (lo[3] + hi[3])
		}
		out[x], out[x+1], out[x+2], out[x+3] = s0, s1, s2, s3
	}
	for ; x < w; x++ {
		win := pad[x:][:2*r+1]
		s := g[r] * win[r]
		for k := 1; k <= r; k++ {
			s += g[r+k] * (win[r-k] + win[r+k])
		}
		out[x] = s
	}
}

// GaussianBlur returns a new map: m blurred by a Gaussian of the given sigma
// (see Blur).
func GaussianBlur(m Map, sigma float64) Map {
	return NewBlur(sigma).Apply(nil, m)
}
