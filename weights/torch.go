package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/crd-ad/crd/internal/pickle"
)

// ReadTorch reads the tensors of a PyTorch checkpoint written by torch.save
// in the zip format (torch >= 1.6): a zip holding <prefix>/data.pkl, a pickle
// whose tensors refer to raw storages <prefix>/data/<key>. The pickle is
// interpreted, never executed. Every floating-point or integer tensor found
// in the (possibly nested) dicts is returned as float32, named by its dotted
// key path ("layer1.0.conv1.weight"; "state_dict.x" for a nested dict).
// The legacy pre-1.6 format gives an error that says so. The default Limits
// apply.
func ReadTorch(path string) (Tensors, error) {
	lim := Limits{}.withDefaults()
	b, err := readFileLimited(path, lim.MaxFileBytes, maxFileName)
	if err != nil {
		return nil, err
	}
	t, err := DecodeTorchWith(b, Options{Limits: lim})
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

// DecodeTorch parses a torch.save zip checkpoint held in memory, under the
// default Limits.
func DecodeTorch(b []byte) (Tensors, error) { return DecodeTorchWith(b, Options{}) }

// DecodeTorchWith is DecodeTorch with options: limits, and the tensors
// expected (only those are decoded, after their shapes are checked).
func DecodeTorchWith(b []byte, o Options) (Tensors, error) {
	lim := o.Limits.withDefaults()
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
	pb, err := readZipFile(pkl, lim.MaxPickleBytes, "weights.Limits.MaxPickleBytes")
	if err != nil {
		return nil, err
	}
	storages := map[string]*storage{}
	u := &pickle.Unpickler{Limits: lim.pickle()}
	u.Persistent = func(pid any) (any, error) {
		return persistentStorage(pid, storages, func(key string) *zip.File { return files[prefix+"data/"+key] }, lim)
	}
	u.Reduce = func(fn pickle.Global, args pickle.Tuple) (any, bool, error) {
		switch fn.String() {
		case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
			t, err := rebuildTensor(args, lim)
			return t, true, err
		case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
			if len(args) == 0 {
				return nil, true, errors.New("_rebuild_parameter without arguments")
			}
			return args[0], true, nil
		}
		return nil, false, nil
	}
	obj, err := u.Load(pb)
	if err != nil {
		return nil, fmt.Errorf("reading data.pkl: %w", err)
	}
	c := collector{found: map[string]*lazyTensor{}, want: o.index(), lim: lim}
	if err := c.walk(obj, 0); err != nil {
		return nil, fmt.Errorf("reading data.pkl: %w", err)
	}
	if len(c.found) == 0 && o.Expect == nil {
		return nil, errors.New("the checkpoint holds no tensors")
	}
	if err := o.checkExpected(func(name string) ([]int, bool) {
		t, ok := c.found[name]
		if !ok {
			return nil, false
		}
		return t.size, true
	}); err != nil {
		return nil, err
	}
	var total int64
	for _, t := range c.found {
		if total += t.numel; total > lim.MaxTotalElements {
			return nil, fmt.Errorf("the tensors hold more than %d elements together (limit weights.Limits.MaxTotalElements)", lim.MaxTotalElements)
		}
	}
	for _, t := range c.found {
		if t.numel > 0 {
			if err := t.s.reach(t.size, t.last); err != nil {
				return nil, err
			}
		}
	}
	out := make(Tensors, len(c.found))
	for name, t := range c.found {
		if out[name], err = t.materialise(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// persistentStorage resolves the persistent id of a torch storage,
// ("storage", StorageType, key, location, numel), to the storage; its data
// is read from the zip only when a tensor that uses it is decoded.
func persistentStorage(pid any, storages map[string]*storage, file func(key string) *zip.File, lim Limits) (any, error) {
	t, ok := pid.(pickle.Tuple)
	if !ok || len(t) < 5 {
		return nil, fmt.Errorf("unexpected persistent id %s", clipValue(pid))
	}
	if s, _ := t[0].(string); s != "storage" {
		return nil, fmt.Errorf("unexpected persistent id kind %s", clipValue(t[0]))
	}
	g, ok := t[1].(pickle.Global)
	if !ok {
		return nil, fmt.Errorf("unexpected storage type %s", clipValue(t[1]))
	}
	key, ok := t[2].(string)
	if !ok {
		return nil, fmt.Errorf("unexpected storage key %s", clipValue(t[2]))
	}
	if s, ok := storages[key]; ok {
		return s, nil
	}
	dt, ok := storageDtypes[g.Name]
	if !ok {
		return nil, fmt.Errorf("unsupported storage type %s", g)
	}
	f := file(key)
	if f == nil {
		return nil, fmt.Errorf("storage %s missing from the zip (truncated file?)", key)
	}
	declared := int64(-1)
	if n, ok := t[4].(int64); ok && n >= 0 {
		declared = n
	}
	s := &storage{key: key, dtype: dt, file: f, max: lim.MaxFileBytes, declared: declared}
	storages[key] = s
	return s, nil
}

// clipValue formats a pickle value for an error message, at most 100 bytes.
func clipValue(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return s
}

func isTar(b []byte) bool {
	return len(b) >= 262 && string(b[257:262]) == "ustar"
}

// readZipFile reads a zip entry of at most max bytes once decompressed
// (limit names the limit in the error).
func readZipFile(f *zip.File, max int64, limit string) ([]byte, error) {
	if f.UncompressedSize64 > uint64(max) {
		return nil, fmt.Errorf("zip entry %s: %d bytes, more than the limit of %d (%s)", f.Name, f.UncompressedSize64, max, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %v", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %v (truncated or corrupt file?)", f.Name, err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("zip entry %s: decompresses to more than the limit of %d bytes (%s)", f.Name, max, limit)
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

// storage is a torch storage whose bytes are read on first use, and only as
// far as the tensors decoded from it reach.
type storage struct {
	key      string
	dtype    dtype
	file     *zip.File
	max      int64 // Limits.MaxFileBytes
	declared int64 // element count data.pkl gives, or -1
	need     int64 // elements the tensors to decode reach
	raw      []byte
	err      error
	read     bool
}

// reach records that a tensor to decode reaches element last of s.
func (s *storage) reach(shape []int, last int64) error {
	if s.declared >= 0 && last >= s.declared {
		return fmt.Errorf("_rebuild_tensor_v2: tensor of shape %v reaches element %d of a %d-element storage", shape, last, s.declared)
	}
	if last >= s.max/int64(s.dtype.size) {
		return fmt.Errorf("_rebuild_tensor_v2: tensor of shape %v reaches byte %d of storage %s, past the limit of %d (%s)", shape, (last+1)*int64(s.dtype.size), s.key, s.max, maxFileName)
	}
	s.need = max(s.need, last+1)
	return nil
}

// bytes returns the first s.need elements of the storage's data, reading
// them from the zip once.
func (s *storage) bytes() ([]byte, error) {
	if !s.read {
		s.read = true
		s.raw, s.err = readZipPrefix(s.file, s.need*int64(s.dtype.size))
		if s.err == nil && int64(len(s.raw)) < s.need*int64(s.dtype.size) {
			s.err = fmt.Errorf("_rebuild_tensor_v2: a tensor reaches element %d of storage %s, which holds %d (truncated file?)", s.need-1, s.key, len(s.raw)/s.dtype.size)
		}
	}
	return s.raw, s.err
}

// readZipPrefix reads up to n bytes of a zip entry. An entry of exactly n
// bytes (or fewer) is read to its end, so that its CRC is checked.
func readZipPrefix(f *zip.File, n int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %v", f.Name, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	buf.Grow(int(min(n, int64(f.UncompressedSize64), 1<<30)))
	if _, err := buf.ReadFrom(io.LimitReader(rc, n)); err != nil {
		return nil, fmt.Errorf("zip entry %s: %v (truncated or corrupt file?)", f.Name, err)
	}
	if int64(buf.Len()) == n {
		var one [1]byte
		if _, err := io.ReadFull(rc, one[:]); err != nil && err != io.EOF {
			return nil, fmt.Errorf("zip entry %s: %v (truncated or corrupt file?)", f.Name, err)
		}
	}
	return buf.Bytes(), nil
}

// lazyTensor is a tensor found in the pickle, decoded only when needed.
type lazyTensor struct {
	s            *storage
	off          int64
	size, stride []int
	numel        int64
	last         int64 // the storage element the last element reads
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int64:
		if x < math.MinInt32 || x > math.MaxInt32 {
			return 0, false
		}
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
	t, ok := v.(pickle.Tuple)
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

// maxDims bounds the dimensions of a tensor (PyTorch allows 64).
const maxDims = 64

// rebuildTensor implements torch._utils._rebuild_tensor_v2(storage,
// storage_offset, size, stride, ...): element (i0, i1, ...) is
// storage[offset + sum(i_k * stride_k)]. It checks the arguments and the
// element count; the data is decoded later, by materialise.
func rebuildTensor(args pickle.Tuple, lim Limits) (*lazyTensor, error) {
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
	if !ok1 || !ok2 || !ok3 || len(size) != len(stride) || off < 0 || len(size) > maxDims {
		return nil, fmt.Errorf("_rebuild_tensor_v2: bad offset/size/stride %s %s %s (each a non-negative int below 2^31, at most %d dimensions)", clipValue(args[1]), clipValue(args[2]), clipValue(args[3]), maxDims)
	}
	n, err := countElements(size, lim.MaxTensorElements)
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %w", err)
	}
	// Strides are below 2^31 and sum(size_k - 1) < numel, so the sum cannot
	// overflow an int64 for any element count below 2^32.
	last := int64(off)
	for i := range size {
		last += int64(max(size[i]-1, 0)) * int64(stride[i])
	}
	return &lazyTensor{s: s, off: int64(off), size: size, stride: stride, numel: n, last: last}, nil
}

// materialise decodes the tensor from its storage, after checking that
// every element it addresses lies inside the storage.
func (t *lazyTensor) materialise() (*Tensor, error) {
	out := &Tensor{Shape: t.size}
	if t.numel == 0 {
		out.Data = []float32{}
		return out, nil
	}
	raw, err := t.s.bytes()
	if err != nil {
		return nil, err
	}
	if t.last >= int64(len(raw)/t.s.dtype.size) {
		return nil, fmt.Errorf("_rebuild_tensor_v2: tensor of shape %v reaches element %d of a %d-element storage", t.size, t.last, len(raw)/t.s.dtype.size)
	}
	out.Data = make([]float32, t.numel)
	idx := make([]int, len(t.size))
	for i := range out.Data {
		p := int(t.off)
		for k := range idx {
			p += idx[k] * t.stride[k]
		}
		out.Data[i] = t.s.dtype.conv(raw, p)
		for k := len(idx) - 1; k >= 0; k-- {
			idx[k]++
			if idx[k] < t.size[k] {
				break
			}
			idx[k] = 0
		}
	}
	return out, nil
}

// collector gathers the tensors of nested dicts under dotted names.
type collector struct {
	found   map[string]*lazyTensor
	want    map[string][]int // nil: keep every tensor
	lim     Limits
	path    []string
	visited int
}

func (c *collector) walk(v any, depth int) error {
	switch x := v.(type) {
	case *lazyTensor:
		name := strings.Join(c.path, ".")
		if len(name) > MaxNameBytes {
			return fmt.Errorf("tensor name longer than %d bytes (weights.MaxNameBytes)", MaxNameBytes)
		}
		if _, ok := c.want[name]; ok || c.want == nil {
			c.found[name] = x
		}
	case *pickle.Dict:
		if depth >= c.lim.MaxPickleDepth {
			return fmt.Errorf("dicts nested more than %d deep (limit weights.Limits.MaxPickleDepth)", c.lim.MaxPickleDepth)
		}
		for i, k := range x.Keys {
			ks, ok := k.(string)
			if !ok {
				continue
			}
			if c.visited++; c.visited > c.lim.MaxDictEntries {
				return fmt.Errorf("more than %d dict entries to visit (limit weights.Limits.MaxDictEntries)", c.lim.MaxDictEntries)
			}
			c.path = append(c.path, ks)
			err := c.walk(x.Vals[i], depth+1)
			c.path = c.path[:len(c.path)-1]
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Open reads a weight file in either supported format, detected from its
// content: a torch.save zip checkpoint (.pth, .pt) or safetensors. It does
// not check a SHA-256 sidecar (see VerifyFile and ReadVerified).
func Open(path string) (Tensors, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options: limits, the tensors expected (only those
// are decoded, after their shapes are checked), and the check against the
// SHA-256 sidecar (Verify).
func OpenWith(path string, o Options) (Tensors, error) {
	o.Limits = o.Limits.withDefaults()
	b, err := readFileLimited(path, o.Limits.MaxFileBytes, maxFileName)
	if err != nil {
		return nil, err
	}
	if o.Verify {
		if err := VerifyBytes(path, b); err != nil {
			return nil, err
		}
	}
	o.private = true
	var t Tensors
	switch {
	case bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, legacyMagic) || isTar(b):
		t, err = DecodeTorchWith(b, o)
	case len(b) >= 9 && b[8] == '{':
		t, _, err = decodeSafetensors(b, o)
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
