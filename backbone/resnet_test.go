package backbone

import (
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/weights"
)

func archByName(t testing.TB, name string) resnetArch {
	for _, a := range resnetArchs {
		if a.name == name {
			return a
		}
	}
	t.Fatalf("no arch %s", name)
	return resnetArch{}
}

// formulaWeights computes the trunk weights exactly as
// testdata/make_resnet_fixture.py does.
func formulaWeights(a resnetArch) weights.Tensors {
	names, shapes := a.tensorShapes()
	sort.Strings(names)
	out := weights.Tensors{}
	for k, n := range names {
		s := shapes[n]
		x := &weights.Tensor{Shape: s, Data: make([]float32, numel(s))}
		kf := float64(k)
		for i := range x.Data {
			fi := float64(i)
			var v float64
			switch {
			case strings.HasSuffix(n, "running_mean"):
				v = 0.1 * math.Sin(0.7*fi+kf)
			case strings.HasSuffix(n, "running_var"):
				v = 0.75 + 0.5*math.Sin(0.11*fi+0.7*kf)
			case len(s) == 4:
				v = math.Sin(0.37*fi+1.3*kf) * math.Sqrt(2/float64(s[1]*s[2]*s[3]))
			case strings.HasSuffix(n, "weight"):
				v = 1 + 0.2*math.Sin(0.5*fi+kf)
			default:
				v = 0.1 * math.Sin(0.3*fi+2*kf)
			}
			x.Data[i] = float32(v)
		}
		out[n] = x
	}
	return out
}

func numel(s []int) int {
	n := 1
	for _, v := range s {
		n *= v
	}
	return n
}

func fixtureInput(n, h, w int) *nn.Tensor {
	x := nn.NewTensor(n, 3, h, w)
	for i := range x.Data {
		fi := float64(i)
		x.Data[i] = float32(math.Sin(0.013*fi) + 0.5*math.Cos(0.031*fi))
	}
	return x
}

// writeFormulaWeights stores the formula weights of an arch as safetensors.
func writeFormulaWeights(t testing.TB, a resnetArch) string {
	p := filepath.Join(t.TempDir(), a.name+".safetensors")
	if err := weights.WriteSafetensors(p, formulaWeights(a), nil); err != nil {
		t.Fatal(err)
	}
	return p
}

