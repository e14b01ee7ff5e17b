// Package weights reads and writes network weight files: the safetensors
// format (read and write), PyTorch torch.save checkpoints (read only), and the
// per-user weight cache with SHA-256 verification.
//
// Weight files are untrusted input: every reader checks sizes and shapes
// before it allocates, and Limits (file size, decompressed zip entries,
// pickle size, depth, stack and memo, tensor and total element counts)
// bound what one file may cost. Errors name the file and the limit reached;
// OpenWith takes larger limits for a file that is trusted.
package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/crd-ad/crd/internal/safeio"
)

// Tensor is a dense float32 array with a shape, row-major (C order).
type Tensor struct {
	Shape []int
	Data  []float32
}

// Tensors maps tensor names (for example "layer1.0.conv1.weight") to tensors.
type Tensors map[string]*Tensor

// NumElements is the product of the shape (1 for a scalar).
func (t *Tensor) NumElements() int { return numElements(t.Shape) }

func numElements(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// Names returns the tensor names in sorted order.
func (ts Tensors) Names() []string {
	names := make([]string, 0, len(ts))
	for k := range ts {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// maxHeader bounds the JSON header of a safetensors file (the reference
// implementation uses 100 MB).
const maxHeader = 100 << 20

type stEntry struct {
	Dtype       string  `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// ReadSafetensors reads a safetensors file. F32, F16, BF16 and F64 tensors
// are converted to float32; other dtypes are an error.
func ReadSafetensors(path string) (Tensors, error) {
	t, _, err := ReadSafetensorsMeta(path)
	return t, err
}

// ReadSafetensorsMeta is ReadSafetensors that also returns the file's
// "__metadata__" string map (nil when absent).
func ReadSafetensorsMeta(path string) (Tensors, map[string]string, error) {
	b, err := readFileLimited(path, DefaultMaxFileBytes, maxFileName)
	if err != nil {
		return nil, nil, err
	}
	t, meta, err := decodeSafetensors(b, Options{private: true})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, meta, nil
}

// DecodeSafetensors parses a safetensors file held in memory.
//
// Layout: an 8-byte little-endian header length n, n bytes of JSON mapping
// each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte
// offsets into the data section that follows) plus an optional
// "__metadata__" string map, then the raw little-endian data.
func DecodeSafetensors(b []byte) (Tensors, map[string]string, error) {
	return decodeSafetensors(b, Options{})
}

// decodeSafetensors is DecodeSafetensors with options: with o.Expect, only
// the expected tensors are decoded, after every shape is checked.
func decodeSafetensors(b []byte, o Options) (Tensors, map[string]string, error) {
	lim := o.Limits.withDefaults()
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("not a safetensors file: %d bytes, too short for the header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > maxHeader || n > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("not a safetensors file: header length %d does not fit in %d bytes", n, len(b))
	}
	hdr := b[8 : 8+n]
	data := b[8+n:]
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if err := dec.Decode(&raw); err != nil {
		return nil, nil, fmt.Errorf("not a safetensors file: bad JSON header: %v", err)
	}
	var meta map[string]string
	entries := make(map[string]stEntry, len(raw))
	want := o.index()
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &meta); err != nil {
				return nil, nil, fmt.Errorf("safetensors: bad __metadata__: %v", err)
			}
			continue
		}
		var e stEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: bad entry: %v", name, err)
		}
		if _, ok := want[name]; ok || want == nil {
			entries[name] = e
		}
	}
	if err := o.checkExpected(func(name string) ([]int, bool) {
		e, ok := entries[name]
		return e.Shape, ok
	}); err != nil {
		return nil, nil, err
	}
	out := make(Tensors, len(entries))
	var total int64
	for name, e := range entries {
		t, err := decodeEntry(name, e, data, lim, o.private)
		if err != nil {
			return nil, nil, err
		}
		if total += int64(len(t.Data)); total > lim.MaxTotalElements {
			return nil, nil, fmt.Errorf("safetensors: the tensors hold more than %d elements together (limit weights.Limits.MaxTotalElements)", lim.MaxTotalElements)
		}
		out[name] = t
	}
	return out, meta, nil
}

func decodeEntry(name string, e stEntry, data []byte, lim Limits, private bool) (*Tensor, error) {
	if len(e.DataOffsets) != 2 {
		return nil, fmt.Errorf("safetensors: tensor %q: data_offsets must have 2 values, got %d", name, len(e.DataOffsets))
	}
	for _, s := range e.Shape {
		if s < 0 || s > math.MaxInt32 {
			return nil, fmt.Errorf("safetensors: tensor %q: bad shape %v", name, e.Shape)
		}
	}
	size := dtypeSize(e.Dtype)
	if size == 0 {
		return nil, fmt.Errorf("safetensors: tensor %q: unsupported dtype %q (want F32, F16, BF16 or F64)", name, e.Dtype)
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin < 0 || end < begin || end > int64(len(data)) {
		return nil, fmt.Errorf("safetensors: tensor %q: data_offsets [%d, %d] outside the %d-byte data section (truncated file?)", name, begin, end, len(data))
	}
	count, err := countElements(e.Shape, lim.MaxTensorElements)
	if err != nil {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	if count*int64(size) != end-begin {
		return nil, fmt.Errorf("safetensors: tensor %q: shape %v of %s needs %d bytes, data_offsets give %d", name, e.Shape, e.Dtype, count*int64(size), end-begin)
	}
	t := &Tensor{Shape: append([]int{}, e.Shape...)}
	if e.Dtype == "F32" {
		// Read in place where it can be, if the buffer is the reader's own.
		v, shared := safeio.Float32s(data[begin:end])
		if shared && !private {
			v = slices.Clone(v)
		}
		t.Data = v
		return t, nil
	}
	t.Data = make([]float32, count)
	decodeFloats(t.Data, data[begin:end], e.Dtype)
	return t, nil
}

func dtypeSize(dtype string) int {
	switch dtype {
	case "F32":
		return 4
	case "F16", "BF16":
		return 2
	case "F64":
		return 8
	}
	return 0
}

// decodeFloats converts little-endian raw values of the given dtype (F16,
// BF16, F64) to float32; F32 is read by safeio.Float32s.
func decodeFloats(dst []float32, src []byte, dtype string) {
	switch dtype {
	case "F16":
		for i := range dst {
			dst[i] = Float16ToFloat32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case "BF16":
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
		}
	case "F64":
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	default:
		panic("weights: unknown dtype " + dtype)
	}
}

// Float16ToFloat32 converts an IEEE 754 binary16 value (as its bits) to
// float32 exactly, including subnormals, infinities and NaN.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: value = mant * 2^-24.
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// EncodeSafetensors serialises t (as F32) and meta in the safetensors format.
// Tensors are laid out in sorted name order, so the output is deterministic.
func EncodeSafetensors(t Tensors, meta map[string]string) ([]byte, error) {
	names := t.Names()
	hdr := make(map[string]any, len(names)+1)
	if len(meta) > 0 {
		hdr["__metadata__"] = meta
	}
	var off int64
	for _, name := range names {
		if name == "__metadata__" {
			return nil, fmt.Errorf("safetensors: %q is reserved and cannot name a tensor", name)
		}
		x := t[name]
		if numElements(x.Shape) != len(x.Data) {
			return nil, fmt.Errorf("safetensors: tensor %q: shape %v has %d elements, data has %d", name, x.Shape, numElements(x.Shape), len(x.Data))
		}
		shape := x.Shape
		if shape == nil {
			shape = []int{}
		}
		n := int64(4 * len(x.Data))
		hdr[name] = stEntry{Dtype: "F32", Shape: shape, DataOffsets: []int64{off, off + n}}
		off += n
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	// Pad the header with spaces to a multiple of 8 so the data is aligned.
	pad := (8 - len(js)%8) % 8
	js = append(js, []byte(strings.Repeat(" ", pad))...)
	out := make([]byte, 8+len(js)+int(off))
	binary.LittleEndian.PutUint64(out, uint64(len(js)))
	copy(out[8:], js)
	p := out[8+len(js):]
	for _, name := range names {
		for _, v := range t[name].Data {
			binary.LittleEndian.PutUint32(p, math.Float32bits(v))
			p = p[4:]
		}
	}
	return out, nil
}

// WriteSafetensors writes t (as F32) and the optional metadata to path
// atomically: a temporary file in the same directory, then a rename.
func WriteSafetensors(path string, t Tensors, meta map[string]string) error {
	b, err := EncodeSafetensors(t, meta)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return WriteFileAtomic(path, b)
}
