package modelfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func sample() *File {
	f := &File{
		Header: json.RawMessage(`{"method":"crd","backbone":"wide_resnet50_2","layers":["layer2","layer3"],` +
			`"preprocess":{"resize":256,"crop":224,"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]},` +
			`"d":3,"lambda":0.001,"lambda_mode":"relative","lambda_abs":0.25,"score":"residual",` +
			`"num_images":2,"num_patches":10,"calibration":{"image_threshold":1.5,"image_method":"max","held_out":4}}`),
		Arrays: []Array{
			{Name: "M", Shape: []int{3, 3}, F32: []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.125, 7, 8, 9}},
			{Name: "G", Shape: []int{2, 2}, F64: []float64{math.Pi, math.NaN(), -1e-300, 1e300}},
			{Name: "scalar", Shape: []int{}, F64: []float64{42}},
			{Name: "empty", Shape: []int{0, 5}, F32: []float32{}},
		},
	}
	return f
}

func write(t *testing.T, f *File) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.crd")
	if err := Write(path, f); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func sameBits(a, b Array) bool {
	if a.Name != b.Name || !reflect.DeepEqual(a.Shape, b.Shape) || len(a.F32) != len(b.F32) || len(a.F64) != len(b.F64) ||
		(a.F32 == nil) != (b.F32 == nil) || (a.F64 == nil) != (b.F64 == nil) {
		return false
	}
	for i := range a.F32 {
		if math.Float32bits(a.F32[i]) != math.Float32bits(b.F32[i]) {
			return false
		}
	}
	for i := range a.F64 {
		if math.Float64bits(a.F64[i]) != math.Float64bits(b.F64[i]) {
			return false
		}
	}
	return true
}

func TestRoundTrip(t *testing.T) {
	f := sample()
	path, _ := write(t, f)
	g, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Header, g.Header) || g.Version != Version {
		t.Fatalf("header (version %d): got %s\nwant %s", g.Version, g.Header, f.Header)
	}
	if len(g.Arrays) != len(f.Arrays) {
		t.Fatalf("got %d arrays, want %d", len(g.Arrays), len(f.Arrays))
	}
	for i := range f.Arrays {
		if !sameBits(f.Arrays[i], g.Arrays[i]) {
			t.Fatalf("array %d: got %+v want %+v", i, g.Arrays[i], f.Arrays[i])
		}
	}
	a, err := g.Array("G")
	if err != nil || a.F64[0] != math.Pi {
		t.Fatalf("Array(G) = %v, %v", a, err)
	}
	if _, err := g.Array("nope"); !errors.Is(err, ErrNoArray) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("missing array: %v", err)
	}
	// No temporary file is left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want 1", len(ents))
	}
}

func TestWriteReplacesAtomically(t *testing.T) {
	f := sample()
	path, _ := write(t, f)
	f.Header = json.RawMessage(`{"d":99}`)
	if err := Write(path, f); err != nil {
		t.Fatal(err)
	}
	g, err := Read(path)
	if err != nil || string(g.Header) != `{"d":99}` {
		t.Fatalf("got %v, %v", g, err)
	}
	// A bad array leaves the old file in place.
	f.Arrays[0].Shape = []int{2, 2}
	if err := Write(path, f); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("bad shape: err = %v", err)
	}
	if _, err := Read(path); err != nil {
		t.Fatal(err)
	}
}

