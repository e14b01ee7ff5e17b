// Package crd implements the Collaborative Representation Distance anomaly
// score (Han and Yan, "CRD: Collaborative Representation Distance for
// Practical Anomaly Detection", arXiv 2401.09443) in its d x d form.
//
// Training stacks the N normal patch features f_i in R^d as the columns of F.
// The paper scores a query feature y by the ridge reconstruction residual
//
//	||M y||^2,   M = F (F^T F + lambda I_N)^-1 F^T - I_d,
//
// which inverts an N x N matrix. The push-through identity turns this into
//
//	G = F F^T = sum_i f_i f_i^T,   M = -lambda (G + lambda I_d)^-1,
//
// so training is a streaming, mergeable sum of outer products (Accumulator,
// O(d^2) memory whatever N is), solving is one d x d Cholesky inverse
// (Accumulator.Solve), and scoring the P patches of an image is one product
// of a d x d matrix with the d x P features followed by column norms
// (Model.Score). Model.Score uses the triangular factor U of M^T M
// (||M y|| = ||U y||), which halves that product's flops.
package crd

import (
	"fmt"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/blas"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/internal/parallel"
)

// Accumulator holds the training statistics of the d-dimensional patch
// features seen so far: the uncentred Gram matrix G = sum_i f_i f_i^T in
// float64, the feature sum sum_i f_i, and the patch and image counts. Adding
// an image costs d^2 P flops (a symmetric rank-P update); memory is O(d^2)
// whatever the number of images. The G of a union of image sets is the sum of their Gs, so
// accumulators built separately can be merged exactly (up to float64
// rounding, as is the order in which images are added).
//
// An Accumulator is not safe for concurrent use.
type Accumulator struct {
	d       int
	g       []float64 // d x d; only the upper triangle is kept current
	sum     []float64 // d
	patches int64
	images  int64
	buf     []float64 // float64 copy of the features being added
	// kern chooses the Gram update (the zero Set: kernels.Detected): the
	// AVX-512 kernel, or dsyrk.
	kern kernels.Set
}

// NewAccumulator returns an empty accumulator for d-dimensional features.
func NewAccumulator(d int) *Accumulator {
	if d <= 0 {
		panic(fmt.Sprintf("crd: feature dimension %d is not positive", d))
	}
	return &Accumulator{d: d, g: make([]float64, d*d), sum: make([]float64, d)}
}

// D is the feature dimension.
func (a *Accumulator) D() int { return a.d }

// NumPatches is the number of patch features added.
func (a *Accumulator) NumPatches() int64 { return a.patches }

// NumImages is the number of images added.
func (a *Accumulator) NumImages() int64 { return a.images }

// Add accumulates one image's patch features. y is the d x p row-major
// feature matrix, column j being the feature of patch j; this is exactly a
// C x H x W feature map with C = d channels and p = H*W positions. G gains
// Y Y^T, computed in float64 (by the AVX-512 kernel where it runs, else
// blas.Dsyrk). Add panics if len(y) != d*p.
func (a *Accumulator) Add(y []float32, p int) {
	a.AddBatch(y, 1, p)
}

