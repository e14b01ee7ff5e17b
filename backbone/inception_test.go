package backbone

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crd-ad/crd/internal/testenv"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/weights"
)

// loadCachedInception loads the converted weights from the cache. Without
// them it skips, except under CI=true, where the setup step must have
// fetched them.
func loadCachedInception(t testing.TB) Backbone {
	t.Helper()
	path, err := weights.CachePath(InceptionName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		testenv.Require(t, fmt.Errorf("inception_v3 weights not in the cache (%s)", path),
			"run `crd backbone fetch inception_v3` (or scripts/setup.sh)")
	}
	b, err := Load(InceptionName)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inceptionFixtureInput is the formula of testdata/inception/make_fixture.js.
func inceptionFixtureInput(n, h, w int) *nn.Tensor {
	x := nn.NewTensor(n, 3, h, w)
	for b := 0; b < n; b++ {
		for c := 0; c < 3; c++ {
			for y := 0; y < h; y++ {
				for xx := 0; xx < w; xx++ {
					fb, fc, fy, fx := float64(b), float64(c), float64(y), float64(xx)
					v := math.Sin(0.11*fy*(fb+1)+0.07*fx+1.3*fc+0.5*fb) * math.Cos(0.05*fx*(fc+1)-0.03*fy)
					x.Data[((b*3+c)*h+y)*w+xx] = float32(v)
				}
			}
		}
	}
	return x
}

// incRelErrors returns ||got - want|| / ||want|| and max |got - want| / max |want|.
func incRelErrors(got, want []float32) (l2, maxAbs float64) {
	var d2, w2, dm, wm float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		d2 += d * d
		w2 += float64(want[i]) * float64(want[i])
		dm = max(dm, math.Abs(d))
		wm = max(wm, math.Abs(float64(want[i])))
	}
	return math.Sqrt(d2 / w2), dm / wm
}

// TestInceptionMatchesTFJS compares mixed2 and mixed5 with TensorFlow.js
// running the same nsfwjs model (testdata/inception/make_fixture.js).
func TestInceptionMatchesTFJS(t *testing.T) {
	b := loadCachedInception(t)
	want, meta, err := weights.ReadSafetensorsMeta(filepath.Join("testdata", "inception", "fixture.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fixture: %s; %s", meta["reference"], meta["input"])
	x := inceptionFixtureInput(2, 91, 75)
	// Run twice, at another size in between, so that reused buffers are
	// exercised too.
	for pass := 0; pass < 2; pass++ {
		if pass == 1 {
			if _, err := b.Forward(inceptionFixtureInput(1, 60, 131)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range b.Info().Layers {
			w := want[name]
			g := got[i]
			if shape := []int{g.N, g.C, g.H, g.W}; !slices.Equal(shape, w.Shape) {
				t.Fatalf("%s: shape %v, TensorFlow.js %v", name, shape, w.Shape)
			}
			l2, ma := incRelErrors(g.Data, w.Data)
			t.Logf("pass %d %s %v: relative L2 error %.2e, max-abs error / max %.2e", pass, name, w.Shape, l2, ma)
			if l2 > 1e-4 || ma > 1e-4 {
				t.Errorf("%s: relative L2 error %.3g, max-abs %.3g; want <= 1e-4", name, l2, ma)
			}
		}
	}
}

func TestInceptionInfo(t *testing.T) {
	info, err := Lookup(InceptionName)
	if err != nil {
		t.Fatal(err)
	}
	if info.Dim() != 1056 || info.Preprocess.Crop != 299 {
		t.Errorf("d = %d, crop %d; want 1056, 299", info.Dim(), info.Preprocess.Crop)
	}
	// The graph's channel counts agree with Info and with Keras's comments
	// (mixed0 256, mixed1-2 288, mixed3-5 768).
	wantC := map[string]int{"mixed0": 256, "mixed1": 288, "mixed2": 288, "mixed3": 768, "mixed4": 768, "mixed5": 768}
	convs := 0
	for _, n := range inceptionGraph() {
		if c, ok := wantC[n.name]; ok && n.outC != c {
			t.Errorf("%s has %d channels, want %d", n.name, n.outC, c)
		}
		if n.kind == incConvBNReLU {
			convs++
		}
	}
	if convs != 50 {
		t.Errorf("%d convolutions up to mixed5, want 50 (conv2d_1 .. conv2d_50)", convs)
	}
	if n := len(inceptionTensorNames()); n != 200 {
		t.Errorf("%d stored tensors, want 200", n)
	}
}

// TestInceptionSizes checks the output sizes and MinInput on a network with
// synthetic weights.
func TestInceptionSizes(t *testing.T) {
	b := syntheticInception(t, 1)
	for _, c := range []struct{ in, m2, m5 int }{{299, 35, 17}, {224, 25, 12}, {43, 3, 1}} {
		hs, ws := b.sizes(c.in, c.in)
		i2, i5 := b.index["mixed2"], b.index["mixed5"]
		if hs[i2] != c.m2 || ws[i2] != c.m2 || hs[i5] != c.m5 || ws[i5] != c.m5 {
			t.Errorf("input %d: mixed2 %dx%d, mixed5 %dx%d; want %d, %d", c.in, hs[i2], ws[i2], hs[i5], ws[i5], c.m2, c.m5)
		}
	}
	out, err := b.Forward(nn.NewTensor(1, 3, 43, 44))
	if err != nil {
		t.Fatal(err)
	}
	if out[1].H != 1 || out[1].W != 1 {
		t.Errorf("mixed5 at 43x44 is %dx%d, want 1x1", out[1].H, out[1].W)
	}
	for _, x := range []*nn.Tensor{nn.NewTensor(1, 3, 42, 100), nn.NewTensor(1, 3, 100, 42), nn.NewTensor(1, 1, 64, 64)} {
		if _, err := b.Forward(x); err == nil {
			t.Errorf("input %dx%dx%d: no error", x.C, x.H, x.W)
		}
	}
}

// BenchmarkForwardInception reports images/s and GFLOP/s (2 flops per
// multiply-accumulate of the convolutions) at 299 x 299.
func BenchmarkForwardInception(b *testing.B) {
	net := loadCachedInception(b).(*inception)
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("%s/batch%d", InceptionName, n), func(b *testing.B) {
			x := inceptionFixtureInput(n, 299, 299)
			if _, err := net.Forward(x); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := net.Forward(x); err != nil {
					b.Fatal(err)
				}
			}
			s := b.Elapsed().Seconds()
			b.ReportMetric(float64(n*b.N)/s, "images/s")
			b.ReportMetric(2*float64(net.MACs(299, 299))*float64(n*b.N)/s/1e9, "GFLOP/s")
		})
	}
}

