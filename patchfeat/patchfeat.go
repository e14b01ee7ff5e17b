// Package patchfeat turns a backbone's feature layers into the patch-feature
// tensor of the method (PatchCore's locally aware patch features): each layer
// is averaged over its 3x3 neighbourhood (stride 1, padding 1, padded zeros
// counted, as PyTorch's AvgPool2d with count_include_pad), the deeper layers
// are resized bilinearly (align_corners = false) to the first layer's grid,
// and the layers are concatenated along channels.
//
// For one image the result, read as a matrix, is d x P: d = the sum of the
// layers' channels, P = the grid's height times width.
//
// PooledInto stops after the pooling, for a scorer that resizes products of
// the layers instead of the layers themselves (crd.Model.ScoreLayers), and
// gives the pooled layers in NHWC layout. Embedder computes both, with the
// same values, from layers in NHWC layout (a backbone.NHWCForwarder's),
// pooling them before any conversion to NCHW.
package patchfeat

import (
	"fmt"

	"github.com/crd-ad/crd/nn"
)

// Features computes the patch features of a batch from its feature layers
// (each N x C_l x H_l x W_l, first layer on the finest grid) and returns an
// N x d x H_0 x W_0 tensor.
func Features(layers []*nn.Tensor) (*nn.Tensor, error) {
	return FeaturesInto(nil, layers)
}

// FeaturesInto is Features writing into dst, whose memory is reused when
// large enough (nil: a new tensor). It returns dst.
func FeaturesInto(dst *nn.Tensor, layers []*nn.Tensor) (*nn.Tensor, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("patchfeat: no feature layers")
	}
	n, h, w := layers[0].N, layers[0].H, layers[0].W
	d := 0
	for i, l := range layers {
		if l.N != n {
			return nil, fmt.Errorf("patchfeat: layer %d has batch %d, layer 0 has %d", i, l.N, n)
		}
		d += l.C
	}
	out := featuresTensor(dst, n, d, h, w)
	plane := h * w
	win := nn.Square(3, 1, 1)
	var pooled nn.Tensor // a deeper layer's pooled image, before its resize
	off := 0
	for _, l := range layers {
		size := l.C * l.H * l.W
		for b := 0; b < n; b++ {
			// Each image's layer goes straight into its channel slice of out.
			img := &nn.Tensor{N: 1, C: l.C, H: l.H, W: l.W, Data: l.Data[b*size : (b+1)*size]}
			dst := &nn.Tensor{Data: out.Data[(b*d+off)*plane : (b*d+off+l.C)*plane]}
			if l.H == h && l.W == w {
				nn.AvgPool2DInto(dst, img, win, true)
				continue
			}
			nn.ResizeBilinearInto(dst, nn.AvgPool2DInto(&pooled, img, win, true), h, w)
		}
		off += l.C
	}
	return out, nil
}

// featuresTensor is dst (a new tensor when nil) reshaped to n x d x h x w.
func featuresTensor(dst *nn.Tensor, n, d, h, w int) *nn.Tensor {
	if dst == nil {
		dst = &nn.Tensor{}
	}
	dst.Reshape(n, d, h, w)
	return dst
}

// PooledInto is the first step of FeaturesInto alone: it pools every layer
// (N x C_l x H_l x W_l) at its own size into dst[l] in NHWC layout (N x
// H_l x W_l x C_l, the layout crd.Model.ScoreLayers reads), whose maps are
// reused when large enough (missing or nil ones are allocated), and
// returns dst. Resizing each pooled layer to layer 0's grid and
// concatenating them gives FeaturesInto's features bit for bit.
func PooledInto(dst []*nn.NHWC, layers []*nn.Tensor) ([]*nn.NHWC, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("patchfeat: no feature layers")
	}
	for i, l := range layers {
		if l.N != layers[0].N {
			return nil, fmt.Errorf("patchfeat: layer %d has batch %d, layer 0 has %d", i, l.N, layers[0].N)
		}
	}
	dst = pooledMaps(dst, len(layers))
	win := nn.Square(3, 1, 1)
	var pooled nn.Tensor
	for i, l := range layers {
		nn.FromNCHW(dst[i], nn.AvgPool2DInto(&pooled, l, win, true))
	}
	return dst, nil
}

// pooledMaps returns dst cut or extended to n maps, nil ones allocated.
func pooledMaps(dst []*nn.NHWC, n int) []*nn.NHWC {
	dst = dst[:min(len(dst), n)]
	for len(dst) < n {
		dst = append(dst, nil)
	}
	for i := range dst {
		if dst[i] == nil {
			dst[i] = &nn.NHWC{}
		}
	}
	return dst
}
