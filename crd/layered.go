package crd

import (
	"fmt"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/nn"
)

// triBlock is the number of rows of the triangular factor per product in
// ScoreLayers: each block of rows multiplies only the features from its
// first row on, so the zero half of U is mostly skipped (a fraction
// 1/2 + triBlock/(2 C) of a layer's C x C diagonal block is multiplied).
// A multiple of the kernel's 12-row tile.
const triBlock = 96

// ScoreLayers writes to out[:p] the patch scores that Score gives to the
// concatenated patch features of one image, computed from its pooled
// feature layers without forming them. layers[l] is layer l of the image,
// 1 x C_l x H_l x W_l (the C_l sum to D); the patch grid is layer 0's,
// p = H_0 W_0, and the concatenated features are the layers in order, each
// resized to the grid by nn.ResizeBilinear (the identity on layers of the
// grid's size), as package patchfeat builds them.
//
// The resize is linear and acts on each channel alone, so it commutes with
// the matrix: with T the scoring matrix (the triangular factor U where
// crd's AVX-512 kernel runs, else M), T y = sum_l R_l(T_l x_l), where T_l
// are T's columns of layer l, x_l its features and R_l its resize. Each
// product T_l x_l is made at the layer's own resolution (H_l W_l columns
// instead of p), then resized and added; the scores are the squared column
// norms, summed in float64. With U, the rows that only the last layer
// reaches (inception_v3's 768 of 1056) are not even resized: their squared
// norms come from inner products of neighbouring columns at the layer's
// size (quadSquares). For Objective scores without the factor
// (-y^T M y needs y itself), ScoreLayers concatenates the layers and calls
// Score. The results equal Score's up to float32 rounding, not bit for bit.
//
// ScoreLayers panics if the layers' shapes do not fit the model or
// len(out) < p.
func (m *Model) ScoreLayers(layers []*nn.Tensor, out []float32) {
	h, w := checkLayers(m.D, layers)
	p := h * w
	if len(out) < p {
		panic(fmt.Sprintf("crd: ScoreLayers: %d outputs for %d patches", len(out), p))
	}
	_, u := m.scoringFactor()
	s := m.getScratch()
	defer m.putScratch(s)
	if u == nil && m.Options.Score == Objective {
		s.y = grow(s.y, m.D*p)
		concatLayers(s.y, layers, h, w)
		m.scoreGEMM(s.y, p, out)
		return
	}
	t := u
	if u == nil {
		t = m.M
	}
	s.acc = grow(s.acc, p)
	acc := s.acc
	clear(acc)
	m.layeredSquares(acc, t, u != nil, layers, h, w, s)
	for j, v := range acc {
		out[j] = float32(v)
	}
}

// checkLayers returns the grid of layers (layer 0's size) and panics unless
// every layer is one image with the values its shape says and the channels
// sum to d.
func checkLayers(d int, layers []*nn.Tensor) (h, w int) {
	if len(layers) == 0 {
		panic("crd: ScoreLayers: no layers")
	}
	c := 0
	for l, x := range layers {
		if x.N != 1 || x.C <= 0 || x.H <= 0 || x.W <= 0 || len(x.Data) != x.C*x.H*x.W {
			panic(fmt.Sprintf("crd: ScoreLayers: layer %d is %d x %d x %d x %d with %d values", l, x.N, x.C, x.H, x.W, len(x.Data)))
		}
		c += x.C
	}
	if c != d {
		panic(fmt.Sprintf("crd: ScoreLayers: %d channels for a model of dimension %d", c, d))
	}
	return layers[0].H, layers[0].W
}

// grow returns s resized to n, reallocated when its capacity is short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// concatLayers writes the concatenated features of layers (each resized to
// h x w) to the d x hw matrix y, as package patchfeat does.
func concatLayers(y []float32, layers []*nn.Tensor, h, w int) {
	off := 0
	for _, x := range layers {
		dst := y[off*h*w : (off+x.C)*h*w]
		if x.H == h && x.W == w {
			copy(dst, x.Data)
		} else {
			nn.ResizeBilinearInto(&nn.Tensor{Data: dst}, x, h, w)
		}
		off += x.C
	}
}

