package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
)

// ReadTorch reads the tensors of a PyTorch checkpoint written by torch.save
// in the zip format (torch >= 1.6): a zip holding <prefix>/data.pkl, a pickle
// whose tensors refer to raw storages <prefix>/data/<key>. The pickle is
// interpreted, never executed. Every floating-point or integer tensor found
// in the (possibly nested) dicts is returned as float32, named by its dotted
// key path ("layer1.0.conv1.weight"; "state_dict.x" for a nested dict).
// The legacy pre-1.6 format gives an error that says so.
func ReadTorch(path string) (Tensors, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := DecodeTorch(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// legacyMagic is the pickled magic number 0x1950a86a20f9469cfc6c that starts
// a legacy (pre-1.6) torch.save file.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

var errLegacy = errors.New("legacy (pre-1.6) torch.save format is not supported; " +
	"re-save it with torch >= 1.6: torch.save(torch.load(old), new), or convert it to safetensors")

// DecodeTorch parses a torch.save zip checkpoint held in memory.
func DecodeTorch(b []byte) (Tensors, error) {
	if bytes.HasPrefix(b, legacyMagic) || isTar(b) {
		return nil, errLegacy
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("not a torch.save zip checkpoint (truncated or corrupt file?): %v", err)
	}
	var pkl *zip.File
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		files[f.Name] = f
		if f.Name == "data.pkl" || strings.HasSuffix(f.Name, "/data.pkl") {
			if pkl == nil {
				pkl = f
			}
		}
	}
	if pkl == nil {
		return nil, errors.New("not a torch.save checkpoint: the zip has no data.pkl")
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	pb, err := readZipFile(pkl)
	if err != nil {
		return nil, err
	}
	storages := map[string]*storage{}
	u := &unpickler{data: pb}
	u.persist = func(pid any) (any, error) {
		t, ok := pid.(pyTuple)
		if !ok || len(t) < 5 {
			return nil, fmt.Errorf("unexpected persistent id %v", pid)
		}
		if s, _ := t[0].(string); s != "storage" {
			return nil, fmt.Errorf("unexpected persistent id kind %v", t[0])
		}
		g, ok := t[1].(pyGlobal)
		if !ok {
			return nil, fmt.Errorf("unexpected storage type %v", t[1])
		}
		key, ok := t[2].(string)
		if !ok {
			return nil, fmt.Errorf("unexpected storage key %v", t[2])
		}
		if s, ok := storages[key]; ok {
			return s, nil
		}
		dt, ok := storageDtypes[g.name]
		if !ok {
			return nil, fmt.Errorf("unsupported storage type %s", g)
		}
		f, ok := files[prefix+"data/"+key]
		if !ok {
			return nil, fmt.Errorf("storage %s missing from the zip (truncated file?)", key)
		}
		raw, err := readZipFile(f)
		if err != nil {
			return nil, err
		}
		if len(raw)%dt.size != 0 {
			return nil, fmt.Errorf("storage %s: %d bytes is not a multiple of %d", key, len(raw), dt.size)
		}
		s := &storage{dtype: dt, raw: raw}
		storages[key] = s
		return s, nil
	}
	u.reduce = func(fn pyGlobal, args pyTuple) (any, bool, error) {
		switch fn.String() {
		case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
			t, err := rebuildTensor(args)
			return t, true, err
		case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
			if len(args) == 0 {
				return nil, true, errors.New("_rebuild_parameter without arguments")
			}
			return args[0], true, nil
		}
		return nil, false, nil
	}
	obj, err := u.load()
	if err != nil {
		return nil, fmt.Errorf("reading data.pkl: %w", err)
	}
	out := Tensors{}
	collectTensors(out, "", obj)
	if len(out) == 0 {
		return nil, errors.New("the checkpoint holds no tensors")
	}
	return out, nil
}

func isTar(b []byte) bool {
	return len(b) >= 262 && string(b[257:262]) == "ustar"
}

func readZipFile(f *zip.File) ([]byte, error) {
	if f.UncompressedSize64 > 1<<34 {
		return nil, fmt.Errorf("zip entry %s too large", f.Name)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %v", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %v (truncated or corrupt file?)", f.Name, err)
	}
	return b, nil
}

type dtype struct {
	name string
	size int
	conv func(raw []byte, i int) float32
}

var storageDtypes = map[string]dtype{
	"FloatStorage": {"float32", 4, func(r []byte, i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(r[4*i:])) }},
	"DoubleStorage": {"float64", 8, func(r []byte, i int) float32 {
		return float32(math.Float64frombits(binary.LittleEndian.Uint64(r[8*i:])))
	}},
	"HalfStorage": {"float16", 2, func(r []byte, i int) float32 { return Float16ToFloat32(binary.LittleEndian.Uint16(r[2*i:])) }},
	"BFloat16Storage": {"bfloat16", 2, func(r []byte, i int) float32 {
		return math.Float32frombits(uint32(binary.LittleEndian.Uint16(r[2*i:])) << 16)
	}},
	"LongStorage":  {"int64", 8, func(r []byte, i int) float32 { return float32(int64(binary.LittleEndian.Uint64(r[8*i:]))) }},
	"IntStorage":   {"int32", 4, func(r []byte, i int) float32 { return float32(int32(binary.LittleEndian.Uint32(r[4*i:]))) }},
	"ShortStorage": {"int16", 2, func(r []byte, i int) float32 { return float32(int16(binary.LittleEndian.Uint16(r[2*i:]))) }},
	"CharStorage":  {"int8", 1, func(r []byte, i int) float32 { return float32(int8(r[i])) }},
	"ByteStorage":  {"uint8", 1, func(r []byte, i int) float32 { return float32(r[i]) }},
	"BoolStorage":  {"bool", 1, func(r []byte, i int) float32 { return float32(r[i] & 1) }},
}