func TestWriteRejectsBadArrays(t *testing.T) {
	for name, a := range map[string]Array{
		"no name":   {Shape: []int{1}, F32: []float32{1}},
		"both":      {Name: "x", Shape: []int{1}, F32: []float32{1}, F64: []float64{1}},
		"shape":     {Name: "x", Shape: []int{2}, F32: []float32{1}},
		"negative":  {Name: "x", Shape: []int{-1, -1}, F32: []float32{1}},
		"high rank": {Name: "x", Shape: []int{1, 1, 1, 1, 1, 1, 1, 1, 1}, F32: []float32{1}},
	} {
		if _, err := Encode(&File{Arrays: []Array{a}}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// expectErr reads path and checks that the error wraps want and names path.
func expectErr(t *testing.T, path string, want error, what string) {
	t.Helper()
	_, err := Read(path)
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("%s: error %q does not name the file", what, err)
	}
	for _, other := range []error{ErrNotModel, ErrVersion, ErrTruncated, ErrChecksum, ErrMalformed} {
		if other != want && errors.Is(err, other) {
			t.Fatalf("%s: error %v also matches %v", what, err, other)
		}
	}
}

func TestTruncated(t *testing.T) {
	path, b := write(t, sample())
	for _, n := range []int{0, 1, 7, 8, 12, 20, 23, 24, 30, 100, len(b) / 2, len(b) - 33, len(b) - 32, len(b) - 1} {
		if err := os.WriteFile(path, b[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		expectErr(t, path, ErrTruncated, "truncated at "+strconv.Itoa(n))
	}
}

func TestBitFlips(t *testing.T) {
	path, b := write(t, sample())
	for off := 0; off < len(b); off += 7 {
		for _, bit := range []uint{0, 5} {
			c := append([]byte(nil), b...)
			c[off] ^= 1 << bit
			if err := os.WriteFile(path, c, 0o644); err != nil {
				t.Fatal(err)
			}
			want := ErrChecksum
			if off < len(Magic) {
				want = ErrNotModel
			}
			expectErr(t, path, want, "bit "+strconv.Itoa(int(bit))+" flipped at "+strconv.Itoa(off))
		}
	}
}

// rewrite applies edit to a valid file and then recomputes both checksums,
// so that only the edit is wrong.
func rewrite(b []byte, edit func([]byte) []byte) []byte {
	c := edit(append([]byte(nil), b...))
	le := binary.LittleEndian
	le.PutUint64(c[12:], uint64(len(c)))
	le.PutUint32(c[20:], crc32.ChecksumIEEE(c[:20]))
	sum := sha256.Sum256(c[:len(c)-32])
	copy(c[len(c)-32:], sum[:])
	return c
}

func TestWrongVersion(t *testing.T) {
	path, b := write(t, sample())
	for _, v := range []uint32{0, Version + 1} {
		c := rewrite(b, func(c []byte) []byte { binary.LittleEndian.PutUint32(c[8:], v); return c })
		os.WriteFile(path, c, 0o644)
		want := fmt.Sprintf("version %d", v)
		expectErr(t, path, ErrVersion, want)
		_, err := Read(path)
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not give the version", err)
		}
	}
}

// TestOlderVersionReads: a version 1 file (no position normalisation) still
// loads, with its header intact.
func TestOlderVersionReads(t *testing.T) {
	path, b := write(t, sample())
	c := rewrite(b, func(c []byte) []byte { binary.LittleEndian.PutUint32(c[8:], MinVersion); return c })
	os.WriteFile(path, c, 0o644)
	f, err := Read(path)
	if err != nil {
		t.Fatalf("version %d file: %v", MinVersion, err)
	}
	if !bytes.Equal(f.Header, sample().Header) || len(f.Arrays) != len(sample().Arrays) || f.Version != MinVersion {
		t.Fatalf("version %d file read back as %+v", MinVersion, f.Header)
	}
}

func TestBadMagic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.png")
	os.WriteFile(path, []byte("\x89PNG\r\n\x1a\n rest of an image file"), 0o644)
	expectErr(t, path, ErrNotModel, "png")
	os.WriteFile(path, []byte("hi"), 0o644)
	expectErr(t, path, ErrNotModel, "short text")
}

func TestTrailingBytes(t *testing.T) {
	path, b := write(t, sample())
	os.WriteFile(path, append(b, 0), 0o644)
	expectErr(t, path, ErrMalformed, "trailing byte")
}

func TestMalformedButChecksummed(t *testing.T) {
	path, b := write(t, sample())
	hlen := int(binary.LittleEndian.Uint32(b[24:]))
	arrays := 24 + 4 + hlen // offset of the array count
	cases := map[string]func([]byte) []byte{
		"bad json":        func(c []byte) []byte { c[28] = '!'; return c },
		"header too long": func(c []byte) []byte { binary.LittleEndian.PutUint32(c[24:], 1<<31); return c },
		"huge count":      func(c []byte) []byte { binary.LittleEndian.PutUint32(c[arrays:], 1<<31); return c },
		"bad dtype":       func(c []byte) []byte { c[arrays+4+2+1] = 9; return c },
		"huge rank":       func(c []byte) []byte { c[arrays+4+2+1+1] = 200; return c },
		"huge dim": func(c []byte) []byte {
			binary.LittleEndian.PutUint64(c[arrays+4+2+1+2:], 1<<62)
			return c
		},
		"dims overflow": func(c []byte) []byte {
			binary.LittleEndian.PutUint64(c[arrays+4+2+1+2:], 1<<40)
			binary.LittleEndian.PutUint64(c[arrays+4+2+1+2+8:], 1<<40)
			return c
		},
		"huge dim after a zero dim": func(c []byte) []byte {
			// The fourth array, "empty", has shape [0, 5].
			off := bytes.Index(c, []byte("empty")) + len("empty") + 2
			binary.LittleEndian.PutUint64(c[off:], 0)
			binary.LittleEndian.PutUint64(c[off+8:], 1<<63+5)
			return c
		},
		"duplicate name": func(c []byte) []byte {
			// Name length 1, "G", dtype float64 becomes a second "M".
			copy(c[bytes.Index(c, []byte("\x01\x00G\x02")):], "\x01\x00M\x02")
			return c
		},
		"fewer arrays": func(c []byte) []byte { c[arrays] = 3; return c },
		"more arrays":  func(c []byte) []byte { c[arrays] = 5; return c },
		"empty name":   func(c []byte) []byte { binary.LittleEndian.PutUint16(c[arrays+4:], 0); return c },
	}
	for name, edit := range cases {
		os.WriteFile(path, rewrite(b, edit), 0o644)
		expectErr(t, path, ErrMalformed, name)
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.crd")
	_, err := Read(path)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v", err)
	}
}

func TestHeaderMustBeObject(t *testing.T) {
	for _, h := range []string{"[1]", "null", "3", `{"a":`} {
		if _, err := Encode(&File{Header: json.RawMessage(h)}); err == nil {
			t.Errorf("header %s: no error", h)
		}
	}
	b, err := Encode(&File{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(b)
	if err != nil || string(f.Header) != "{}" {
		t.Fatalf("empty header read back as %s, %v", f.Header, err)
	}
}

func BenchmarkEncodeDecode(b *testing.B) {
	d := 1536
	f := &File{Arrays: []Array{
		{Name: "M", Shape: []int{d, d}, F32: make([]float32, d*d)},
		{Name: "G", Shape: []int{d, d}, F64: make([]float64, d*d)},
	}}
	b.SetBytes(int64(12 * d * d))
	for b.Loop() {
		buf, err := Encode(f)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOnlyRegularFiles: a folder, a device or a FIFO is refused before it is
// read (a FIFO would block forever, /dev/zero would never end).
func TestOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.crd")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Skip(err)
	}
	fifo := filepath.Join(dir, "fifo.crd")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	for _, p := range []string{zero, fifo, dir} {
		_, err := Read(p)
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: %v", p, err)
		}
	}
}
