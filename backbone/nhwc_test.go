package backbone

import (
	"math"
	"slices"
	"testing"

	"github.com/crd-ad/crd/nn"
)

// sameBits reports whether a and b are the same float32 value, bit for
// bit.
func sameBits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

// TestForwardNHWCMatchesForward: every registered trunk's ForwardNHWC
// holds Forward's values (which the fixture tests check against PyTorch
// and TensorFlow.js) bit for bit, in NHWC, at two input sizes in turn so
// that reused buffers are exercised; a later ForwardNHWC leaves them
// where they were (layer2 of the ResNets survives layer3).
func TestForwardNHWCMatchesForward(t *testing.T) {
	nets := map[string]func(t *testing.T) Backbone{
		InceptionName: func(t *testing.T) Backbone { return loadCachedInception(t) },
	}
	for _, name := range []string{"resnet18", "wide_resnet50_2"} {
		nets[name] = func(t *testing.T) Backbone {
			b, err := LoadFile(name, writeFormulaWeights(t, archByName(t, name)))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	for name, load := range nets {
		t.Run(name, func(t *testing.T) {
			b := load(t)
			f, ok := b.(NHWCForwarder)
			if !ok {
				t.Fatalf("%s is not an NHWCForwarder", name)
			}
			for _, size := range [][3]int{{2, 91, 77}, {1, 80, 96}, {2, 91, 77}} {
				x := inceptionFixtureInput(size[0], size[1], size[2])
				want, err := b.Forward(x)
				if err != nil {
					t.Fatal(err)
				}
				var nchw [][]float32
				for _, w := range want {
					nchw = append(nchw, append([]float32(nil), w.Data[:w.Len()]...))
				}
				got, err := f.ForwardNHWC(x)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("%d layers, Forward gives %d", len(got), len(want))
				}
				for i, g := range got {
					w := want[i]
					if g.N != w.N || g.H != w.H || g.W != w.W || g.C != w.C || g.C != b.Info().Channels[i] {
						t.Fatalf("layer %d: %v, Forward gives %dx%dx%dx%d", i, g, w.N, w.C, w.H, w.W)
					}
					if !slices.EqualFunc(g.ToNCHW(nil).Data, nchw[i], sameBits) {
						t.Fatalf("input %v layer %d: ForwardNHWC's values differ from Forward's", size, i)
					}
				}
			}
			if _, err := f.ForwardNHWC(nn.NewTensor(1, 3, 8, 8)); err == nil {
				t.Error("an 8x8 input accepted")
			}
		})
	}
}
