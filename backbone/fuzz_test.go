package backbone

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"strings"
	"testing"
)

const (
	fuzzModelJS = `!function(a){module.exports=a()}(function(){return{1:[function(a,n,i){n.exports={modelTopology:{k:!0,config:{layers:[]}},` +
		`weightsManifest:[{paths:["group1-shard1of1"],weights:[{name:"a",shape:[2,2],dtype:"float32",quantization:{dtype:"uint8",min:-1,scale:.5}},` +
		`{name:"c",shape:[1],dtype:"float32"}]}]}},{}]}})`
	fuzzShardJS = `!function(d){module.exports=d()}(function(){return{1:[function(d,h,Z){h.exports="AAEC/wAAwD8="},{}]}})`
)

// FuzzJSLiteralToJSON: the JavaScript-literal parser returns valid JSON or
// an error.
func FuzzJSLiteralToJSON(f *testing.F) {
	for _, s := range []string{`{a:1,"b":[.5,-.25,1e-3,5.],c:!0,d:!1,e:null,f:void 0}`, `{ $x_1 : 'it\'s', y: "q\"\\\n\x41\u00e9" , 2: [ ] , }`,
		`[{},[[]],"",-0.75]trailing`, `"SGVsbG8="`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		out, err := jsLiteralToJSON(src)
		if err == nil && !json.Valid(out) {
			t.Fatalf("jsLiteralToJSON(%q) = %q, not JSON", src, out)
		}
	})
}

// FuzzTFJSModel: a model module and a shard module are parsed, checked
// against the inception topology and dequantised without a panic; each
// tensor decoded matches its shape.
func FuzzTFJSModel(f *testing.F) {
	f.Add([]byte(fuzzModelJS), []byte(fuzzShardJS))
	f.Fuzz(func(t *testing.T, model, shard []byte) {
		m, err := parseTFJSModelModule(model)
		if err != nil {
			return
		}
		_ = checkInceptionTopology(m.ModelTopology)
		s, err := parseTFJSShardModule(shard)
		if err != nil {
			return
		}
		shards := map[string][]byte{}
		for _, g := range m.WeightsManifest {
			for _, p := range g.Paths {
				shards[p] = s
			}
		}
		ts, err := decodeTFJSWeights(m, shards, func(string) bool { return true })
		if err != nil {
			return
		}
		for name, x := range ts {
			n := 1
			for _, d := range x.Shape {
				n *= d
			}
			if n != len(x.Data) {
				t.Fatalf("%s: shape %v with %d values", name, x.Shape, len(x.Data))
			}
		}
	})
}

// FuzzInceptionArchive: any bytes as the npm tarball give tensors or an
// error, never a panic.
func FuzzInceptionArchive(f *testing.F) {
	f.Add(fuzzTarGz(f, map[string]string{inceptionModelJS: fuzzModelJS, "group1-shard1of1.min.js": fuzzShardJS}))
	f.Add(fuzzTarGz(f, map[string]string{inceptionModelJS: fuzzModelJS}))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = convertInceptionArchive(bytes.NewReader(b))
	})
}

// fuzzTarGz packs files under the model directory as an npm tarball.
func fuzzTarGz(f *testing.F, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range []string{inceptionModelJS, "group1-shard1of1.min.js"} {
		s, ok := files[name]
		if !ok {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: inceptionModelDir + name, Mode: 0o644, Size: int64(len(s)), Typeflag: tar.TypeReg}); err != nil {
			f.Fatal(err)
		}
		tw.Write([]byte(s))
	}
	if err := tw.Close(); err != nil {
		f.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

// TestTFJSShardListedTwice: a manifest that names one shard many times
// (so that a small model.json would repeat a large shard) is refused.
func TestTFJSShardListedTwice(t *testing.T) {
	m, err := parseTFJSModelModule([]byte(fuzzModelJS))
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseTFJSShardModule([]byte(fuzzShardJS))
	if err != nil {
		t.Fatal(err)
	}
	shards := map[string][]byte{"group1-shard1of1": s}
	if _, err := decodeTFJSWeights(m, shards, func(string) bool { return true }); err != nil {
		t.Fatalf("the seed model: %v", err)
	}
	g := m.WeightsManifest[0]
	g.Paths = append(g.Paths, g.Paths[0])
	m.WeightsManifest = append(m.WeightsManifest, g)
	if _, err := decodeTFJSWeights(m, shards, func(string) bool { return true }); err == nil || !strings.Contains(err.Error(), `shard "group1-shard1of1" listed twice`) {
		t.Errorf("got %v, want a shard listed twice", err)
	}
}
