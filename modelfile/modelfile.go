// Package modelfile is the versioned, checksummed container that trained
// models are saved in: a header of JSON bytes followed by named float32 or
// float64 arrays. It is a pure container: what the header's fields mean, and
// which arrays a model needs, is decided by the package that writes the
// model (package detector), not here.
//
// Layout of format version 1 (all integers little-endian):
//
//	prefix   "CRDMODEL" (8 bytes), uint32 format version, uint64 total file
//	         length, uint32 CRC-32 (IEEE) of the preceding 20 bytes
//	header   uint32 length, then the header: one JSON object
//	arrays   uint32 count, then for each array: uint16 name length, name,
//	         uint8 dtype (1 = float32, 2 = float64), uint8 rank, rank x uint64
//	         dimensions, then the elements in row-major order
//	trailer  SHA-256 of every byte before it (32 bytes)
//
// The prefix is checked on its own so that a truncated file (shorter than the
// length it declares) is told apart from a corrupted one (a checksum
// mismatch), and so that a future format version is reported as such. Every
// length read from a file is bounded by the file's size before anything is
// allocated, so a corrupt or hostile file gives an error, never a panic or an
// absurd allocation.
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
	"slices"

	"github.com/crd-ad/crd/internal/atomicfile"
	"github.com/crd-ad/crd/internal/safeio"
)

// Magic opens every model file.
const Magic = "CRDMODEL"

// Version is the format version that Write produces. Read accepts MinVersion
// to Version.
//
// Version 2 added the calibration's per-position normalisation (the header's
// calibration.position_mean): scores are divided per grid position by the
// mean held-out normal score there, so thresholds of a version 2 file are on
// that scale and an older reader must not use them. Version 1 files have
// raw-score thresholds and still load. Version 3 added a normalisation of
// the image score apart from the map's (calibration.image_norm): an older
// reader would compare the map's maximum with an image threshold on another
// scale. Version 4 added the header's tiling (a tiled model scores tiles of
// the scaled image; an older reader would ignore it and squash the image).
// The container layout and checksums are the same in all four.
const Version uint32 = 4

// MinVersion is the oldest format version Read accepts.
const MinVersion uint32 = 1

const (
	prefixLen  = len(Magic) + 4 + 8 + 4
	trailerLen = sha256.Size
	dtypeF32   = 1
	dtypeF64   = 2
	maxRank    = 8
	maxNameLen = 1 << 10
)

// Errors that Read wraps, for use with errors.Is. The error text adds the file
// name and the details.
var (
	// ErrNotModel: the file does not start with the model-file magic.
	ErrNotModel = errors.New("not a crd model file")
	// ErrVersion: the file has a format version this build cannot read.
	ErrVersion = errors.New("unsupported model file format version")
	// ErrTruncated: the file is shorter than the length it declares.
	ErrTruncated = errors.New("model file is truncated")
	// ErrChecksum: the bytes do not match their checksum (the file is
	// corrupted).
	ErrChecksum = errors.New("model file is corrupted (checksum mismatch)")
	// ErrMalformed: the checksum is valid but the content does not parse
	// (a header or array that is not well formed).
	ErrMalformed = errors.New("malformed model file")
	// ErrNoArray: File.Array found no array of that name.
	ErrNoArray = errors.New("model file has no such array")
)

// Array is a named dense array. Exactly one of F32 and F64 holds the
// elements, row-major, and the product of Shape equals their number.
type Array struct {
	Name  string
	Shape []int
	F32   []float32
	F64   []float64
}

// Len is the number of elements the shape describes.
func (a *Array) Len() int {
	n := 1
	for _, s := range a.Shape {
		n *= s
	}
	return n
}

// File is a model file's content: the metadata header and the arrays, in the
// order they are stored.
type File struct {
	// Version is the format version the file was read with (Decode sets
	// it; Encode always writes Version).
	Version uint32
	// Header is the metadata as one JSON object. Encode writes "{}" for an
	// empty header.
	Header json.RawMessage
	Arrays []Array
}

