package weights

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type expTensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type expected struct {
	Pth         map[string]expTensor `json:"pth"`
	Safetensors map[string]expTensor `json:"safetensors"`
	Meta        map[string]string    `json:"safetensors_meta"`
}

func loadExpected(t *testing.T) expected {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var e expected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func compare(t *testing.T, got Tensors, want map[string]expTensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d tensors %v, want %d", len(got), got.Names(), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("missing tensor %s", name)
			continue
		}
		if !slices.Equal(g.Shape, w.Shape) {
			t.Errorf("%s: shape %v, want %v", name, g.Shape, w.Shape)
			continue
		}
		for i, v := range w.Data {
			if float32(v) != g.Data[i] {
				t.Errorf("%s[%d] = %v, want %v", name, i, g.Data[i], float32(v))
			}
		}
	}
}

func TestReadTorchFixture(t *testing.T) {
	e := loadExpected(t)
	got, err := ReadTorch("testdata/tiny.pth")
	if err != nil {
		t.Fatal(err)
	}
	compare(t, got, e.Pth)
}

func TestReadSafetensorsFixture(t *testing.T) {
	e := loadExpected(t)
	got, meta, err := ReadSafetensorsMeta("testdata/tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	compare(t, got, e.Safetensors)
	for k, v := range e.Meta {
		if meta[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, meta[k], v)
		}
	}
}

func TestOpenDetectsFormat(t *testing.T) {
	e := loadExpected(t)
	a, err := Open("testdata/tiny.pth")
	if err != nil {
		t.Fatal(err)
	}
	compare(t, a, e.Pth)
	b, err := Open("testdata/tiny.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	compare(t, b, e.Safetensors)
}

func TestSafetensorsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := Tensors{
		"a":      {Shape: []int{2, 3}, Data: []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -1e-30}},
		"scalar": {Shape: []int{}, Data: []float32{42}},
		"empty":  {Shape: []int{0, 4}, Data: []float32{}},
	}
	p := filepath.Join(dir, "x.safetensors")
	if err := WriteSafetensors(p, in, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	out, meta, err := ReadSafetensorsMeta(p)
	if err != nil {
		t.Fatal(err)
	}
	if meta["k"] != "v" {
		t.Errorf("meta = %v", meta)
	}
	for name, w := range in {
		g := out[name]
		if g == nil || !slices.Equal(g.Shape, w.Shape) || len(g.Data) != len(w.Data) {
			t.Fatalf("%s: got %+v want %+v", name, g, w)
		}
		for i := range w.Data {
			if g.Data[i] != w.Data[i] {
				t.Errorf("%s[%d] = %v want %v", name, i, g.Data[i], w.Data[i])
			}
		}
	}
	// The header is padded so that data starts 8-byte aligned.
	b, _ := os.ReadFile(p)
	if n := int(b[0]) | int(b[1])<<8; (8+n)%8 != 0 {
		t.Errorf("data offset %d not aligned", 8+n)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want 1", len(ents))
	}
}

