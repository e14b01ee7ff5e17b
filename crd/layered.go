package crd

import (
	"fmt"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/nn"
)

// triBlock is the number of columns of T^T per product in ScoreLayers on
// the triangular factor: each block of columns multiplies only the
// features from its first column on, so the zero half of U is mostly
// skipped (a fraction 1/2 + triBlock/(2 C) of a layer's C x C diagonal
// block is multiplied). A multiple of the kernel's 32-column panel.
const triBlock = 96

// ScoreLayers writes to out[:p] the patch scores that Score gives to the
// concatenated patch features of one image, computed from its pooled
// feature layers without forming them. layers[l] is layer l of the image
// in NHWC layout, 1 x H_l x W_l x C_l (the C_l sum to D); the patch grid
// is layer 0's, p = H_0 W_0, and the concatenated features are the layers
// in order, each resized to the grid by nn.ResizeBilinear (the identity on
// layers of the grid's size), as package patchfeat builds them.
//
// The work is patch-major: the NHWC layers are the transposed feature
// matrices X_l^T (a row per patch) as they are, and the products are
// X_l^T T_l^T, a row per patch, with T the scoring matrix (the triangular
// factor U where crd's AVX-512 kernels run, packed once per model, else
// M) and T_l its columns of layer l. The resize is linear and acts on each
// feature alone, so it commutes with the matrix: T y = sum_l R_l(T_l x_l),
// with R_l layer l's resize. Each product is made at the layer's own
// resolution (H_l W_l rows instead of p), then resized and added; the
// scores are the squared row norms, summed in float64. With U, the columns
// that only the last layer reaches (inception_v3's 768 of 1056) are not
// even resized: their squared norms come from inner products of
// neighbouring rows at the layer's size (quadSquares). For Objective
// scores without the factor (-y^T M y needs y itself), ScoreLayers
// concatenates the layers and calls Score. The results equal Score's up to
// float32 rounding, not bit for bit.
//
// ScoreLayers panics if the layers' shapes do not fit the model or
// len(out) < p.
func (m *Model) ScoreLayers(layers []*nn.NHWC, out []float32) {
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
		concatLayers(s.y, layers, h, w, &s.resizedMap)
		m.scoreGEMM(s.y, p, out)
		return
	}
	s.acc = grow(s.acc, p)
	acc := s.acc
	clear(acc)
	m.layeredSquares(acc, u != nil, layers, h, w, s)
	for j, v := range acc {
		out[j] = float32(v)
	}
}

