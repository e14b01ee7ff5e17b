package weights

import (
	"archive/zip"
	"os"
	"regexp"
	"strings"
	"testing"
)

// fuzzLimits keep each fuzzed file small and fast.
var fuzzLimits = Limits{MaxFileBytes: 1 << 20, MaxPickleBytes: 1 << 16, MaxTensorElements: 1 << 16, MaxTotalElements: 1 << 18, MaxDictEntries: 1 << 12}

// checkDecoded fails t unless every tensor has as many values as its shape
// says.
func checkDecoded(t *testing.T, ts Tensors) {
	for name, x := range ts {
		if n, err := countElements(x.Shape, 1<<62); err != nil || n != int64(len(x.Data)) {
			t.Fatalf("%s: shape %v with %d values", name, x.Shape, len(x.Data))
		}
	}
}

// FuzzDecodeTorch: any bytes give tensors or an error, never a panic.
func FuzzDecodeTorch(f *testing.F) {
	if b, err := os.ReadFile("testdata/tiny.pth"); err == nil {
		f.Add(b)
	}
	f.Add(torchZip(f, stateDict([]float32{1, 2, 3, 4, 5, 6}, tdesc{"a", []int64{2, 3}, []int64{3, 1}}), map[string][]byte{"0": f32s(1, 2, 3, 4, 5, 6)}, zip.Store))
	f.Add(torchZip(f, stateDict([]float32{7}, tdesc{"w", []int64{1}, []int64{0}}), map[string][]byte{"0": f32s(7)}, zip.Deflate))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := DecodeTorchWith(b, Options{Limits: fuzzLimits})
		if err != nil {
			return
		}
		checkDecoded(t, ts)
	})
}

// FuzzTorchPickle fuzzes the data.pkl of a well-formed zip (mutating the
// zip itself mostly breaks its CRCs): the storage and tensor hooks and the
// tensor collection must give tensors or an error, never a panic.
func FuzzTorchPickle(f *testing.F) {
	if zr, err := zip.OpenReader("testdata/tiny.pth"); err == nil {
		for _, e := range zr.File {
			if b, err := readZipFile(e, 1<<20, "test"); err == nil && strings.HasSuffix(e.Name, "data.pkl") {
				f.Add(b)
			}
		}
		zr.Close()
	}
	f.Add(stateDict([]float32{1, 2, 3, 4, 5, 6}, tdesc{"a", []int64{2, 3}, []int64{3, 1}}, tdesc{"b", []int64{3}, []int64{0}}))
	storages := map[string][]byte{"0": f32s(1, 2, 3, 4, 5, 6), "1": f32s(7)}
	f.Fuzz(func(t *testing.T, pkl []byte) {
		z := torchZip(t, pkl, storages, zip.Store)
		ts, err := DecodeTorchWith(z, Options{Limits: fuzzLimits})
		if err != nil {
			return
		}
		checkDecoded(t, ts)
	})
}

// FuzzDecodeSafetensors: any bytes give tensors or an error; tensors
// decoded match their shapes, and re-encoding them round-trips.
func FuzzDecodeSafetensors(f *testing.F) {
	if b, err := os.ReadFile("testdata/tiny.safetensors"); err == nil {
		f.Add(b)
	}
	if b, err := EncodeSafetensors(Tensors{"a": {Shape: []int{2}, Data: []float32{1, 2}}}, map[string]string{"k": "v"}); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, _, err := decodeSafetensors(b, Options{Limits: fuzzLimits})
		if err != nil {
			return
		}
		checkDecoded(t, ts)
		if _, ok := ts["__metadata__"]; ok {
			return
		}
		enc, err := EncodeSafetensors(ts, nil)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		if _, _, err := DecodeSafetensors(enc); err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
	})
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// FuzzParseSidecar: a sidecar parses to 64 lower-case hex digits or is an
// error.
func FuzzParseSidecar(f *testing.F) {
	f.Add([]byte(SHA256(nil) + "  x.safetensors\n"))
	f.Add([]byte("ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789 *f\n"))
	f.Add([]byte("  \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseSidecar(b)
		if err == nil && !hex64.MatchString(h) {
			t.Fatalf("ParseSidecar(%q) = %q", b, h)
		}
	})
}

// TestParseSidecar: sha256sum lines parse, upper case is lowered, and a
// hash that is not hexadecimal is malformed (it used to read as a
// mismatch).
func TestParseSidecar(t *testing.T) {
	h := SHA256([]byte("x"))
	for in, want := range map[string]string{h + "  f\n": h, strings.ToUpper(h) + " *f": h} {
		if got, err := ParseSidecar([]byte(in)); err != nil || got != want {
			t.Errorf("ParseSidecar(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "  \n", h[:63], strings.Repeat("g", 64), h + strings.Repeat(" ", maxSidecar)} {
		if _, err := ParseSidecar([]byte(in)); err == nil || !strings.Contains(err.Error(), "malformed SHA-256 sidecar") {
			t.Errorf("ParseSidecar(%q): %v", in, err)
		}
	}
}
