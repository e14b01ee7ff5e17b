package safeio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