// checkLayers returns the grid of layers (layer 0's size) and panics unless
// every layer is one image with the values its shape says and the channels
// sum to d.
func checkLayers(d int, layers []*nn.NHWC) (h, w int) {
	if len(layers) == 0 {
		panic("crd: ScoreLayers: no layers")
	}
	c := 0
	for l, x := range layers {
		if x.N != 1 || x.C <= 0 || x.H <= 0 || x.W <= 0 || len(x.Data) != x.Len() {
			panic(fmt.Sprintf("crd: ScoreLayers: layer %d is %d x %d x %d x %d with %d values", l, x.N, x.H, x.W, x.C, len(x.Data)))
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

// concatLayers writes the concatenated features of the NHWC layers (each
// resized to h x w, in tmp where it is not that size) to the d x hw
// matrix y, as package patchfeat does.
func concatLayers(y []float32, layers []*nn.NHWC, h, w int, tmp *nn.NHWC) {
	d := 0
	for _, x := range layers {
		d += x.C
	}
	dst := &nn.Tensor{N: 1, C: d, H: h, W: w, Data: y}
	off := 0
	for _, x := range layers {
		src := x
		if x.H != h || x.W != w {
			nn.ResizeBilinearNHWC(tmp, x, h, w)
			src = tmp
		}
		src.ToNCHWAt(dst, off)
		off += x.C
	}
}

// layeredSquares adds to acc (hw) the squared row norms of Y^T T^T, Y^T
// the concatenated features of layers on the h x w grid (a row per
// patch), without forming Y^T: layers off the grid, grouped by size, are
// multiplied at their size, resized and added; the grid's layers are
// multiplied on it last. upper says that T is the triangular factor, so
// that the products skip its zero half; then the columns of the product
// that only the last layer's size reaches (from r on, right of every other
// layer's, when the last layer is off the grid) are never resized: their
// squared norms are quadratic forms in the products' inner products at
// that size (quadSquares).
func (m *Model) layeredSquares(acc []float64, upper bool, layers []*nn.NHWC, h, w int, s *scoreScratch) {
	d, p := m.D, h*w
	offs := make([]int, len(layers)+1)
	for l, x := range layers {
		offs[l+1] = offs[l] + x.C
	}
	last := layers[len(layers)-1]
	sameSize := func(a, b *nn.NHWC) bool { return a.H == b.H && a.W == b.W }
	r := d // columns of the product resized and added on the grid
	if upper && !sameSize(last, layers[0]) {
		r = 0
		for l, x := range layers {
			if !sameSize(x, last) {
				r = max(r, offs[l+1])
			}
		}
	}
	s.z = grow(s.z, p*r)
	q := s.z
	done := make([]bool, len(layers))
	first := true // q holds nothing yet
	for l, x := range layers {
		if done[l] || sameSize(x, layers[0]) {
			continue
		}
		// Every layer of x's size, multiplied at that size.
		pc := x.H * x.W
		s.coarse = grow(s.coarse, pc*d)
		z := s.coarse
		clear(z)
		for k := l; k < len(layers); k++ {
			if y := layers[k]; !done[k] && sameSize(y, x) {
				m.mulLayer(z, d, pc, upper, offs[k], offs[k+1], y.Data)
				done[k] = true
			}
		}
		if sameSize(x, last) && r < d {
			m.quadSquares(acc, z[r:], d, d-r, x.H, x.W, h, w, s)
		}
		nn.ResizeRowsKernels(z, d, x.H, x.W, r, h, w, q, r, !first, m.kern)
		first = false
	}
	if first {
		clear(q)
	}
	for k, x := range layers {
		if !done[k] {
			m.mulLayer(q, r, p, upper, offs[k], offs[k+1], x.Data)
		}
	}
	if m.kern.UsesAVX512(kernels.Score) {
		avx512.RowNorms(q, r, r, p, acc)
		return
	}
	for j := range p {
		sum := 0.0
		for _, v := range q[j*r : (j+1)*r] {
			sum += float64(v) * float64(v)
		}
		acc[j] += sum
	}
}

// mulLayer adds X T[:, c0:c1]^T to the pc rows of z (row stride ldz), for
// the layer whose features X (pc x (c1-c0), a row per patch) are columns
// c0 to c1 of Y^T. With upper (T the triangular factor) only columns 0 to
// c1 of z are touched, in the blocks of layerBlocks; otherwise all d, in
// one product by M's rows c0 to c1 (M is symmetric).
func (m *Model) mulLayer(z []float32, ldz, pc int, upper bool, c0, c1 int, x []float32) {
	d, k := m.D, c1-c0
	if !upper {
		m.kern.Sgemm(kernels.Score, pc, d, k, 1, x, k, m.M[c0*d:], d, 1, z, ldz)
		return
	}
	for _, b := range m.layerBlocks(c0, c1) {
		b.pb.Mul(pc, 1, x[b.k0-c0:], k, true, z[b.i0:], ldz)
	}
}

// factorBlock is columns [i0, i0 + its width) of U^T's rows [k0, c1) of a
// layer [c0, c1), packed for the AVX-512 product: the part of the layer's
// product X U[:, c0:c1]^T in those columns, from the features k0 - c0 on
// (U[i][k] is zero for k < i).
type factorBlock struct {
	i0, k0 int
	pb     *avx512.PackedB
}

// layerBlocks returns the blocks of the layer whose features are [c0, c1)
// (made on first use): the columns left of the layer in one block, over
// all its features, then its own columns in blocks of triBlock, each from
// its first column's feature on.
func (m *Model) layerBlocks(c0, c1 int) []factorBlock {
	m.factorMu.Lock()
	defer m.factorMu.Unlock()
	key := [2]int{c0, c1}
	if bs, ok := m.blocks[key]; ok {
		return bs
	}
	d, l := m.D, m.factorL
	pack := func(i0, i1, k0 int) factorBlock {
		pb := new(avx512.PackedB)
		pb.Pack(c1-k0, i1-i0, l[k0*d+i0:], d)
		return factorBlock{i0: i0, k0: k0, pb: pb}
	}
	var bs []factorBlock
	if c0 > 0 {
		bs = append(bs, pack(0, c0, c0))
	}
	for i0 := c0; i0 < c1; i0 += triBlock {
		bs = append(bs, pack(i0, min(i0+triBlock, c1), i0))
	}
	if m.blocks == nil {
		m.blocks = map[[2]int][]factorBlock{}
	}
	m.blocks[key] = bs
	return bs
}

// quadSquares adds to acc (h x w) the squared row norms of the first n
// values of the hc wc rows of v (stride ldv) resized to h x w
// (nn.ResizeBilinear), without resizing them: the resized row at output
// (i, j) is sum_a w_a v_a over its four taps a, neighbours on the hc x wc
// grid, so its squared norm is sum_ab w_a w_b <v_a, v_b>, and the inner
// products of neighbouring rows (with themselves, the next one right, and
// the three below) are all it needs: 5 n hc wc multiply-adds in float64
// (avx512.NeighbourDots) instead of resizing n values per output. It runs
// only on the triangular factor, which only the AVX-512 kernels make.
func (m *Model) quadSquares(acc []float64, v []float32, ldv, n, hc, wc, h, w int, s *scoreScratch) {
	pc := hc * wc
	s.gram = grow(s.gram, 5*pc)
	clear(s.gram)
	// Inner products of row t with t, t+1, t+wc-1, t+wc, t+wc+1.
	g0, gr, gdl, gd, gdr := s.gram[:pc], s.gram[pc:2*pc], s.gram[2*pc:3*pc], s.gram[3*pc:4*pc], s.gram[4*pc:]
	avx512.NeighbourDots(v, ldv, n, pc, wc, s.gram)
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