// Array returns the array called name, or an error wrapping ErrNoArray that
// names it.
func (f *File) Array(name string) (*Array, error) {
	for i := range f.Arrays {
		if f.Arrays[i].Name == name {
			return &f.Arrays[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNoArray, name)
}

// Encode returns the file's bytes in the current format version.
func Encode(f *File) ([]byte, error) {
	hdr := []byte(f.Header)
	if len(hdr) == 0 {
		hdr = []byte("{}")
	}
	if err := checkHeader(hdr); err != nil {
		return nil, fmt.Errorf("modelfile: encode header: %w", err)
	}
	size := prefixLen + 4 + len(hdr) + 4 + trailerLen
	for i := range f.Arrays {
		a := &f.Arrays[i]
		if err := checkArray(a); err != nil {
			return nil, fmt.Errorf("modelfile: array %d: %w", i, err)
		}
		size += 2 + len(a.Name) + 2 + 8*len(a.Shape) + 4*len(a.F32) + 8*len(a.F64)
	}
	le := binary.LittleEndian
	b := make([]byte, 0, size)
	b = append(b, Magic...)
	b = le.AppendUint32(b, Version)
	b = le.AppendUint64(b, uint64(size))
	b = le.AppendUint32(b, crc32.ChecksumIEEE(b))
	b = le.AppendUint32(b, uint32(len(hdr)))
	b = append(b, hdr...)
	b = le.AppendUint32(b, uint32(len(f.Arrays)))
	for i := range f.Arrays {
		a := &f.Arrays[i]
		b = le.AppendUint16(b, uint16(len(a.Name)))
		b = append(b, a.Name...)
		if a.F64 != nil {
			b = append(b, dtypeF64)
		} else {
			b = append(b, dtypeF32)
		}
		b = append(b, byte(len(a.Shape)))
		for _, s := range a.Shape {
			b = le.AppendUint64(b, uint64(s))
		}
		if a.F64 != nil {
			n := len(b)
			b = b[:n+8*len(a.F64)]
			for j, v := range a.F64 {
				le.PutUint64(b[n+8*j:], math.Float64bits(v))
			}
		} else {
			n := len(b)
			b = b[:n+4*len(a.F32)]
			for j, v := range a.F32 {
				le.PutUint32(b[n+4*j:], math.Float32bits(v))
			}
		}
	}
	sum := sha256.Sum256(b)
	b = append(b, sum[:]...)
	if len(b) != size {
		panic("modelfile: size accounting is wrong")
	}
	return b, nil
}

// checkHeader reports a header that is not one JSON object.
func checkHeader(b []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	if obj == nil {
		return errors.New("header is null, not a JSON object")
	}
	return nil
}

func checkArray(a *Array) error {
	if a.Name == "" || len(a.Name) > maxNameLen {
		return fmt.Errorf("name %q: length must be 1 to %d bytes", a.Name, maxNameLen)
	}
	if a.F32 != nil && a.F64 != nil {
		return fmt.Errorf("array %q has both float32 and float64 data", a.Name)
	}
	if len(a.Shape) > maxRank {
		return fmt.Errorf("array %q has rank %d, more than %d", a.Name, len(a.Shape), maxRank)
	}
	for _, s := range a.Shape {
		if s < 0 {
			return fmt.Errorf("array %q has negative dimension in shape %v", a.Name, a.Shape)
		}
	}
	n := len(a.F32) + len(a.F64)
	if a.Len() != n {
		return fmt.Errorf("array %q has shape %v but %d elements", a.Name, a.Shape, n)
	}
	return nil
}

// Write saves f to path atomically: it writes a temporary file in the same
// directory, syncs it and renames it over path, so that path holds either the
// old content or the complete new one.
func Write(path string, f *File) error {
	b, err := Encode(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, b); err != nil {
		return fmt.Errorf("modelfile: write %s: %w", path, err)
	}
	return nil
}

// Read loads and verifies the model file at path. Its errors name the file
// and wrap ErrNotModel, ErrVersion, ErrTruncated, ErrChecksum or ErrMalformed
// (or the operating system's error when the file cannot be read).
func Read(path string) (*File, error) {
	b, err := safeio.ReadFile(path, safeio.Limit{Bytes: MaxFileSize, Name: "modelfile.MaxFileSize"})
	if err != nil {
		return nil, fmt.Errorf("modelfile: %w", err)
	}
	f, err := decode(b, true)
	if err != nil {
		return nil, fmt.Errorf("modelfile: %s: %w", path, err)
	}
	return f, nil
}

// MaxFileSize is the largest model file Read accepts (16 GiB: a kNN model
// with a full memory bank of a few thousand images). A larger file is
// refused before it is read.
const MaxFileSize = 16 << 30

// Decode parses and verifies a model file held in memory. The returned arrays
// do not share memory with b. Its errors wrap the same sentinels as Read's.
func Decode(b []byte) (*File, error) { return decode(b, false) }

// decode is Decode; with private (b is the reader's own buffer) the arrays
// may share b's memory instead of being copied out of it.
func decode(b []byte, private bool) (*File, error) {
	le := binary.LittleEndian
	size := len(b)
	if size < len(Magic) {
		if bytes.HasPrefix([]byte(Magic), b) {
			return nil, fmt.Errorf("%w: %d bytes, shorter than the magic", ErrTruncated, size)
		}
		return nil, fmt.Errorf("%w: it does not start with %q", ErrNotModel, Magic)
	}
	if string(b[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w: it does not start with %q", ErrNotModel, Magic)
	}
	if size < prefixLen {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte prefix", ErrTruncated, size, prefixLen)
	}
	if crc := crc32.ChecksumIEEE(b[:prefixLen-4]); crc != le.Uint32(b[prefixLen-4:]) {
		return nil, fmt.Errorf("%w: the prefix (version and length) fails its CRC", ErrChecksum)
	}
	version := le.Uint32(b[len(Magic):])
	if version < MinVersion || version > Version {
		return nil, fmt.Errorf("%w: file has version %d, this build reads versions %d to %d", ErrVersion, version, MinVersion, Version)
	}
	declared := le.Uint64(b[len(Magic)+4:])
	switch {
	case uint64(size) < declared:
		return nil, fmt.Errorf("%w: %d bytes of the %d it declares", ErrTruncated, size, declared)
	case uint64(size) > declared:
		return nil, fmt.Errorf("%w: %d bytes after the declared end at %d", ErrMalformed, uint64(size)-declared, declared)
	case declared < uint64(prefixLen+4+4+trailerLen):
		return nil, fmt.Errorf("%w: declared length %d is too short for any model", ErrMalformed, declared)
	}
	body := b[:size-trailerLen]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], b[size-trailerLen:]) {
		return nil, ErrChecksum
	}
	r := reader{b: body, off: prefixLen, private: private}
	f := &File{Version: version}
	hlen, ok := r.u32()
	if !ok || uint64(hlen) > uint64(r.left()) {
		return nil, fmt.Errorf("%w: header length runs past the end", ErrMalformed)
	}
	f.Header = bytes.Clone(r.bytes(int(hlen)))
	if err := checkHeader(f.Header); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	count, ok := r.u32()
	// Every array takes at least 4 bytes (name length, dtype, rank).
	if !ok || uint64(count) > uint64(r.left()/4) {
		return nil, fmt.Errorf("%w: array count runs past the end", ErrMalformed)
	}
	f.Arrays = make([]Array, count)
	names := make(map[string]bool, count)
	for i := range f.Arrays {
		if err := r.array(&f.Arrays[i]); err != nil {
			return nil, fmt.Errorf("%w: array %d: %v", ErrMalformed, i, err)
		}
		if name := f.Arrays[i].Name; names[name] {
			return nil, fmt.Errorf("%w: array %q appears twice", ErrMalformed, name)
		}
		names[f.Arrays[i].Name] = true
	}
	if r.left() != 0 {
		return nil, fmt.Errorf("%w: %d unparsed bytes after the arrays", ErrMalformed, r.left())
	}
	return f, nil
}

// reader walks the checksummed body; each method reports whether the bytes
// were there.
type reader struct {
	b   []byte
	off int
	// private: arrays may share b (decode).
	private bool
}

// own returns v, the values of bytes of r.b (shared: in place): as they
// are where r is private or they are a copy already, else copied.
func own[T float32 | float64](r *reader, v []T, shared bool) []T {
	if shared && !r.private {
		return slices.Clone(v)
	}
	return v
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) bytes(n int) []byte {
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u8() (byte, bool) {
	if r.left() < 1 {
		return 0, false
	}
	return r.bytes(1)[0], true
}

func (r *reader) u16() (uint16, bool) {
	if r.left() < 2 {
		return 0, false
	}
	return binary.LittleEndian.Uint16(r.bytes(2)), true
}

func (r *reader) u32() (uint32, bool) {
	if r.left() < 4 {
		return 0, false
	}
	return binary.LittleEndian.Uint32(r.bytes(4)), true
}

func (r *reader) u64() (uint64, bool) {
	if r.left() < 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(r.bytes(8)), true
}

func (r *reader) array(a *Array) error {
	errShort := errors.New("runs past the end")
	nlen, ok := r.u16()
	if !ok || int(nlen) > r.left() {
		return errShort
	}
	if nlen == 0 {
		return errors.New("empty name")
	}
	a.Name = string(r.bytes(int(nlen)))
	dtype, ok1 := r.u8()
	rank, ok2 := r.u8()
	if !ok1 || !ok2 {
		return fmt.Errorf("%q: %w", a.Name, errShort)
	}
	var elem uint64
	switch dtype {
	case dtypeF32:
		elem = 4
	case dtypeF64:
		elem = 8
	default:
		return fmt.Errorf("%q: unknown dtype %d", a.Name, dtype)
	}
	if rank > maxRank {
		return fmt.Errorf("%q: rank %d is more than %d", a.Name, rank, maxRank)
	}
	a.Shape = make([]int, rank)
	// n counts elements; it never exceeds the bytes left, so it cannot
	// overflow.
	n := uint64(1)
	limit := uint64(r.left())
	for k := range a.Shape {
		s, ok := r.u64()
		if !ok {
			return fmt.Errorf("%q: %w", a.Name, errShort)
		}
		if s > limit || s != 0 && n > limit/s {
			return fmt.Errorf("%q: shape dimension %d = %d is more than the file holds", a.Name, k, s)
		}
		n *= s
		a.Shape[k] = int(s)
	}
	if n > uint64(r.left())/elem {
		return fmt.Errorf("%q: shape %v needs %d bytes, %d are left", a.Name, a.Shape, n*elem, r.left())
	}
	data := r.bytes(int(n * elem))
	if dtype == dtypeF64 {
		v, shared := safeio.Float64s(data)
		a.F64 = own(r, v, shared)
	} else {
		v, shared := safeio.Float32s(data)
		a.F32 = own(r, v, shared)
	}
	return nil
}