func relErr(got, want []float32) (l2, maxRel float64) {
	var num, den, maxDiff, maxWant float64
	for i := range want {
		d := float64(got[i] - want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
		maxDiff = math.Max(maxDiff, math.Abs(d))
		maxWant = math.Max(maxWant, math.Abs(float64(want[i])))
	}
	if math.IsNaN(num) {
		return math.Inf(1), math.Inf(1)
	}
	return math.Sqrt(num / den), maxDiff / maxWant
}

func TestResNetAgainstTorch(t *testing.T) {
	for _, name := range []string{"resnet18", "wide_resnet50_2"} {
		t.Run(name, func(t *testing.T) {
			a := archByName(t, name)
			want, err := weights.ReadSafetensors(filepath.Join("testdata", name+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			b, err := LoadFile(name, writeFormulaWeights(t, a))
			if err != nil {
				t.Fatal(err)
			}
			info := b.Info()
			x := fixtureInput(2, 64, 48)
			for run := 0; run < 2; run++ { // the second run reuses every buffer
				out, err := b.Forward(x)
				if err != nil {
					t.Fatal(err)
				}
				if len(out) != 2 {
					t.Fatalf("%d outputs", len(out))
				}
				for i, layer := range info.Layers {
					w := want[layer]
					g := out[i]
					shape := []int{g.N, g.C, g.H, g.W}
					if !slices.Equal(shape, w.Shape) || g.C != info.Channels[i] || g.H != (64+info.Strides[i]-1)/info.Strides[i] {
						t.Fatalf("%s: shape %v, want %v (channels %d)", layer, shape, w.Shape, info.Channels[i])
					}
					l2, mr := relErr(g.Data[:g.Len()], w.Data)
					t.Logf("%s run %d: relative L2 error %.2e, max abs error / max |want| %.2e", layer, run, l2, mr)
					if l2 > 1e-4 || mr > 1e-4 {
						t.Errorf("%s: relative error %.2e / %.2e exceeds 1e-4", layer, l2, mr)
					}
				}
			}
			// Steady state: the buffers are reused, so a call allocates
			// almost nothing (goroutine bookkeeping; the pure-Go gonum
			// GEMM allocates about 3 KB per call). Without reuse the
			// activations alone would take several MB.
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			out, _ := b.Forward(x)
			runtime.ReadMemStats(&m1)
			if d := m1.TotalAlloc - m0.TotalAlloc; d > 512<<10 {
				t.Errorf("a steady-state Forward allocated %d bytes", d)
			}
			// Batch consistency: the second image alone gives the same features.
			l3 := append([]float32{}, out[1].Image(1).Data...)
			single := nn.NewTensor(1, 3, 64, 48)
			copy(single.Data, x.Image(1).Data)
			out1, err := b.Forward(single)
			if err != nil {
				t.Fatal(err)
			}
			if l2, _ := relErr(out1[1].Data, l3); l2 > 1e-6 {
				t.Errorf("batched and single forward differ: %.2e", l2)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	names := Names()
	for _, want := range []string{"resnet18", "wide_resnet50_2"} {
		if i := sort.SearchStrings(names, want); i >= len(names) || names[i] != want {
			t.Errorf("Names() = %v lacks %s", names, want)
		}
	}
	info, err := Lookup("wide_resnet50_2")
	if err != nil || info.Dim() != 1536 || info.Preprocess.Crop != 224 || info.Strides[1] != 16 {
		t.Errorf("Lookup wide_resnet50_2 = %+v, %v", info, err)
	}
	if info, _ := Lookup("resnet18"); info.Dim() != 384 {
		t.Errorf("resnet18 d = %d", info.Dim())
	}
	_, err = Lookup("resnet999")
	if err == nil || !strings.Contains(err.Error(), "wide_resnet50_2") || !strings.Contains(err.Error(), "resnet18") {
		t.Errorf("unknown name: %v", err)
	}
	if _, err := Load("resnet999"); err == nil {
		t.Error("Load of an unknown name succeeded")
	}
}

func TestCacheImportLoad(t *testing.T) {
	cache := t.TempDir()
	t.Setenv(weights.CacheEnv, cache)
	// Missing weights: the error names the file and both commands.
	_, err := Load("resnet18")
	want := filepath.Join(cache, "weights", "resnet18.safetensors")
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "crd backbone fetch resnet18") ||
		!strings.Contains(err.Error(), "crd backbone import resnet18") {
		t.Fatalf("missing weights: %v", err)
	}
	// Import a full checkpoint with extra tensors (layer4, fc): only the trunk is kept.
	a := archByName(t, "resnet18")
	full := formulaWeights(a)
	full["fc.weight"] = &weights.Tensor{Shape: []int{2, 2}, Data: make([]float32, 4)}
	src := filepath.Join(t.TempDir(), "ck.safetensors")
	if err := weights.WriteSafetensors(src, full, nil); err != nil {
		t.Fatal(err)
	}
	if err := Import("resnet18", src); err != nil {
		t.Fatal(err)
	}
	stored, _, err := weights.ReadVerified(want)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := stored["fc.weight"]; ok || len(stored) != len(full)-1 {
		t.Errorf("stored %d tensors", len(stored))
	}
	b, err := Load("resnet18")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Forward(fixtureInput(1, 40, 40)); err != nil {
		t.Fatal(err)
	}
	// A checkpoint of another architecture: the first mismatching tensor and both shapes.
	err = Import("wide_resnet50_2", src)
	if err == nil || !strings.Contains(err.Error(), "layer1.0.conv1.weight has shape [64 64 3 3], wide_resnet50_2 needs [128 64 1 1]") {
		t.Errorf("wrong architecture: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, "weights", "wide_resnet50_2.safetensors")); err == nil {
		t.Error("a failed import left a file in the cache")
	}
	// Corrupt the cached file: Load reports the SHA-256 mismatch.
	data, _ := os.ReadFile(want)
	data[len(data)-3] ^= 0x40
	os.WriteFile(want, data, 0o644)
	if _, err := Load("resnet18"); err == nil || !strings.Contains(err.Error(), "SHA-256 mismatch") {
		t.Errorf("corrupt cache: %v", err)
	}
	// Import of a missing file and of random bytes.
	if err := Import("resnet18", filepath.Join(t.TempDir(), "nope.pth")); err == nil || !strings.Contains(err.Error(), "nope.pth") {
		t.Errorf("missing source: %v", err)
	}
	junk := filepath.Join(t.TempDir(), "junk.pth")
	os.WriteFile(junk, []byte("PK\x03\x04 definitely not a zip archive"), 0o644)
	if err := Import("resnet18", junk); err == nil || !strings.Contains(err.Error(), "junk.pth") {
		t.Errorf("corrupt source: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	a := archByName(t, "resnet18")
	b, err := LoadFile("resnet18", writeFormulaWeights(t, a))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]*nn.Tensor{
		"smaller than the minimum": nn.NewTensor(1, 3, 31, 64),
		"3 x H x W":                nn.NewTensor(1, 1, 64, 64),
		"N >= 1":                   nn.NewTensor(0, 3, 64, 64),
		"values for shape":         {N: 1, C: 3, H: 64, W: 64, Data: make([]float32, 10)},
	}
	for want, x := range cases {
		if _, err := b.Forward(x); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v", want, err)
		}
	}
	if _, err := b.Forward(nil); err == nil {
		t.Error("nil input accepted")
	}
	// Weights with a missing tensor.
	w := formulaWeights(a)
	delete(w, "layer2.0.downsample.1.running_var")
	p := filepath.Join(t.TempDir(), "partial.safetensors")
	weights.WriteSafetensors(p, w, nil)
	if _, err := LoadFile("resnet18", p); err == nil || !strings.Contains(err.Error(), "layer2.0.downsample.1.running_var") ||
		!strings.Contains(err.Error(), "partial.safetensors") {
		t.Errorf("missing tensor: %v", err)
	}
	if _, err := LoadFile("resnet18", filepath.Join(t.TempDir(), "none.safetensors")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestFetch(t *testing.T) {
	t.Setenv(weights.CacheEnv, t.TempDir())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/missing/") {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("not the checkpoint"))
	}))
	defer srv.Close()
	err := Fetch("resnet18", FetchOptions{Mirror: srv.URL + "/missing"})
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "crd backbone import resnet18") {
		t.Errorf("404: %v", err)
	}
	err = Fetch("resnet18", FetchOptions{Mirror: srv.URL})
	if err == nil || !strings.Contains(err.Error(), "does not start with f37072fd") {
		t.Errorf("bad hash: %v", err)
	}
	// An unreachable server.
	if err := Fetch("wide_resnet50_2", FetchOptions{Mirror: "http://127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "crd backbone import wide_resnet50_2") {
		t.Errorf("unreachable: %v", err)
	}
	if hashPrefix("wide_resnet50_2-95faca4d.pth") != "95faca4d" {
		t.Error("hashPrefix")
	}
}