// layeredSquares adds to acc (hw) the squared column norms of T y, y being
// the concatenated features of layers on the h x w grid, without forming
// y: layers off the grid, grouped by size, are multiplied at their size,
// resized and added; the grid's layers are multiplied on it last. upper
// says that T is upper triangular, so that the products skip its zero
// half; then the rows of T y that only the last layer's size reaches
// (from r on, below the rows of every other layer, when the last layer is
// off the grid) are never resized: their squared norms are quadratic forms
// in the products' inner products at that size (quadSquares).
func (m *Model) layeredSquares(acc []float64, t []float32, upper bool, layers []*nn.Tensor, h, w int, s *scoreScratch) {
	d, p := m.D, h*w
	offs := make([]int, len(layers)+1)
	for l, x := range layers {
		offs[l+1] = offs[l] + x.C
	}
	last := layers[len(layers)-1]
	sameSize := func(a, b *nn.Tensor) bool { return a.H == b.H && a.W == b.W }
	r := d // rows of T y resized and added on the grid
	if upper && !sameSize(last, layers[0]) {
		r = 0
		for l, x := range layers {
			if !sameSize(x, last) {
				r = max(r, offs[l+1])
			}
		}
	}
	s.z = grow(s.z, r*p)
	q := s.z
	done := make([]bool, len(layers))
	first := true // q holds nothing yet
	for l, x := range layers {
		if done[l] || sameSize(x, layers[0]) {
			continue
		}
		// Every layer of x's size, multiplied at that size.
		pc := x.H * x.W
		s.coarse = grow(s.coarse, d*pc)
		z := s.coarse
		clear(z)
		for k := l; k < len(layers); k++ {
			if y := layers[k]; !done[k] && sameSize(y, x) {
				m.mulLayer(z, pc, t, upper, offs[k], offs[k+1], y.Data)
				done[k] = true
			}
		}
		if sameSize(x, last) && r < d {
			m.quadSquares(acc, z[r*pc:], d-r, x.H, x.W, h, w, s)
		}
		zt := &nn.Tensor{N: 1, C: r, H: x.H, W: x.W, Data: z[:r*pc]}
		if first {
			nn.ResizeBilinearIntoKernels(&nn.Tensor{Data: q}, zt, h, w, m.kern)
			first = false
			continue
		}
		s.resized = grow(s.resized, r*p)
		nn.ResizeBilinearIntoKernels(&nn.Tensor{Data: s.resized}, zt, h, w, m.kern)
		for i, v := range s.resized {
			q[i] += v
		}
	}
	if upper && !first && r == layers[0].C {
		// Layer 0 is all that is left, and its product reaches rows 0 to
		// r alone: ||U_00 x_0 + q||^2 in one pass of the AVX-512 kernel,
		// U_00 x_0 never stored (r == C_0 leaves no layer but layer 0 off
		// the last size, whose products are in q).
		s.out = grow(s.out, p)
		m.topFactor(r).NormsAdd(layers[0].Data, q, p, s.out)
		for j, v := range s.out {
			acc[j] += float64(v)
		}
		return
	}
	if first {
		clear(q)
	}
	for k, x := range layers {
		if !done[k] {
			m.mulLayer(q, p, t, upper, offs[k], offs[k+1], x.Data)
		}
	}
	reduceSquares(acc, q, r, p)
}

// topFactor returns the leading c x c block of the triangular factor,
// packed for the AVX-512 kernel: U_00, the factor of layer 0's rows and
// columns. It is made on first use (and again for another c).
func (m *Model) topFactor(c int) *avx512.Packed {
	m.factorMu.Lock()
	defer m.factorMu.Unlock()
	if m.top == nil || m.topD != c {
		u := make([]float32, c*c)
		for i := 0; i < c; i++ {
			copy(u[i*c:(i+1)*c], m.factorU[i*m.D:i*m.D+c])
		}
		m.top, m.topD = avx512.Pack(u, c, true), c
	}
	return m.top
}