type storage struct {
	dtype dtype
	raw   []byte
}

func (s *storage) numel() int { return len(s.raw) / s.dtype.size }

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		return int(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func toInts(v any) ([]int, bool) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, false
	}
	out := make([]int, len(t))
	for i, x := range t {
		n, ok := toInt(x)
		if !ok || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

// rebuildTensor implements torch._utils._rebuild_tensor_v2(storage,
// storage_offset, size, stride, ...): element (i0, i1, ...) is
// storage[offset + sum(i_k * stride_k)].
func rebuildTensor(args pyTuple) (*Tensor, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments", len(args))
	}
	s, ok := args[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage is %T", args[0])
	}
	off, ok1 := toInt(args[1])
	size, ok2 := toInts(args[2])
	stride, ok3 := toInts(args[3])
	if !ok1 || !ok2 || !ok3 || len(size) != len(stride) || off < 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: bad offset/size/stride %v %v %v", args[1], args[2], args[3])
	}
	n := numElements(size)
	t := &Tensor{Shape: size, Data: make([]float32, n)}
	if n == 0 {
		return t, nil
	}
	last := off
	for i := range size {
		last += (size[i] - 1) * stride[i]
	}
	if last >= s.numel() {
		return nil, fmt.Errorf("_rebuild_tensor_v2: tensor of shape %v reaches element %d of a %d-element storage", size, last, s.numel())
	}
	idx := make([]int, len(size))
	for i := 0; i < n; i++ {
		p := off
		for k := range idx {
			p += idx[k] * stride[k]
		}
		t.Data[i] = s.dtype.conv(s.raw, p)
		for k := len(idx) - 1; k >= 0; k-- {
			idx[k]++
			if idx[k] < size[k] {
				break
			}
			idx[k] = 0
		}
	}
	return t, nil
}

func collectTensors(out Tensors, prefix string, v any) {
	switch x := v.(type) {
	case *Tensor:
		out[strings.TrimSuffix(prefix, ".")] = x
	case *pyDict:
		for i, k := range x.keys {
			if ks, ok := k.(string); ok {
				collectTensors(out, prefix+ks+".", x.vals[i])
			}
		}
	}
}

// Open reads a weight file in either supported format, detected from its
// content: a torch.save zip checkpoint (.pth, .pt) or safetensors. It does
// not check a SHA-256 sidecar (see VerifyFile and ReadVerified).
func Open(path string) (Tensors, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t Tensors
	switch {
	case bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, legacyMagic) || isTar(b):
		t, err = DecodeTorch(b)
	case len(b) >= 9 && b[8] == '{':
		t, _, err = DecodeSafetensors(b)
	default:
		err = errors.New("unrecognised weight file: neither safetensors nor a torch.save zip checkpoint")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// CheckShapes compares t against the expected shapes, in sorted name order,
// and returns an error naming the first tensor that is missing or has
// another shape (with both shapes). Extra tensors in t are ignored.
func CheckShapes(t Tensors, want map[string][]int) error {
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		w := want[name]
		got, ok := t[name]
		if !ok {
			return fmt.Errorf("tensor %s (shape %v) is missing", name, w)
		}
		if !slices.Equal(got.Shape, w) {
			return fmt.Errorf("tensor %s has shape %v, the architecture needs %v", name, got.Shape, w)
		}
	}
	return nil
}