func TestInceptionLoadErrors(t *testing.T) {
	dir := t.TempDir()
	good := syntheticInceptionTensors(1)
	path := filepath.Join(dir, "w.safetensors")
	if err := weights.WriteVerified(path, good, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(InceptionName, path); err != nil {
		t.Fatalf("synthetic weights: %v", err)
	}
	// Truncated file: the sidecar check fails, and without the sidecar the
	// safetensors reader does.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(InceptionName, path); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("truncated file: %v, want a SHA-256 mismatch", err)
	}
	os.Remove(weights.SidecarPath(path))
	if _, err := LoadFile(InceptionName, path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("truncated file without sidecar: %v, want an error naming %s", err, path)
	}
	// Missing, misshapen and non-finite tensors are named.
	cases := []struct {
		edit func(weights.Tensors)
		want string
	}{
		{func(t weights.Tensors) { delete(t, "batch_normalization_17/moving_mean") }, "batch_normalization_17/moving_mean missing"},
		{func(t weights.Tensors) { t["conv2d_8/kernel"].Shape = []int{5, 5, 64, 48} }, "conv2d_8/kernel has shape [5 5 64 48], want [5 5 48 64]"},
		{func(t weights.Tensors) { t["conv2d_3/kernel"].Data[7] = float32(math.NaN()) }, "conv2d_3/kernel: non-finite"},
		{func(t weights.Tensors) { t["batch_normalization_2/moving_variance"].Data[0] = -1 }, "negative"},
	}
	for _, c := range cases {
		bad := syntheticInceptionTensors(1)
		c.edit(bad)
		if _, err := newInception(bad); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
}

// TestInceptionGroups: the branch heads of the Inception blocks (four
// 1x1 convolutions of the block input in mixed0 to mixed2, mixed4 and
// mixed5, the pooling branch's moved before its pooling) run as groups, and the trunk gives bit for bit what it gives
// with every convolution run alone (random weights, batch 2).
func TestInceptionGroups(t *testing.T) {
	bb, err := NewRandom(InceptionName, 3)
	if err != nil {
		t.Fatal(err)
	}
	b := bb.(*inception)
	var sizes []int
	for _, g := range b.groups {
		sizes = append(sizes, len(g))
		for _, i := range g {
			if nd := b.nodes[i]; nd.kh != 1 || nd.kw != 1 || nd.in[0] != b.nodes[g[0]].in[0] {
				t.Fatalf("group of %s holds %s (%dx%d of %s)", b.nodes[g[0]].name, nd.name, nd.kh, nd.kw, nd.in[0])
			}
		}
	}
	if !slices.Equal(sizes, []int{4, 4, 4, 4, 4}) {
		t.Fatalf("groups of %v convolutions, want 5 of 4", sizes)
	}
	r := rand.New(rand.NewPCG(4, 5))
	x := nn.NewTensor(2, 3, 75, 80)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	grouped, err := b.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]float32
	for _, o := range grouped {
		want = append(want, slices.Clone(o.Data))
	}
	// Alone: no groups, buffers planned again.
	for i := range b.group {
		b.group[i] = -1
	}
	b.groups = nil
	b.planBuffers()
	alone, err := b.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	for k, o := range alone {
		for i, v := range o.Data {
			if math.Float32bits(v) != math.Float32bits(want[k][i]) {
				t.Fatalf("output %d value %d = %g alone, %g in groups", k, i, v, want[k][i])
			}
		}
	}
}
