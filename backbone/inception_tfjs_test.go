package backbone

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestJSLiteralToJSON(t *testing.T) {
	cases := []struct{ js, want string }{
		{`{a:1,"b":[.5,-.25,1e-3,5.,8.999999749903509e-7],c:!0,d:!1,e:null,f:void 0}`,
			`{"a":1,"b":[0.5,-0.25,0.001,5,8.999999749903509e-07],"c":true,"d":false,"e":null,"f":null}`},
		{`{ $x_1 : 'it\'s', y: "q\"\\\n\x41\u00e9" , 2: [ ] , }`, `{"$x_1":"it's","y":"q\"\\\nAé","2":[]}`},
		{`[{},[[]],"",-0.75]trailing`, `[{},[[]],"",-0.75]`},
		{`"SGVsbG8="`, `"SGVsbG8="`},
	}
	for _, c := range cases {
		got, err := jsLiteralToJSON([]byte(c.js))
		if err != nil {
			t.Errorf("%s: %v", c.js, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.js, got, c.want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: invalid JSON %s", c.js, got)
		}
	}
	bad := []string{`{a:1`, `{a 1}`, `[1,2`, `{a:undefined}`, `{a:"x`, `{a:1/0}`, `[Infinity]`, `{a:!2}`, `[1e999]`,
		strings.Repeat("[", 600) + strings.Repeat("]", 600)}
	for _, js := range bad {
		if got, err := jsLiteralToJSON([]byte(js)); err == nil {
			t.Errorf("%s: no error, got %s", js, got)
		}
	}
}

func TestJSModuleExport(t *testing.T) {
	src := `!function(a){"object"==typeof exports&&"undefined"!=typeof module?module.exports=a():x}(function(){` +
		`return{1:[function(a,n,i){n.exports={modelTopology:{k:!0},weightsManifest:[{paths:["p"],weights:[]}]}},{}]}})`
	m, err := parseTFJSModelModule([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if string(m.ModelTopology) != `{"k":true}` || len(m.WeightsManifest) != 1 || m.WeightsManifest[0].Paths[0] != "p" {
		t.Errorf("got %s %+v", m.ModelTopology, m.WeightsManifest)
	}
	shard := `!function(d){module.exports=d()}(function(){return{1:[function(d,h,Z){h.exports="AAEC/w=="},{}]}})`
	b, err := parseTFJSShardModule([]byte(shard))
	if err != nil || string(b) != "\x00\x01\x02\xff" {
		t.Errorf("shard: %q, %v", b, err)
	}
	for _, bad := range []string{`module.exports=a()`, `h.exports="AA!="`, `h.exports={a:1}`, `n.exports={a:1}`} {
		_, err1 := parseTFJSShardModule([]byte(bad))
		_, err2 := parseTFJSModelModule([]byte(bad))
		if err1 == nil || err2 == nil {
			t.Errorf("%s: shard error %v, model error %v", bad, err1, err2)
		}
	}
}

func incF64(v float64) *float64 { return &v }

// TestDecodeTFJSWeights decodes a hand-made two-shard group: a uint8
// tensor, a uint16 tensor and a plain float32 tensor, each checked against
// min + scale * q worked out by hand.
func TestDecodeTFJSWeights(t *testing.T) {
	m := &tfjsModel{WeightsManifest: []tfjsWeightGroup{{
		Paths: []string{"s1", "s2"},
		Weights: []tfjsWeightSpec{
			{Name: "a", Shape: []int{2, 2}, Dtype: "float32", Quantization: &tfjsQuantization{Dtype: "uint8", Min: incF64(-1), Scale: incF64(0.5)}},
			{Name: "skip", Shape: []int{3}, Dtype: "float32", Quantization: &tfjsQuantization{Dtype: "uint8", Min: incF64(0), Scale: incF64(1)}},
			{Name: "b", Shape: []int{2}, Dtype: "float32", Quantization: &tfjsQuantization{Dtype: "uint16", Min: incF64(10), Scale: incF64(0.25)}},
			{Name: "c", Shape: []int{1}, Dtype: "float32"},
		},
	}}}
	// a: q = 0, 1, 2, 255; skip: 3 bytes; b: q = 4, 0x0102 (LE); c: 1.5f.
	s1 := []byte{0, 1, 2}
	s2 := []byte{255, 9, 9, 9, 4, 0, 0x02, 0x01, 0, 0, 0xc0, 0x3f}
	keep := func(name string) bool { return name != "skip" }
	got, err := decodeTFJSWeights(m, map[string][]byte{"s1": s1, "s2": s2}, keep)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{"a": {-1, -0.5, 0, 126.5}, "b": {11, 10 + 0.25*258}, "c": {1.5}}
	if len(got) != len(want) {
		t.Errorf("decoded %d tensors, want %d", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		if g == nil || len(g.Data) != len(w) {
			t.Fatalf("%s: got %v", name, g)
		}
		for i := range w {
			if g.Data[i] != w[i] {
				t.Errorf("%s[%d] = %g, want %g", name, i, g.Data[i], w[i])
			}
		}
	}
	if s := got["a"].Shape; len(s) != 2 || s[0] != 2 || s[1] != 2 {
		t.Errorf("a has shape %v", s)
	}

	// Rounding as in JavaScript: float64 q*scale + min, rounded once.
	q := &tfjsQuantization{Dtype: "uint8", Min: incF64(-0.7601351137254753), Scale: incF64(0.007836444471396652)}
	spec := tfjsWeightSpec{Name: "r", Shape: []int{256}, Dtype: "float32", Quantization: q}
	raw := make([]byte, 256)
	for i := range raw {
		raw[i] = byte(i)
	}
	vals, err := spec.dequantize(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if w := float32(float64(i)*(*q.Scale) + *q.Min); v != w || math.IsNaN(float64(v)) {
			t.Fatalf("q=%d: %g, want %g", i, v, w)
		}
	}

	errCases := []struct {
		shards map[string][]byte
		want   string
	}{
		{map[string][]byte{"s1": s1, "s2": s2[:len(s2)-1]}, "truncated"},
		{map[string][]byte{"s1": s1, "s2": append(append([]byte{}, s2...), 0)}, "shards hold 16 bytes, the manifest describes 15"},
		{map[string][]byte{"s1": s1}, `shard "s2" missing`},
	}
	for _, c := range errCases {
		if _, err := decodeTFJSWeights(m, c.shards, keep); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
	specErrs := []tfjsWeightSpec{
		{Name: "x", Shape: []int{1}, Dtype: "int32"},
		{Name: "x", Shape: []int{1}, Dtype: "float32", Quantization: &tfjsQuantization{Dtype: "float16"}},
		{Name: "x", Shape: []int{1}, Dtype: "float32", Quantization: &tfjsQuantization{Dtype: "uint8"}},
		{Name: "x", Shape: []int{-1}, Dtype: "float32"},
	}
	for _, s := range specErrs {
		m := &tfjsModel{WeightsManifest: []tfjsWeightGroup{{Paths: []string{"s"}, Weights: []tfjsWeightSpec{s}}}}
		if _, err := decodeTFJSWeights(m, map[string][]byte{"s": {1, 2, 3, 4}}, keep); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
}