// AddBatch accumulates n images at once: y holds n consecutive d x p feature
// matrices (an N x C x H x W tensor with N = n, C = d, p = H*W). It gives the
// same result as n calls to Add, up to float64 rounding: on the dsyrk path
// as one wider dsyrk, on the AVX-512 path image by image. It panics if
// len(y) != n*d*p.
func (a *Accumulator) AddBatch(y []float32, n, p int) {
	d := a.d
	if n < 0 || p < 0 || len(y) != n*d*p {
		panic(fmt.Sprintf("crd: Add: %d values for %d images of %d x %d features", len(y), n, d, p))
	}
	if n == 0 || p == 0 {
		a.images += int64(n)
		return
	}
	avxGram := a.kern.UsesAVX512(kernels.Gram)
	if avxGram && n > 1 {
		// The AVX-512 kernel gains nothing from a wider call, and a batch's
		// panel buffer would outgrow the caches: one image at a time.
		for i := 0; i < n; i++ {
			a.AddBatch(y[i*d*p:(i+1)*d*p], 1, p)
		}
		return
	}
	k := n * p // columns of the wide feature matrix
	size := d * k
	if avxGram {
		size = avx512.PanelLen(d, k)
	}
	if cap(a.buf) < size {
		a.buf = make([]float64, size)
	}
	buf := a.buf[:size]
	// buf is the d x (n p) matrix [Y_1 Y_2 ... Y_n] in float64, row-major
	// for dsyrk or in the AVX-512 kernel's panel layout. It is converted on
	// all cores: each worker owns a range of rows, or of panels (and of the
	// feature sum), so the result does not depend on the split.
	units := d
	convert := func(lo, hi int) {
		for img := 0; img < n; img++ {
			src := y[img*d*p : (img+1)*d*p]
			for i := lo; i < hi; i++ {
				a.sum[i] += convertSum(buf[i*k+img*p:i*k+img*p+p], src[i*p:(i+1)*p])
			}
		}
	}
	if avxGram { // n == 1
		units = (d + avx512.GN - 1) / avx512.GN
		convert = func(lo, hi int) {
			for q := lo; q < hi; q++ {
				avx512.PackPanel(buf, y, d, k, q, a.sum)
			}
		}
	}
	parallel.For(units, max(1, d*k/(1<<16)), convert)
	if avxGram {
		avx512.GramUpper(buf, d, k, a.g)
	} else {
		blas.Dsyrk(d, k, 1, buf, k, 1, a.g, d)
	}
	a.patches += int64(k)
	a.images += int64(n)
}

// Merge adds other's statistics to a, as if a had also seen other's images.
// It returns an error if the feature dimensions differ.
func (a *Accumulator) Merge(other *Accumulator) error {
	if other.d != a.d {
		return fmt.Errorf("crd: cannot merge accumulators of feature dimension %d and %d", a.d, other.d)
	}
	d := a.d
	for i := 0; i < d; i++ {
		gi, oi := a.g[i*d+i:(i+1)*d], other.g[i*d+i:(i+1)*d]
		for j := range gi {
			gi[j] += oi[j]
		}
	}
	for i := range a.sum {
		a.sum[i] += other.sum[i]
	}
	a.patches += other.patches
	a.images += other.images
	return nil
}

// Clone returns a deep copy of a.
func (a *Accumulator) Clone() *Accumulator {
	return &Accumulator{
		d:       a.d,
		g:       append([]float64(nil), a.g...),
		sum:     append([]float64(nil), a.sum...),
		patches: a.patches,
		images:  a.images,
		kern:    a.kern,
	}
}

// Gram returns a new d x d row-major copy of G, full and symmetric.
func (a *Accumulator) Gram() []float64 {
	g := append([]float64(nil), a.g...)
	blas.Symmetrize(a.d, g, a.d)
	return g
}

// FeatureSum returns a copy of the sum of all patch features added.
func (a *Accumulator) FeatureSum() []float64 {
	return append([]float64(nil), a.sum...)
}

// Trace is trace(G), the sum of the squared norms of all patch features.
func (a *Accumulator) Trace() float64 {
	t := 0.0
	for i := 0; i < a.d; i++ {
		t += a.g[i*a.d+i]
	}
	return t
}

// convertSum copies src into dst as float64 and returns the sum of src. Four
// partial sums break the dependency chain of a single running sum, which
// would otherwise bound the loop by the latency of a floating-point add.
func convertSum(dst []float64, src []float32) float64 {
	dst = dst[:len(src)]
	var s0, s1, s2, s3 float64
	j := 0
	for ; j+4 <= len(src); j += 4 {
		a, b, c, e := float64(src[j]), float64(src[j+1]), float64(src[j+2]), float64(src[j+3])
		dst[j], dst[j+1], dst[j+2], dst[j+3] = a, b, c, e
		s0 += a
		s1 += b
		s2 += c
		s3 += e
	}
	for ; j < len(src); j++ {
		f := float64(src[j])
		dst[j] = f
		s0 += f
	}
	return (s0 + s1) + (s2 + s3)
}
