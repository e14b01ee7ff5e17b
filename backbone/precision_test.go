package backbone

import (
	"testing"

	"github.com/crd-ad/crd/internal/cputime"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/nn"
)

// TestInceptionBF16 runs the inception_v3 trunk with its real weights in
// bf16 on every path here (the emulation on BLAS and on the float32
// kernel, the bf16 kernel where it runs) against the float32 trunk. bf16
// keeps 8 bits of mantissa: each rounding is off by up to 2^-9 = 0.2%,
// and eleven layers of them, summed over hundreds of products, come to a
// few tenths of a percent of the features' norm, so the bound is 2%
// (relative L2) and 10% of the largest value (max-abs). The paths differ
// from each other only in the order of their float32 sums, which the
// rounding of each layer's output to bf16 can amplify where a value sits
// on a rounding boundary: they must agree to 0.5%. Back in float32 the
// trunk gives its float32 features bit for bit.
func TestInceptionBF16(t *testing.T) {
	b := loadCachedInception(t)
	inc := b.(*inception)
	x := inceptionFixtureInput(2, 91, 75)
	clone := func(ts []*nn.Tensor) [][]float32 {
		var out [][]float32
		for _, o := range ts {
			out = append(out, append([]float32(nil), o.Data...))
		}
		return out
	}
	f32, err := b.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	want := clone(f32)
	if err := SetPrecision(b, nn.BF16); err != nil {
		t.Fatal(err)
	}
	sets := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		sets = append(sets, kernels.AVX512(kernels.All))
	}
	if kernels.AVX512BF16Supported() {
		sets = append(sets, kernels.AVX512(kernels.All|kernels.ConvBF16))
	}
	var first [][]float32
	for _, s := range sets {
		inc.ws.SetKernels(s)
		outs, err := b.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		got := clone(outs)
		for i, name := range b.Info().Layers {
			l2, ma := incRelErrors(got[i], want[i])
			t.Logf("%v %s: bf16 vs float32: relative L2 %.2e, max-abs / max %.2e", s, name, l2, ma)
			if l2 > 0.02 || ma > 0.1 {
				t.Errorf("%v %s: bf16 vs float32: relative L2 %.3g, max-abs %.3g; want <= 0.02, 0.1", s, name, l2, ma)
			}
			if first != nil {
				l2, ma := incRelErrors(got[i], first[i])
				t.Logf("%v %s: vs the emulation on BLAS: relative L2 %.2e, max-abs / max %.2e", s, name, l2, ma)
				if l2 > 0.005 || ma > 0.05 {
					t.Errorf("%v %s: vs the emulation: relative L2 %.3g, max-abs %.3g; want <= 0.005, 0.05", s, name, l2, ma)
				}
			}
		}
		if first == nil {
			first = got
		}
	}
	inc.ws.SetKernels(kernels.Set{})
	if err := SetPrecision(b, nn.Float32); err != nil {
		t.Fatal(err)
	}
	outs, err := b.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		for j, v := range o.Data {
			if v != want[i][j] {
				t.Fatalf("float32 again: %s value %d = %g, was %g", b.Info().Layers[i], j, v, want[i][j])
			}
		}
	}
}

// fakeNet is a Backbone without SetPrecision.
type fakeNet struct{ Backbone }

func (fakeNet) Info() Info { return Info{Name: "fake"} }

// TestSetPrecisionUnsupported: float32 needs nothing of a backbone; bf16
// on one that cannot is an error naming it.
func TestSetPrecisionUnsupported(t *testing.T) {
	if err := SetPrecision(fakeNet{}, nn.Float32); err != nil {
		t.Errorf("float32: %v", err)
	}
	err := SetPrecision(fakeNet{}, nn.BF16)
	if err == nil || err.Error() != "backbone fake cannot run in bf16 precision" {
		t.Errorf("bf16: %v", err)
	}
}

// BenchmarkPrecision times the three trunks (random weights, batch 1) in float32, in bf16 on the bf16 kernel where it runs,
// and in bf16 emulated on the float32 AVX-512 kernel (operands rounded):
// the three ways kernels can run a model's convolutions here. Compare the
// lines of one run; with -cpu 1 the process's CPU time per pass
// (cpu-ms/op) does not count waiting for a core on a shared machine.
func BenchmarkPrecision(b *testing.B) {
	type way struct {
		name string
		prec nn.Precision
		set  kernels.Set
	}
	ways := []way{{"float32", nn.Float32, kernels.Set{}}}
	if kernels.AVX512BF16Supported() {
		ways = append(ways, way{"bf16-kernel", nn.BF16, kernels.AVX512(kernels.All | kernels.ConvBF16)})
	}
	if kernels.AVX512Supported() {
		ways = append(ways, way{"bf16-emulated", nn.BF16, kernels.AVX512(kernels.All)})
	}
	for _, name := range []string{"resnet18", "inception_v3", "wide_resnet50_2"} {
		net, err := NewRandom(name, 1)
		if err != nil {
			b.Fatal(err)
		}
		info := net.Info()
		x := fixtureInput(1, info.Preprocess.Crop, info.Preprocess.Crop)
		for _, w := range ways {
			b.Run(name+"/"+w.name, func(b *testing.B) {
				SetPrecision(net, w.prec)
				switch n := net.(type) {
				case *resNet:
					n.ws.SetKernels(w.set)
				case *inception:
					n.ws.SetKernels(w.set)
				}
				if _, err := net.Forward(x); err != nil { // pack the weights
					b.Fatal(err)
				}
				c0 := cputime.Process()
				for b.Loop() {
					net.Forward(x)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
				if c := cputime.Process() - c0; c0 > 0 {
					b.ReportMetric(float64(c)/float64(b.N)/1e6, "cpu-ms/op")
				}
			})
		}
	}
}
