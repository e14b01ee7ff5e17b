package crd

import (
	"fmt"

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
// norms, summed in float64. For Objective scores without the factor
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
	s.z = grow(s.z, m.D*p)
	s.acc = grow(s.acc, p)
	q, acc := s.z, s.acc
	m.layeredProduct(q, t, u != nil, layers, h, w, s)
	clear(acc)
	reduceSquares(acc, q, m.D, p)
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

// layeredProduct sets q (d x hw) to T y, y being the concatenated features
// of layers on the h x w grid, without forming y: layers off the grid,
// grouped by size, are multiplied at their size, resized and added; the
// grid's layers are multiplied on it last. upper says that T is upper
// triangular, so that the products skip its zero half.
func (m *Model) layeredProduct(q, t []float32, upper bool, layers []*nn.Tensor, h, w int, s *scoreScratch) {
	d, p := m.D, h*w
	offs := make([]int, len(layers)+1)
	for l, x := range layers {
		offs[l+1] = offs[l] + x.C
	}
	done := make([]bool, len(layers))
	first := true // q holds nothing yet
	for l, x := range layers {
		if done[l] || x.H == h && x.W == w {
			continue
		}
		// Every layer of x's size, multiplied at that size.
		pc := x.H * x.W
		s.coarse = grow(s.coarse, d*pc)
		z := s.coarse
		clear(z)
		for k := l; k < len(layers); k++ {
			if y := layers[k]; !done[k] && y.H == x.H && y.W == x.W {
				m.mulLayer(z, pc, t, upper, offs[k], offs[k+1], y.Data)
				done[k] = true
			}
		}
		zt := &nn.Tensor{N: 1, C: d, H: x.H, W: x.W, Data: z}
		if first {
			nn.ResizeBilinearInto(&nn.Tensor{Data: q}, zt, h, w)
			first = false
			continue
		}
		s.resized = grow(s.resized, d*p)
		nn.ResizeBilinearInto(&nn.Tensor{Data: s.resized}, zt, h, w)
		for i, v := range s.resized {
			q[i] += v
		}
	}
	if first {
		clear(q)
	}
	for k, x := range layers {
		if !done[k] {
			m.mulLayer(q, p, t, upper, offs[k], offs[k+1], x.Data)
		}
	}
}

// mulLayer adds T[:, c0:c1] x to the d x p matrix z, for the layer whose
// features x (c1-c0 x p) are rows c0 to c1 of y. With upper (T upper
// triangular) the rows from c1 on are left alone, and rows c0 to c1 are
// multiplied in blocks of triBlock rows, each by the features from its
// first row on.
func (m *Model) mulLayer(z []float32, p int, t []float32, upper bool, c0, c1 int, x []float32) {
	d, k := m.D, c1-c0
	if !upper {
		m.kern.Sgemm(kernels.Score, d, p, k, 1, t[c0:], d, x, p, 1, z, p)
		return
	}
	if c0 > 0 {
		m.kern.Sgemm(kernels.Score, c0, p, k, 1, t[c0:], d, x, p, 1, z, p)
	}
	for r0 := c0; r0 < c1; r0 += triBlock {
		r1 := min(r0+triBlock, c1)
		m.kern.Sgemm(kernels.Score, r1-r0, p, c1-r0, 1, t[r0*d+r0:], d, x[(r0-c0)*p:], p, 1, z[r0*p:], p)
	}
}
