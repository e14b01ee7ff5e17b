package safeio

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.bin")
	if err := os.WriteFile(p, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(p, Limit{Bytes: 5})
	if err != nil || string(b) != "hello" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	_, err = ReadFile(p, Limit{Bytes: 4, Name: "pkg.MaxX"})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "pkg.MaxX") || !strings.Contains(err.Error(), p) {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := ReadFile(dir, Limit{Bytes: 1 << 20}); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "folder") {
		t.Fatalf("folder: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), Limit{Bytes: 1}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

func TestReadAll(t *testing.T) {
	b, err := ReadAll(strings.NewReader("abc"), "image", Limit{Bytes: 3})
	if err != nil || string(b) != "abc" {
		t.Fatalf("ReadAll = %q, %v", b, err)
	}
	if _, err := ReadAll(strings.NewReader("abcd"), "image", Limit{Bytes: 3, Name: "L"}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "(L)") {
		t.Fatalf("over the limit: %v", err)
	}
}

// TestReadFileOneBuffer checks that ReadFile reads a file into the buffer sized for it, without copying it into a
// larger one, and that ReadAll of an unsized reader still gets all of a long input.
func TestReadFileOneBuffer(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.bin")
	data := []byte(strings.Repeat("0123456789", 100_000))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(p, Limit{Bytes: 1 << 30})
	if err != nil || string(b) != string(data) {
		t.Fatalf("ReadFile: %d bytes, %v", len(b), err)
	}
	if cap(b) != len(data)+1 {
		t.Errorf("ReadFile of %d bytes returned a buffer of capacity %d, want %d", len(data), cap(b), len(data)+1)
	}
	b, err = ReadAll(strings.NewReader(string(data)), "data", Limit{Bytes: int64(len(data))})
	if err != nil || string(b) != string(data) {
		t.Fatalf("ReadAll: %d bytes, %v", len(b), err)
	}
}

// TestFloats: Float32s and Float64s read little-endian values in place
// where the bytes are aligned (the slice shares them) and copy them where
// not, the same values either way, and panic on a length that is not a
// whole number of values.
func TestFloats(t *testing.T) {
	buf := make([]byte, 64) // room to shift the values by a byte
	checkFloats(t, buf, []float32{1.5, -2, float32(math.Inf(1)), 1e-40}, []int{0, 8, 1}, Float32s,
		func(b []byte, v float32) { binary.LittleEndian.PutUint32(b, math.Float32bits(v)) })
	checkFloats(t, buf, []float64{3.25, -1e300, math.SmallestNonzeroFloat64}, []int{0, 8, 4}, Float64s,
		func(b []byte, v float64) { binary.LittleEndian.PutUint64(b, math.Float64bits(v)) })
	if v, _ := Float32s(nil); v == nil || len(v) != 0 {
		t.Errorf("Float32s(nil) = %#v, want an empty slice", v)
	}
	defer func() {
		if recover() == nil {
			t.Error("Float32s of 6 bytes did not panic")
		}
	}()
	Float32s(buf[:6])
}

// checkFloats writes want at each offset of buf with put and reads it back
// with read: the values, shared exactly where the offset is a multiple of
// the value's size, and a write through a shared slice reaching the bytes.
func checkFloats[T float32 | float64](t *testing.T, buf []byte, want []T, offsets []int, read func([]byte) ([]T, bool), put func([]byte, T)) {
	t.Helper()
	size := int(unsafe.Sizeof(want[0]))
	for _, off := range offsets {
		b := buf[off : off+size*len(want)]
		for i, v := range want {
			put(b[size*i:], v)
		}
		got, shared := read(b)
		if !slices.Equal(got, want) || shared != (off%size == 0) {
			t.Fatalf("offset %d: %v, shared %v; want %v", off, got, shared, want)
		}
		got[0] = 7
		var seven [8]byte
		put(seven[:], 7)
		if written := string(b[:size]) == string(seven[:size]); written != shared {
			t.Errorf("offset %d: shared %v, but a write through the slice reached the bytes: %v", off, shared, written)
		}
	}
}
