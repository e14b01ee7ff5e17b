package patchfeat

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/crd-ad/crd/nn"
)

// layer computes the same formula as testdata/make_fixture.py.
func layer(n, c, h, w, k int) *nn.Tensor {
	t := nn.NewTensor(n, c, h, w)
	for i := range t.Data {
		t.Data[i] = float32(math.Sin(0.37*float64(i) + 1.3*float64(k)))
	}
	return t
}

// pytorchCase is one case of testdata/fixture.json: the layers' shapes
// and PyTorch's features of layer's values.
type pytorchCase struct {
	Shapes [][4]int
	Want   []float64
}

// pytorchCases reads testdata/fixture.json.
func pytorchCases(t *testing.T) []pytorchCase {
	t.Helper()
	b, err := os.ReadFile("testdata/fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []pytorchCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// layers are the case's layers, as make_fixture.py fills them (Want is
// not needed).
func (c pytorchCase) layers() []*nn.Tensor {
	var ls []*nn.Tensor
	for k, s := range c.Shapes {
		ls = append(ls, layer(s[0], s[1], s[2], s[3], k))
	}
	return ls
}

// check fails unless got holds the case's features within 1e-5.
func (c pytorchCase) check(t *testing.T, name string, got *nn.Tensor) {
	t.Helper()
	if got.Len() != len(c.Want) {
		t.Fatalf("%s: %d values, want %d", name, got.Len(), len(c.Want))
	}
	for i, w := range c.Want {
		if math.Abs(float64(got.Data[i])-w) > 1e-5 {
			t.Fatalf("%s value %d: got %g, PyTorch %g", name, i, got.Data[i], w)
		}
	}
}

func TestFeaturesAgainstPyTorch(t *testing.T) {
	for ci, tc := range pytorchCases(t) {
		got, err := Features(tc.layers())
		if err != nil {
			t.Fatal(err)
		}
		tc.check(t, fmt.Sprintf("case %d", ci), got)
	}
}

func TestFeaturesErrors(t *testing.T) {
	if _, err := Features(nil); err == nil {
		t.Error("no layers accepted")
	}
	if _, err := Features([]*nn.Tensor{nn.NewTensor(2, 1, 4, 4), nn.NewTensor(1, 1, 2, 2)}); err == nil {
		t.Error("batch mismatch accepted")
	}
}

// BenchmarkFeatures is the patch embedding of inception_v3 at 299 (mixed2
// and mixed5) for a batch of 8.
func BenchmarkFeatures(b *testing.B) {
	layers := []*nn.Tensor{layer(8, 288, 35, 35, 0), layer(8, 768, 17, 17, 1)}
	for b.Loop() {
		if _, err := Features(layers); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFeaturesIntoReuses checks that FeaturesInto overwrites every value of a
// recycled, larger tensor and reuses its memory.
func TestFeaturesIntoReuses(t *testing.T) {
	layers := []*nn.Tensor{layer(2, 3, 6, 5, 0), layer(2, 4, 3, 3, 1)}
	want, err := Features(layers)
	if err != nil {
		t.Fatal(err)
	}
	dst := nn.NewTensor(3, 7, 6, 5)
	for i := range dst.Data {
		dst.Data[i] = float32(math.NaN())
	}
	mem := &dst.Data[0]
	got, err := FeaturesInto(dst, layers)
	if err != nil {
		t.Fatal(err)
	}
	if got != dst || &got.Data[0] != mem || got.N != 2 || got.C != 7 || got.H != 6 || got.W != 5 {
		t.Fatalf("FeaturesInto did not reuse dst: %dx%dx%dx%d", got.N, got.C, got.H, got.W)
	}
	for i, v := range want.Data {
		if got.Data[i] != v {
			t.Fatalf("value %d: %g, want %g", i, got.Data[i], v)
		}
	}
}

// TestPooledThenResizedIsFeatures: PooledInto's layers (NHWC), each
// image's converted to NCHW, resized to the grid by nn.ResizeBilinear and concatenated, are
// FeaturesInto's features bit for bit, also with dst reused from a larger
// batch.
func TestPooledThenResizedIsFeatures(t *testing.T) {
	var dst []*nn.NHWC
	for _, shapes := range [][][4]int{
		{{3, 6, 12, 12}, {3, 5, 6, 6}, {3, 4, 3, 3}}, // a larger batch first: reused below
		{{2, 4, 9, 9}, {2, 7, 4, 5}, {2, 3, 9, 9}},
		{{1, 5, 7, 7}},
	} {
		var layers []*nn.Tensor
		for k, s := range shapes {
			layers = append(layers, layer(s[0], s[1], s[2], s[3], k))
		}
		want, err := Features(layers)
		if err != nil {
			t.Fatal(err)
		}
		if dst, err = PooledInto(dst, layers); err != nil {
			t.Fatal(err)
		}
		if len(dst) != len(layers) {
			t.Fatalf("%v: %d pooled layers", shapes, len(dst))
		}
		h, w := layers[0].H, layers[0].W
		var got []float32
		for b := 0; b < layers[0].N; b++ {
			for l, p := range dst {
				if p.N != layers[l].N || p.C != layers[l].C || p.H != layers[l].H || p.W != layers[l].W {
					t.Fatalf("%v: pooled layer %d is %d x %d x %d x %d (NHWC)", shapes, l, p.N, p.H, p.W, p.C)
				}
				got = append(got, nn.ResizeBilinear(p.Image(b).ToNCHW(nil), h, w).Data...)
			}
		}
		if len(got) != len(want.Data) {
			t.Fatalf("%v: %d values, want %d", shapes, len(got), len(want.Data))
		}
		for i, v := range want.Data {
			if math.Float32bits(got[i]) != math.Float32bits(v) {
				t.Fatalf("%v: value %d is %g, FeaturesInto's %g", shapes, i, got[i], v)
			}
		}
	}
	if _, err := PooledInto(nil, nil); err == nil {
		t.Error("no layers accepted")
	}
	if _, err := PooledInto(nil, []*nn.Tensor{nn.NewTensor(2, 1, 4, 4), nn.NewTensor(1, 1, 2, 2)}); err == nil {
		t.Error("batch mismatch accepted")
	}
}
