package patchfeat

import (
	"fmt"
	"math"
	"testing"

	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/nn"
)

// poolSets are the pooling implementations to test: the Go loops, the
// AVX-512 kernel where it runs, and the detected choice (the zero Set).
func poolSets() []kernels.Set {
	sets := []kernels.Set{{}, kernels.BLAS()}
	if kernels.AVX512Supported() {
		sets = append(sets, kernels.AVX512(kernels.Pool))
	}
	return sets
}

// nhwcLayers converts NCHW layers to NHWC maps.
func nhwcLayers(layers []*nn.Tensor) []*nn.NHWC {
	var m []*nn.NHWC
	for _, l := range layers {
		m = append(m, nn.FromNCHW(nil, l))
	}
	return m
}

// equalBits fails unless got and want hold the same values bit for bit.
func equalBits(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: value %d is %g, the NCHW path gives %g", name, i, got[i], want[i])
		}
	}
}

// TestEmbedderMatchesPlanes: the Embedder on NHWC layers gives the plane
// path's FeaturesInto and PooledInto bit for bit, on every pooling
// implementation, with channel counts around the AVX-512 kernel's 16- and
// 64-channel blocks (and 1: nn's plane path), deeper layers on coarser
// grids, and its outputs and scratch reused from a larger batch whose
// values (NaN) must all be overwritten.
func TestEmbedderMatchesPlanes(t *testing.T) {
	for _, kern := range poolSets() {
		e := NewEmbedder(kern)
		var feats *nn.Tensor
		var pooled []*nn.NHWC
		for _, shapes := range [][][4]int{
			{{3, 70, 12, 11}, {3, 37, 6, 6}, {3, 16, 3, 3}}, // a larger batch first: reused below
			{{2, 64, 9, 9}, {2, 130, 4, 5}, {2, 3, 9, 9}},
			{{2, 1, 7, 7}, {2, 1, 4, 4}},
			{{1, 17, 35, 35}, {1, 65, 17, 17}},
		} {
			name := fmt.Sprintf("%v %v", kern, shapes)
			layers := pytorchCase{Shapes: shapes}.layers()
			want, err := Features(layers)
			if err != nil {
				t.Fatal(err)
			}
			wantPooled, err := PooledInto(nil, layers)
			if err != nil {
				t.Fatal(err)
			}
			in := nhwcLayers(layers)
			if feats != nil {
				for i := range feats.Data[:cap(feats.Data)] {
					feats.Data[:cap(feats.Data)][i] = float32(math.NaN())
				}
			}
			for _, p := range pooled {
				for i := range p.Data {
					p.Data[i] = float32(math.NaN())
				}
			}
			if feats, err = e.FeaturesInto(feats, in); err != nil {
				t.Fatal(err)
			}
			if feats.N != want.N || feats.C != want.C || feats.H != want.H || feats.W != want.W {
				t.Fatalf("%s: features %dx%dx%dx%d, want %dx%dx%dx%d", name, feats.N, feats.C, feats.H, feats.W, want.N, want.C, want.H, want.W)
			}
			equalBits(t, name+" features", feats.Data[:feats.Len()], want.Data)
			if pooled, err = e.PooledInto(pooled, in); err != nil {
				t.Fatal(err)
			}
			if len(pooled) != len(layers) {
				t.Fatalf("%s: %d pooled layers", name, len(pooled))
			}
			for l, p := range pooled {
				w := wantPooled[l]
				if p.N != w.N || p.C != w.C || p.H != w.H || p.W != w.W {
					t.Fatalf("%s: pooled layer %d is %dx%dx%dx%d (NHWC)", name, l, p.N, p.H, p.W, p.C)
				}
				equalBits(t, fmt.Sprintf("%s pooled layer %d", name, l), p.Data[:p.Len()], w.Data)
			}
		}
	}
	var e Embedder
	if _, err := e.FeaturesInto(nil, nil); err == nil {
		t.Error("no layers accepted")
	}
	mismatch := []*nn.NHWC{{N: 2, H: 4, W: 4, C: 3, Data: make([]float32, 96)}, {N: 1, H: 2, W: 2, C: 3, Data: make([]float32, 12)}}
	if _, err := e.FeaturesInto(nil, mismatch); err == nil {
		t.Error("batch mismatch accepted")
	}
	if _, err := e.PooledInto(nil, mismatch); err == nil {
		t.Error("batch mismatch accepted by PooledInto")
	}
	if _, err := e.PooledInto(nil, []*nn.NHWC{{N: 1, H: 4, W: 4, C: 3, Data: make([]float32, 5)}}); err == nil {
		t.Error("a short layer accepted")
	}
	if _, err := e.FeaturesInto(nil, []*nn.NHWC{nil}); err == nil {
		t.Error("a nil layer accepted")
	}
}

// TestEmbedderAgainstPyTorch: the Embedder's features on every pooling
// implementation against PyTorch's (testdata/fixture.json).
func TestEmbedderAgainstPyTorch(t *testing.T) {
	cases := pytorchCases(t)
	for _, kern := range poolSets() {
		e := NewEmbedder(kern)
		for ci, tc := range cases {
			got, err := e.FeaturesInto(nil, nhwcLayers(tc.layers()))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, fmt.Sprintf("%v case %d", kern, ci), got)
		}
	}
}

// BenchmarkEmbedding: the embedding of a batch of 8 inception_v3 layers
// (mixed2 288 x 35 x 35, mixed5 768 x 17 x 17) as the trunk leaves them,
// in NHWC: "planes" converts them to NCHW (Forward's last step) and pools
// the planes (PooledInto, or FeaturesInto); "nhwc" pools them in NHWC and
// converts the pooled maps (the Embedder, on the detected kernels).
func BenchmarkEmbedding(b *testing.B) {
	in := nhwcLayers([]*nn.Tensor{layer(8, 288, 35, 35, 0), layer(8, 768, 17, 17, 1)})
	for _, concat := range []bool{false, true} {
		step := "pooled"
		if concat {
			step = "features"
		}
		b.Run(step+"/planes", func(b *testing.B) {
			nchw := []*nn.Tensor{{}, {}}
			var pooled []*nn.NHWC
			var feats *nn.Tensor
			for b.Loop() {
				for i, l := range in {
					l.ToNCHW(nchw[i])
				}
				if concat {
					feats, _ = FeaturesInto(feats, nchw)
				} else {
					pooled, _ = PooledInto(pooled, nchw)
				}
			}
		})
		b.Run(step+"/nhwc", func(b *testing.B) {
			var e Embedder
			var pooled []*nn.NHWC
			var feats *nn.Tensor
			for b.Loop() {
				if concat {
					feats, _ = e.FeaturesInto(feats, in)
				} else {
					pooled, _ = e.PooledInto(pooled, in)
				}
			}
		})
	}
}
