package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pk builds pickle bytes.
type pk struct{ b []byte }

func (p *pk) op(s string) *pk { p.b = append(p.b, s...); return p }

func (p *pk) str(s string) *pk {
	p.b = append(p.b, 'X')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
	return p
}

// int pushes v as LONG1 (any int64).
func (p *pk) int(v int64) *pk {
	p.b = append(p.b, 0x8a, 8)
	p.b = binary.LittleEndian.AppendUint64(p.b, uint64(v))
	return p
}

func (p *pk) ints(v ...int64) *pk {
	p.op("(")
	for _, x := range v {
		p.int(x)
	}
	return p.op("t")
}

// tensor pushes _rebuild_tensor_v2(storage key, offset 0, size, stride) on
// a FloatStorage of numel elements.
func (p *pk) tensor(key string, numel int64, size, stride []int64) *pk {
	p.op("ctorch._utils\n_rebuild_tensor_v2\n(")
	p.op("(").str("storage").op("ctorch\nFloatStorage\n").str(key).str("cpu").int(numel).op("tQ")
	p.int(0).ints(size...).ints(stride...).op("\x89ctorch\nOrderedDict\n)R")
	return p.op("tR")
}

// torchZip wraps a pickle and storages as a torch.save zip.
func torchZip(t testing.TB, pkl []byte, storages map[string][]byte, method uint16) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, b []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	add("archive/data.pkl", pkl)
	for k, v := range storages {
		add("archive/data/"+k, v)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func f32s(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// stateDict is {name: tensor} for each (name, size, stride), all on one
// storage "0" of the given floats.
func stateDict(data []float32, ts ...struct {
	name         string
	size, stride []int64
}) []byte {
	p := (&pk{}).op("\x80\x02}(")
	for _, x := range ts {
		p.str(x.name).tensor("0", int64(len(data)), x.size, x.stride)
	}
	return p.op("u.").b
}

type tdesc = struct {
	name         string
	size, stride []int64
}

func wantErr(t *testing.T, what string, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one with %q", what, subs)
		return
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q does not contain %q", what, err, s)
		}
	}
}

// TestTorchValidStateDict: the test builder makes files the reader
// accepts (so that the hostile cases below fail for the reason they test).
func TestTorchValidStateDict(t *testing.T) {
	z := torchZip(t, stateDict([]float32{1, 2, 3, 4, 5, 6},
		tdesc{"a", []int64{2, 3}, []int64{3, 1}}, tdesc{"b", []int64{3, 2}, []int64{1, 3}}, tdesc{"c", []int64{4}, []int64{0}}), map[string][]byte{"0": f32s(1, 2, 3, 4, 5, 6)}, zip.Store)
	got, err := DecodeTorch(z)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{"a": {1, 2, 3, 4, 5, 6}, "b": {1, 4, 2, 5, 3, 6}, "c": {1, 1, 1, 1}}
	for k, w := range want {
		if g := got[k]; g == nil || !slices.Equal(g.Data, w) {
			t.Errorf("%s = %+v, want %v", k, g, w)
		}
	}
	// With Expect, only the expected tensors are decoded.
	got, err = DecodeTorchWith(z, Options{Expect: []Expected{{"b", []int{3, 2}}}})
	if err != nil || len(got) != 1 || got["b"] == nil {
		t.Errorf("Expect b: %v, %v", got, err)
	}
}

