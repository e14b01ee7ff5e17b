// Package safeio opens and reads input files that may be hostile or
// mistaken: only regular files are accepted (a folder, a device such as
// /dev/zero or a FIFO that would block is refused before it is opened), and
// a file larger than the caller's limit is refused before a byte is read.
package safeio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"unsafe"
)

// ErrNotRegular is wrapped by the error for anything but a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the error for a file over the size limit.
var ErrTooLarge = errors.New("file too large")

// Limit is a size limit and the name that errors give it, so that a user
// knows what to raise (for example "weights.Limits.MaxFileBytes"; an empty
// Name leaves it out).
type Limit struct {
	Bytes int64
	Name  string
}

func (l Limit) suffix() string {
	if l.Name == "" {
		return ""
	}
	return " (" + l.Name + ")"
}

// Open opens path for reading when it is a regular file (after following
// links) of at most limit.Bytes bytes, and returns it with its size. The
// file is checked with Stat before it is opened, so that a FIFO never
// blocks, and again once open, so that a file swapped in between is
// refused too. Errors name the file.
func Open(path string, limit Limit) (*os.File, int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, err // *PathError names the file
	}
	if err := check(path, fi, limit); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	fi2, err := f.Stat()
	if err == nil && !os.SameFile(fi, fi2) {
		err = fmt.Errorf("%s: changed while being opened", path)
	}
	if err == nil {
		err = check(path, fi2, limit)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi2.Size(), nil
}

func check(path string, fi os.FileInfo, limit Limit) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, Kind(fi.Mode()))
	}
	if fi.Size() > limit.Bytes {
		return fmt.Errorf("%s: %w: %d bytes, more than the limit of %d%s", path, ErrTooLarge, fi.Size(), limit.Bytes, limit.suffix())
	}
	return nil
}

// ReadFile reads the regular file at path whole, as Open checks it, and
// fails when the file grows past the limit while it is read.
func ReadFile(path string, limit Limit) ([]byte, error) {
	f, size, err := Open(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 0, size+1)
	b, err = readAll(f, b, limit.Bytes+1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit.Bytes {
		return nil, fmt.Errorf("%s: %w: grew past the limit of %d bytes while being read%s", path, ErrTooLarge, limit.Bytes, limit.suffix())
	}
	return b, nil
}

// ReadAll reads r up to limit.Bytes bytes, and fails when there is more;
// what names the data in errors (for example "image").
func ReadAll(r io.Reader, what string, limit Limit) ([]byte, error) {
	b, err := readAll(r, nil, limit.Bytes+1)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit.Bytes {
		return nil, fmt.Errorf("%w: %s of more than %d bytes%s", ErrTooLarge, what, limit.Bytes, limit.suffix())
	}
	return b, nil
}

// readAll appends at most max bytes of r to b. It reads into b's spare
// capacity first and grows b only when that is full, so that a b sized for
// the whole input (ReadFile) is never copied; bytes.Buffer.ReadFrom would
// double it for want of 512 spare bytes at the end.
func readAll(r io.Reader, b []byte, max int64) ([]byte, error) {
	lr := io.LimitReader(r, max)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// Kind names the kind of file of mode m for messages: "folder", "named pipe
// (FIFO)", "device", "socket", "regular file" or "irregular file".
func Kind(m os.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return "regular file"
	case t&os.ModeDir != 0:
		return "folder"
	case t&os.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case t&os.ModeDevice != 0:
		return "device"
	case t&os.ModeSocket != 0:
		return "socket"
	}
	return "irregular file"
}

// Float32s returns the little-endian float32 values that b holds: as a
// slice sharing b's memory (shared) where this CPU is little-endian and b is
// 4-byte aligned, else as a copy. b's length must be a multiple of 4. For
// bytes read into a buffer of one's own (ReadFile), this reads arrays in
// place instead of copying them.
func Float32s(b []byte) (v []float32, shared bool) {
	return floats(b, func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) })
}

// Float64s is Float32s for float64 values (8-byte alignment to share).
func Float64s(b []byte) (v []float64, shared bool) {
	return floats(b, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) })
}

// floats is Float32s and Float64s; decode reads one value from its bytes
// where the CPU is big-endian.
func floats[T float32 | float64](b []byte, decode func([]byte) T) (v []T, shared bool) {
	size := int(unsafe.Sizeof(T(0)))
	if len(b)%size != 0 {
		panic(fmt.Sprintf("safeio: %d bytes are not a whole number of %d-byte values", len(b), size))
	}
	if len(b) == 0 {
		return []T{}, false
	}
	if littleEndian && uintptr(unsafe.Pointer(&b[0]))%uintptr(size) == 0 {
		return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/size), true
	}
	v = make([]T, len(b)/size)
	if littleEndian {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(b)), b)
		return v, false
	}
	for i := range v {
		v[i] = decode(b[size*i:])
	}
	return v, false
}

// littleEndian says whether this CPU stores numbers little-endian, as the
// files crd reads do.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
