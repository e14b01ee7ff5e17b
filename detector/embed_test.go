package detector

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/internal/testenv"
	"github.com/crd-ad/crd/nn"
)

// forwardOnly hides a backbone's ForwardNHWC, so that the extractor takes
// the NCHW path: Forward, then patchfeat's plane pooling.
type forwardOnly struct{ backbone.Backbone }

// TestNHWCEmbeddingMatchesForward: on the real inception_v3 trunk, the
// extractor's features from the NHWC layers (pooled before the
// conversion to NCHW) are those of Forward's NCHW layers pooled by
// patchfeat, bit for bit, both the concatenated features and a layered
// run's pooled layers, over two batches (reused buffers).
func TestNHWCEmbeddingMatchesForward(t *testing.T) {
	net, err := backbone.Load(backbone.InceptionName)
	testenv.Require(t, err, "run `crd backbone fetch inception_v3` (or scripts/setup.sh)")
	if _, ok := net.(backbone.NHWCForwarder); !ok {
		t.Fatal("inception_v3 is not an NHWCForwarder")
	}
	nhwc := &Extractor{Net: net}
	nchw := &Extractor{Net: forwardOnly{net}}
	r := rand.New(rand.NewPCG(5, 6))
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
	for _, n := range []int{2, 1} {
		x := nn.NewTensor(n, 3, 107, 93)
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		for _, layered := range []bool{false, true} {
			// features recycles its input: each call gets a copy.
			got, err := nhwc.features(&nn.Tensor{N: x.N, C: x.C, H: x.H, W: x.W, Data: slices.Clone(x.Data)}, layered)
			if err != nil {
				t.Fatal(err)
			}
			want, err := nchw.features(&nn.Tensor{N: x.N, C: x.C, H: x.H, W: x.W, Data: slices.Clone(x.Data)}, layered)
			if err != nil {
				t.Fatal(err)
			}
			if !layered {
				if got.feats.N != n || got.feats.C != want.feats.C || got.feats.H != want.feats.H || got.feats.W != want.feats.W ||
					!slices.EqualFunc(got.feats.Data[:got.feats.Len()], want.feats.Data[:want.feats.Len()], same) {
					t.Fatalf("batch %d: the NHWC path's features differ from the NCHW path's", n)
				}
			} else {
				if len(got.layers) != 2 || len(want.layers) != 2 {
					t.Fatalf("batch %d: %d and %d pooled layers", n, len(got.layers), len(want.layers))
				}
				for l, g := range got.layers {
					w := want.layers[l]
					if g.N != n || g.C != w.C || g.H != w.H || g.W != w.W || !slices.EqualFunc(g.Data[:g.Len()], w.Data[:w.Len()], same) {
						t.Fatalf("batch %d: pooled layer %d of the NHWC path differs from the NCHW path's", n, l)
					}
				}
			}
			nhwc.recycle(got)
			nchw.recycle(want)
		}
	}
}