func TestFloat16(t *testing.T) {
	cases := map[uint16]float32{
		0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: 5.960464477539063e-08, 0x0400: 6.103515625e-05,
		0x8000: float32(math.Copysign(0, -1)), 0x3555: 0.333251953125,
	}
	for h, want := range cases {
		if got := Float16ToFloat32(h); got != want || math.Signbit(float64(got)) != math.Signbit(float64(want)) {
			t.Errorf("Float16ToFloat32(%#04x) = %v, want %v", h, got, want)
		}
	}
	if !math.IsInf(float64(Float16ToFloat32(0xfc00)), -1) || !math.IsNaN(float64(Float16ToFloat32(0x7e00))) {
		t.Error("inf/nan")
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	pth, _ := os.ReadFile("testdata/tiny.pth")
	st, _ := os.ReadFile("testdata/tiny.safetensors")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	random := make([]byte, 1000)
	for i := range random {
		random[i] = byte(i*7919 + i*i*31)
	}
	legacy := append(append([]byte{}, legacyMagic...), 0, 1, 2, 3)
	cases := []struct {
		name, path, want string
		read             func(string) (Tensors, error)
	}{
		{"missing", filepath.Join(dir, "nope.pth"), "no such file", Open},
		{"random", write("random.bin", random), "unrecognised weight file", Open},
		{"random as pth", write("random.pth", random), "not a torch.save zip", ReadTorch},
		{"truncated zip", write("trunc.pth", pth[:len(pth)/2]), "random.pth", nil},
		{"legacy", write("legacy.pth", legacy), "legacy (pre-1.6)", Open},
		{"truncated safetensors", write("trunc.safetensors", st[:len(st)-10]), "outside the", Open},
		{"short safetensors", write("short.safetensors", st[:5]), "too short", ReadSafetensors},
		{"huge header", write("huge.safetensors", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{'}), "header length", Open},
		{"bad json", write("badjson.safetensors", append([]byte{4, 0, 0, 0, 0, 0, 0, 0}, []byte("{xx}")...)), "bad JSON", Open},
	}
	for _, c := range cases {
		if c.read == nil {
			// A truncated zip: any clear error from Open, naming the file.
			_, err := Open(c.path)
			if err == nil || !strings.Contains(err.Error(), c.path) {
				t.Errorf("%s: err = %v", c.name, err)
			}
			continue
		}
		_, err := c.read(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
		if err != nil && c.name != "missing" && !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: err %v does not name the file", c.name, err)
		}
	}
	// Corrupting every byte of the pickle in turn must never panic.
	for i := 0; i < len(pth); i += 3 {
		b := append([]byte{}, pth...)
		b[i] ^= 0x5a
		_, _ = DecodeTorch(b)
	}
	for i := 0; i < len(st); i++ {
		b := append([]byte{}, st...)
		b[i] ^= 0x5a
		_, _, _ = DecodeSafetensors(b)
	}
}

func TestCacheAndVerify(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(CacheEnv, dir)
	d, err := CacheDir()
	if err != nil || d != dir {
		t.Fatalf("CacheDir = %q, %v", d, err)
	}
	p, err := CachePath("net")
	if err != nil || p != filepath.Join(dir, "weights", "net.safetensors") {
		t.Fatalf("CachePath = %q, %v", p, err)
	}
	in := Tensors{"w": {Shape: []int{3}, Data: []float32{1, 2, 3}}}
	if err := WriteVerified(p, in, nil); err != nil {
		t.Fatal(err)
	}
	if err := VerifyFile(p); err != nil {
		t.Fatal(err)
	}
	got, _, err := ReadVerified(p)
	if err != nil || got["w"].Data[2] != 3 {
		t.Fatalf("ReadVerified: %v %v", got, err)
	}
	// Flip one data byte: verification fails with a clear message.
	b, _ := os.ReadFile(p)
	b[len(b)-1] ^= 1
	os.WriteFile(p, b, 0o644)
	if err := VerifyFile(p); err == nil || !strings.Contains(err.Error(), "SHA-256 mismatch") {
		t.Errorf("corrupt: err = %v", err)
	}
	if _, _, err := ReadVerified(p); err == nil {
		t.Error("ReadVerified accepted a corrupt file")
	}
	if _, err := OpenWith(p, Options{Verify: true}); err == nil || !strings.Contains(err.Error(), "SHA-256 mismatch") {
		t.Errorf("OpenWith Verify, corrupt: err = %v", err)
	}
	if _, err := OpenWith(p, Options{}); err != nil {
		t.Errorf("OpenWith without Verify, corrupt data byte: %v", err)
	}
	os.Remove(SidecarPath(p))
	if err := VerifyFile(p); err == nil || !strings.Contains(err.Error(), "sidecar") {
		t.Errorf("no sidecar: err = %v", err)
	}
	if _, err := OpenWith(p, Options{Verify: true}); !errors.Is(err, ErrNoSidecar) {
		t.Errorf("OpenWith Verify, no sidecar: err = %v", err)
	}
	if err := WriteVerified(p, in, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := OpenWith(p, Options{Verify: true}); err != nil || !slices.Equal(got["w"].Data, in["w"].Data) {
		t.Errorf("OpenWith Verify: %v %v", got, err)
	}
}

// TestOpenAlignment: OpenWith reads float32 tensors in place from its own
// buffer where they are 4-byte aligned and copies them out where not; the
// values are the same either way, and a tensor does not see a later change
// of another file's buffer.
func TestOpenAlignment(t *testing.T) {
	// "h": 3 float16 values at bytes 0-5; "f": 2 float32 at 6-13 (not
	// aligned); "g": 2 float32 at 16-23 (aligned, after 2 pad bytes of "p").
	hdr := `{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},` +
		`"f":{"dtype":"F32","shape":[2],"data_offsets":[6,14]},` +
		`"p":{"dtype":"F16","shape":[1],"data_offsets":[14,16]},` +
		`"g":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}`
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	var b []byte
	b = binary.LittleEndian.AppendUint64(b, uint64(len(hdr)))
	b = append(b, hdr...)
	b = binary.LittleEndian.AppendUint16(b, 0x3c00) // 1
	b = binary.LittleEndian.AppendUint16(b, 0xc000) // -2
	b = binary.LittleEndian.AppendUint16(b, 0x3800) // 0.5
	for _, v := range []float32{1.25, -3e-40} {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	b = binary.LittleEndian.AppendUint16(b, 0)
	for _, v := range []float32{float32(math.Inf(-1)), 7} {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	p := filepath.Join(t.TempDir(), "a.safetensors")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := OpenWith(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{"h": {1, -2, 0.5}, "f": {1.25, -3e-40}, "p": {0}, "g": {float32(math.Inf(-1)), 7}}
	for name, w := range want {
		if g := got[name]; g == nil || !slices.Equal(g.Data, w) {
			t.Errorf("%s: got %v, want %v", name, g, w)
		}
	}
	// DecodeSafetensors copies: changing the caller's bytes afterwards
	// does not change its tensors.
	dec, _, err := DecodeSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	if !slices.Equal(dec["g"].Data, want["g"]) || !slices.Equal(dec["f"].Data, want["f"]) {
		t.Errorf("DecodeSafetensors' tensors changed with the caller's bytes: %v %v", dec["f"].Data, dec["g"].Data)
	}
}

func TestCheckShapes(t *testing.T) {
	ts := Tensors{"a": {Shape: []int{2, 3}}, "b": {Shape: []int{4}}}
	if err := CheckShapes(ts, map[string][]int{"a": {2, 3}, "b": {4}}); err != nil {
		t.Error(err)
	}
	err := CheckShapes(ts, map[string][]int{"a": {2, 3}, "b": {5}})
	if err == nil || !strings.Contains(err.Error(), "tensor b has shape [4], the architecture needs [5]") {
		t.Errorf("err = %v", err)
	}
	err = CheckShapes(ts, map[string][]int{"c": {1}})
	if err == nil || !strings.Contains(err.Error(), "tensor c (shape [1]) is missing") {
		t.Errorf("err = %v", err)
	}
}
