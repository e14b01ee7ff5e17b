package avx512

import (
	"fmt"

	"github.com/crd-ad/crd/internal/parallel"
)

// GN is the number of features per panel of GramPanels' layout.
const GN = 24

// PanelLen is the length of the panel buffer for d features and k inner
// indices (patches): d rounded up to a multiple of GN, times k.
func PanelLen(d, k int) int { return (d + GN - 1) / GN * GN * k }

// PanelIndex is where feature i of patch j goes in a panel buffer of k
// patches: panel i/GN holds k rows of GN features.
func PanelIndex(i, j, k int) int { return (i/GN)*k*GN + j*GN + i%GN }

// PackPanel writes features [q GN, q GN + GN) of the d x k row-major y as
// panel q of buf (k rows of GN float64 values, zero past feature d) and adds
// each of those features' sums to sum. Where the AVX-512 kernels run, a
// full panel is packed by one (blocks of 8 x 8 transposed in registers);
// otherwise it goes through y in strips of 64 columns, so that the strided
// writes stay in L1.
func PackPanel(buf []float64, y []float32, d, k, q int, sum []float64) {
	i0 := q * GN
	n := min(GN, d-i0)
	if len(buf) < PanelLen(d, k) || len(y) != d*k || len(sum) != d || n <= 0 {
		panic(fmt.Sprintf("avx512: PackPanel: panel %d of %d x %d features into %d values, %d sums", q, d, k, len(buf), len(sum)))
	}
	if n == GN && k > 0 && Supported() {
		packKernel(buf, y, d, k, q, sum)
		return
	}
	dst := buf[q*k*GN : (q+1)*k*GN]
	if n < GN {
		clear(dst)
	}
	for jb := 0; jb < k; jb += 64 {
		je := min(k, jb+64)
		t := 0
		// Four features at a time: their four values of a patch are
		// adjacent in the panel.
		for ; t+4 <= n; t += 4 {
			r0 := y[(i0+t)*k+jb : (i0+t)*k+je]
			r1 := y[(i0+t+1)*k+jb : (i0+t+1)*k+je]
			r2 := y[(i0+t+2)*k+jb : (i0+t+2)*k+je]
			r3 := y[(i0+t+3)*k+jb : (i0+t+3)*k+je]
			r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
			var s0, s1, s2, s3 float64
			for j, v := range r0 {
				o := dst[(jb+j)*GN+t : (jb+j)*GN+t+4 : (jb+j)*GN+t+4]
				a, b, c, e := float64(v), float64(r1[j]), float64(r2[j]), float64(r3[j])
				o[0], o[1], o[2], o[3] = a, b, c, e
				s0 += a
				s1 += b
				s2 += c
				s3 += e
			}
			sum[i0+t] += s0
			sum[i0+t+1] += s1
			sum[i0+t+2] += s2
			sum[i0+t+3] += s3
		}
		for ; t < n; t++ {
			row := y[(i0+t)*k+jb : (i0+t)*k+je]
			out := dst[jb*GN+t:]
			var s float64
			for j, v := range row {
				f := float64(v)
				out[j*GN] = f
				s += f
			}
			sum[i0+t] += s
		}
	}
}

// GramUpper adds Y Y^T to the d x d row-major float64 matrix g, on and
// above the diagonal (some entries just below it are overwritten with their
// true values too; read only the upper triangle). Y is d x k, given in
// buf in the panel layout of PanelIndex, with every padding entry zero.
// It computes in float64 with AVX-512 on all cores and panics unless
// Supported.
func GramUpper(buf []float64, d, k int, g []float64) {
	if !Supported() {
		panic(errUnsupported)
	}
	if len(buf) < PanelLen(d, k) || len(g) != d*d {
		panic(fmt.Sprintf("avx512: GramUpper: %d panel values, %d Gram values for d = %d, k = %d", len(buf), len(g), d, k))
	}
	if d == 0 || k == 0 {
		return
	}
	// Blocks of rows are dealt out on demand (their costs differ: the
	// first spans the whole width of the triangle).
	parts := (d + 95) / 96
	if d*d*k < 1<<20 {
		parts = 1
	}
	next := new(int32)
	parallel.For(parts, parts, func(lo, hi int) {
		gramKernel(buf, d, k, g, next)
	})
}