// TestTorchHostileShapes: issue #13 items 5 and 6. An element count that
// overflows (2^62 x 3, stride 0) or is huge (100000 x 100000 on one float,
// stride 0) is an error naming the limit, before any allocation.
func TestTorchHostileShapes(t *testing.T) {
	one := map[string][]byte{"0": f32s(7)}
	z := torchZip(t, stateDict([]float32{7}, tdesc{"w", []int64{1 << 62, 3}, []int64{0, 0}}), one, zip.Store)
	_, err := DecodeTorch(z)
	wantErr(t, "2^62 x 3", err, "bad offset/size/stride")
	z = torchZip(t, stateDict([]float32{7}, tdesc{"w", []int64{1 << 30, 1 << 30, 4}, []int64{0, 0, 0}}), one, zip.Store)
	_, err = DecodeTorch(z)
	wantErr(t, "2^30 x 2^30 x 4", err, "weights.Limits.MaxTensorElements")
	z = torchZip(t, stateDict([]float32{7}, tdesc{"w", []int64{100000, 100000}, []int64{0, 0}}), one, zip.Store)
	_, err = DecodeTorch(z)
	wantErr(t, "100000 x 100000", err, "weights.Limits.MaxTensorElements")
	// Under the element limit, the architecture's shapes stop it first.
	z = torchZip(t, stateDict([]float32{7}, tdesc{"w", []int64{10000, 10000}, []int64{0, 0}}), one, zip.Store)
	_, err = DecodeTorchWith(z, Options{Expect: []Expected{{"w", []int{3, 3}}}, Arch: "net"})
	wantErr(t, "10000 x 10000 expected 3 x 3", err, "tensor w has shape [10000 10000], net needs [3 3]")
	// Many stride-0 views of one float: the total is bounded.
	z = torchZip(t, stateDict([]float32{7}, tdesc{"a", []int64{8}, []int64{0}}, tdesc{"b", []int64{8}, []int64{0}}), one, zip.Store)
	_, err = DecodeTorchWith(z, Options{Limits: Limits{MaxTotalElements: 10}})
	wantErr(t, "total", err, "weights.Limits.MaxTotalElements")
	// A view past the end of its storage.
	z = torchZip(t, stateDict([]float32{7}, tdesc{"w", []int64{2}, []int64{1}}), one, zip.Store)
	_, err = DecodeTorch(z)
	wantErr(t, "past the end", err, "reaches element 1 of a 1-element storage")
}