// quadSquares adds to acc (h x w) the squared column norms of the n x hc wc
// matrix v resized to h x w (nn.ResizeBilinear), without resizing it: the
// resized column at output (i, j) is sum_a w_a v_a over its four taps a,
// neighbours on the hc x wc grid, so its squared norm is
// sum_ab w_a w_b <v_a, v_b>, and the inner products of neighbouring columns
// (with themselves, the next one right, and the three below) are all it
// needs: 5 n hc wc multiply-adds in float64 instead of resizing n planes.
func (m *Model) quadSquares(acc []float64, v []float32, n, hc, wc, h, w int, s *scoreScratch) {
	pc := hc * wc
	s.gram = grow(s.gram, 5*pc)
	clear(s.gram)
	// Inner products of column t with t, t+1, t+wc-1, t+wc, t+wc+1.
	g0, gr, gdl, gd, gdr := s.gram[:pc], s.gram[pc:2*pc], s.gram[2*pc:3*pc], s.gram[3*pc:4*pc], s.gram[4*pc:]
	if m.kern.UsesAVX512(kernels.Score) {
		avx512.NeighbourProducts(v, n, pc, wc, s.gram)
	} else {
		for i := 0; i < n; i += 2 {
			rb := s.zeros(pc) // the row after an odd last one
			if i+1 < n {
				rb = v[(i+1)*pc : (i+2)*pc]
			}
			neighbourProducts(s.gram, v[i*pc:(i+1)*pc], rb, wc)
		}
	}
	// inner is <v_a, v_b> for taps a = (ya, xa), b = (yb, xb), neighbours.
	inner := func(ya, xa, yb, xb int) float64 {
		if yb < ya || yb == ya && xb < xa {
			ya, xa, yb, xb = yb, xb, ya, xa
		}
		k := ya*wc + xa
		switch {
		case yb == ya && xb == xa:
			return g0[k]
		case yb == ya:
			return gr[k]
		case xb < xa:
			return gdl[k]
		case xb == xa:
			return gd[k]
		default:
			return gdr[k]
		}
	}
	y0, y1, wy0, wy1 := nn.BilinearTaps(hc, h)
	x0, x1, wx0, wx1 := nn.BilinearTaps(wc, w)
	for i := 0; i < h; i++ {
		ys := [2]int{y0[i], y1[i]}
		wy := [2]float64{float64(wy0[i]), float64(wy1[i])}
		for j := 0; j < w; j++ {
			xs := [2]int{x0[j], x1[j]}
			wx := [2]float64{float64(wx0[j]), float64(wx1[j])}
			sum := 0.0
			for a := 0; a < 4; a++ {
				wa := wy[a>>1] * wx[a&1]
				for b := 0; b < 4; b++ {
					sum += wa * wy[b>>1] * wx[b&1] * inner(ys[a>>1], xs[a&1], ys[b>>1], xs[b&1])
				}
			}
			acc[i*w+j] += sum
		}
	}
}

// mulLayer adds T[:, c0:c1] x to the d x p matrix z, for the layer whose
// features x (c1-c0 x p) are rows c0 to c1 of y. With upper (T upper
// triangular) the rows from c1 on are left alone, and rows c0 to c1 are
// multiplied in blocks of triBlock rows, each by the features from its
// first row on (the first block with the rows above c0).
func (m *Model) mulLayer(z []float32, p int, t []float32, upper bool, c0, c1 int, x []float32) {
	d, k := m.D, c1-c0
	if !upper {
		m.kern.Sgemm(kernels.Score, d, p, k, 1, t[c0:], d, x, p, 1, z, p)
		return
	}
	// The rows above the layer's and its first block: one product.
	r := min(c0+triBlock, c1)
	m.kern.Sgemm(kernels.Score, r, p, k, 1, t[c0:], d, x, p, 1, z, p)
	for r0 := r; r0 < c1; r0 += triBlock {
		r1 := min(r0+triBlock, c1)
		m.kern.Sgemm(kernels.Score, r1-r0, p, c1-r0, 1, t[r0*d+r0:], d, x[(r0-c0)*p:], p, 1, z[r0*p:], p)
	}
}

// neighbourProducts adds to g (5 pc: the g0, gr, gdl, gd, gdr of
// quadSquares) the products of each value of the rows a and b (pc values
// of an hc x wc grid) with itself and its neighbours at +1, +wc-1, +wc
// and +wc+1, in float64: two rows a pass, so that g is loaded and stored
// half as often.
func neighbourProducts(g []float64, a, b []float32, wc int) {
	pc := len(a)
	g0, gr, gdl, gd, gdr := g[:pc], g[pc:2*pc], g[2*pc:3*pc], g[3*pc:4*pc], g[4*pc:5*pc]
	b = b[:pc]
	k := 0
	// Where every neighbour exists.
	for ; k < pc-wc-1; k++ {
		a0, a1, a2, a3, a4 := float64(a[k]), float64(a[k+1]), float64(a[k+wc-1]), float64(a[k+wc]), float64(a[k+wc+1])
		b0, b1, b2, b3, b4 := float64(b[k]), float64(b[k+1]), float64(b[k+wc-1]), float64(b[k+wc]), float64(b[k+wc+1])
		g0[k] += a0*a0 + b0*b0
		gr[k] += a0*a1 + b0*b1
		gdl[k] += a0*a2 + b0*b2
		gd[k] += a0*a3 + b0*b3
		gdr[k] += a0*a4 + b0*b4
	}
	for k = max(k, 0); k < pc; k++ {
		a0, b0 := float64(a[k]), float64(b[k])
		g0[k] += a0*a0 + b0*b0
		for _, o := range [...]struct {
			g   []float64
			off int
		}{{gr, 1}, {gdl, wc - 1}, {gd, wc}, {gdr, wc + 1}} {
			if j := k + o.off; j < pc {
				o.g[k] += a0*float64(a[j]) + b0*float64(b[j])
			}
		}
	}
}

// zeros returns n zero float32s of s's.
func (s *scoreScratch) zeros(n int) []float32 {
	if len(s.zero) < n {
		s.zero = make([]float32, n)
	}
	return s.zero[:n]
}
