package patchfeat

import (
	"fmt"

	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/nn"
)

// Embedder is the patch embedding of feature layers in NHWC layout (what
// a backbone.NHWCForwarder returns): each layer is pooled while still
// NHWC, by nn's NHWC pooling (the AVX-512 kernel where the Set says so,
// on all cores); FeaturesInto then converts the pooled map to NCHW (by the
// AVX-512 transpose where the Set's kernels.Pool says so), PooledInto
// keeps it NHWC. The sums
// are those of the NCHW path in the same order, so FeaturesInto and
// PooledInto give the package functions' values on the layers' NCHW
// forms bit for bit.
//
// An Embedder keeps scratch memory between calls. Its zero value is ready
// and runs the kernels of kernels.Detected. It is not safe for concurrent
// use.
type Embedder struct {
	kern   kernels.Set
	pooled nn.NHWC   // the current layer pooled, NHWC
	plane  nn.Tensor // a deeper layer pooled, NCHW, before its resize
}

// NewEmbedder returns an Embedder whose poolings run on the kernels of
// kern (kernels.Pool).
func NewEmbedder(kern kernels.Set) *Embedder { return &Embedder{kern: kern} }

// checkNHWC checks that there are layers and that they share a batch
// size.
func checkNHWC(layers []*nn.NHWC) error {
	if len(layers) == 0 {
		return fmt.Errorf("patchfeat: no feature layers")
	}
	for i, l := range layers {
		if l == nil {
			return fmt.Errorf("patchfeat: layer %d is missing", i)
		}
		if l.N != layers[0].N {
			return fmt.Errorf("patchfeat: layer %d has batch %d, layer 0 has %d", i, l.N, layers[0].N)
		}
		if len(l.Data) < l.Len() {
			return fmt.Errorf("patchfeat: layer %d (%v) holds only %d values", i, l, len(l.Data))
		}
	}
	return nil
}

// pool pools l into e.pooled.
func (e *Embedder) pool(l *nn.NHWC) *nn.NHWC {
	nn.AvgPoolKernels(&e.pooled, l, nn.Square(3, 1, 1), true, e.kern)
	return &e.pooled
}

// toNCHW stores the pooled map p into dst in NCHW layout, on the kernels
// of e's Set.
func (e *Embedder) toNCHW(p *nn.NHWC, dst *nn.Tensor) {
	dst.Reshape(p.N, p.C, p.H, p.W)
	p.ToNCHWAtKernels(dst, 0, e.kern)
}

// FeaturesInto is the package's FeaturesInto on NHWC layers (each
// N x H_l x W_l x C_l, first layer on the finest grid): it writes the
// N x d x H_0 x W_0 features into dst, whose memory is reused when large
// enough (nil: a new tensor), and returns dst.
func (e *Embedder) FeaturesInto(dst *nn.Tensor, layers []*nn.NHWC) (*nn.Tensor, error) {
	if err := checkNHWC(layers); err != nil {
		return nil, err
	}
	n, h, w := layers[0].N, layers[0].H, layers[0].W
	d := 0
	for _, l := range layers {
		d += l.C
	}
	out := featuresTensor(dst, n, d, h, w)
	plane := h * w
	off := 0
	for _, l := range layers {
		p := e.pool(l)
		if l.H == h && l.W == w {
			p.ToNCHWAtKernels(out, off, e.kern)
			off += l.C
			continue
		}
		e.toNCHW(p, &e.plane)
		size := l.C * l.H * l.W
		for b := 0; b < n; b++ {
			img := &nn.Tensor{N: 1, C: l.C, H: l.H, W: l.W, Data: e.plane.Data[b*size : (b+1)*size]}
			dst := &nn.Tensor{Data: out.Data[(b*d+off)*plane : (b*d+off+l.C)*plane]}
			nn.ResizeBilinearInto(dst, img, h, w)
		}
		off += l.C
	}
	return out, nil
}

// PooledInto is the package's PooledInto on NHWC layers: it pools every
// layer at its own size into dst[l], an N x H_l x W_l x C_l map (maps
// reused when large enough; missing or nil ones are allocated), and
// returns dst.
func (e *Embedder) PooledInto(dst []*nn.NHWC, layers []*nn.NHWC) ([]*nn.NHWC, error) {
	if err := checkNHWC(layers); err != nil {
		return nil, err
	}
	dst = pooledMaps(dst, len(layers))
	for i, l := range layers {
		nn.AvgPoolKernels(dst[i], l, nn.Square(3, 1, 1), true, e.kern)
	}
	return dst, nil
}