// TestTorchZipBomb: a storage entry is read only as far as the tensors
// decoded from it reach (a 2 MiB bomb behind a 1-element tensor costs
// nothing), a tensor that reaches past MaxFileBytes is an error naming the
// limit, and so is a data.pkl that decompresses past MaxPickleBytes.
func TestTorchZipBomb(t *testing.T) {
	big := make([]byte, 2<<20)
	z := torchZip(t, stateDict([]float32{7}, tdesc{"w", []int64{1}, []int64{1}}), map[string][]byte{"0": big}, zip.Deflate)
	if len(z) > 64<<10 {
		t.Fatalf("test zip is %d bytes, not a bomb", len(z))
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	got, err := DecodeTorch(z)
	runtime.ReadMemStats(&m1)
	if err != nil || len(got["w"].Data) != 1 {
		t.Fatalf("1-element tensor on a 2 MiB storage: %v, %v", got, err)
	}
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 1<<20 {
		t.Errorf("decoding one element of a 2 MiB storage allocated %d bytes", alloc)
	}
	p := (&pk{}).op("\x80\x02}").str("w").tensor("0", 1<<19, []int64{1 << 19}, []int64{1}).op("s.")
	z = torchZip(t, p.b, map[string][]byte{"0": big}, zip.Deflate)
	_, err = DecodeTorchWith(z, Options{Limits: Limits{MaxFileBytes: 1 << 20}})
	wantErr(t, "storage past the limit", err, "weights.Limits.MaxFileBytes", "storage 0")
	if got, err := DecodeTorch(z); err != nil || len(got["w"].Data) != 1<<19 {
		t.Errorf("the same file under the default limits: %v", err)
	}
	// A storage shorter than data.pkl says.
	p = (&pk{}).op("\x80\x02}").str("w").tensor("0", 8, []int64{8}, []int64{1}).op("s.")
	_, err = DecodeTorch(torchZip(t, p.b, map[string][]byte{"0": f32s(1, 2)}, zip.Store))
	wantErr(t, "short storage", err, "reaches element 7 of storage 0, which holds 2")
	pkl := append(bytes.Repeat([]byte("N0"), 1<<20), stateDict([]float32{7}, tdesc{"w", []int64{1}, []int64{1}})...)
	z = torchZip(t, pkl, map[string][]byte{"0": f32s(7)}, zip.Deflate)
	_, err = DecodeTorchWith(z, Options{Limits: Limits{MaxPickleBytes: 1 << 20}})
	wantErr(t, "pickle bomb", err, "weights.Limits.MaxPickleBytes", "data.pkl")
	if _, err := DecodeTorch(z); err != nil {
		t.Errorf("the same file under the default limits: %v", err)
	}
}

// TestTorchDeepAndWideDicts: 100,000 nested dicts, a dict that holds
// itself, and a dict shared exponentially often end in a clear error; a
// dict with 100,000 keys (some repeated) reads correctly.
func TestTorchDeepAndWideDicts(t *testing.T) {
	one := map[string][]byte{"0": f32s(7)}
	p := (&pk{}).op("\x80\x02}")
	const n = 100000
	for range n {
		p.str("k").op("}")
	}
	p.str("w").tensor("0", 1, []int64{1}, []int64{1}).op("s")
	p.op(strings.Repeat("s", n) + ".")
	_, err := DecodeTorch(torchZip(t, p.b, one, zip.Store))
	wantErr(t, "nested", err, "weights.Limits.MaxPickleDepth")

	// d = {}; d["d"] = d
	p = (&pk{}).op("\x80\x02}q\x00").str("d").op("h\x00s.")
	_, err = DecodeTorch(torchZip(t, p.b, one, zip.Store))
	wantErr(t, "cycle", err, "weights.Limits.MaxPickleDepth")

	// d0 = {"w": tensor}; d_k = {"a": d_{k-1}, "b": d_{k-1}}: 2^60 paths.
	p = (&pk{}).op("\x80\x02}").str("w").tensor("0", 1, []int64{1}, []int64{1}).op("sq\x00")
	for range 60 {
		p.op("0}(").str("a").op("h\x00").str("b").op("h\x00uq\x00")
	}
	p.op(".")
	_, err = DecodeTorch(torchZip(t, p.b, one, zip.Store))
	wantErr(t, "shared", err, "weights.Limits.MaxDictEntries")

	// 100,000 keys in one dict, then the first 1,000 again.
	p = (&pk{}).op("\x80\x02}(")
	key := func(i int) string { return "layer" + strconv.Itoa(i) + ".weight" }
	for i := range n {
		p.str(key(i)).tensor("0", 1, []int64{}, []int64{})
		if i%1000 == 999 {
			p.op("u(")
		}
	}
	for i := range 1000 {
		p.str(key(i)).tensor("0", 1, []int64{1}, []int64{0})
	}
	p.op("u.")
	got, err := DecodeTorch(torchZip(t, p.b, one, zip.Store))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || len(got[key(5)].Shape) != 1 || len(got[key(5000)].Shape) != 0 {
		t.Errorf("got %d tensors, %v %v", len(got), got[key(5)], got[key(5000)])
	}
}

// TestTextProtocolLinear: 200,000 text-protocol lines are read without
// copying the rest of the input per line (before: 74 s and O(n^2) bytes).
func TestTextProtocolLinear(t *testing.T) {
	p := (&pk{}).op("\x80\x02}")
	p.op(strings.Repeat("I12345\n0", 200000))
	p.str("w").tensor("0", 1, []int64{1}, []int64{1}).op("s.")
	z := torchZip(t, p.b, map[string][]byte{"0": f32s(7)}, zip.Store)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if _, err := DecodeTorch(z); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > 100*uint64(len(z)) {
		t.Errorf("reading a %d-byte file allocated %d bytes", len(z), alloc)
	}
}

// TestSafetensorsOverflow: issue #13 item 15, a shape whose element count
// overflows to 0 with no data.
func TestSafetensorsOverflow(t *testing.T) {
	hdr := `{"x":{"dtype":"F32","shape":[1073741824,1073741824,16],"data_offsets":[0,0]}}`
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(b, hdr...)
	_, _, err := DecodeSafetensors(b)
	wantErr(t, "overflow", err, "weights.Limits.MaxTensorElements", `"x"`)
	// With Expect, a wrong shape is reported before any data is decoded.
	st, _ := os.ReadFile("testdata/tiny.safetensors")
	e := loadExpected(t)
	var name string
	for k := range e.Safetensors {
		name = k
	}
	_, _, err = decodeSafetensors(st, Options{Expect: []Expected{{name, []int{99}}}})
	wantErr(t, "expect", err, "tensor "+name+" has shape", "the architecture needs [99]")
}

// TestFileLimits: errors name the file and the limit; only regular files
// are read.
func TestFileLimits(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bomb.pth")
	z := torchZip(t, stateDict([]float32{7}, tdesc{"w", []int64{100000, 100000}, []int64{0, 0}}), map[string][]byte{"0": f32s(7)}, zip.Store)
	os.WriteFile(p, z, 0o644)
	_, err := Open(p)
	wantErr(t, "Open", err, p, "weights.Limits.MaxTensorElements")
	_, err = OpenWith(p, Options{Limits: Limits{MaxFileBytes: 100}})
	wantErr(t, "OpenWith", err, p, "weights.Limits.MaxFileBytes")
	zero := filepath.Join(dir, "zero.pth")
	if err := os.Symlink("/dev/zero", zero); err == nil {
		_, err = Open(zero)
		wantErr(t, "/dev/zero", err, zero, "not a regular file")
	}
}
