package weights

import (
	"fmt"
	"slices"

	"github.com/crd-ad/crd/internal/pickle"
	"github.com/crd-ad/crd/internal/safeio"
)

// Limits bounds what reading one weight file may cost, whatever the file
// says. A zero field takes its default (the Default* constants); errors name
// the limit that was reached, as the field name, so that a caller who trusts
// a bigger file knows what to raise.
type Limits struct {
	// MaxFileBytes bounds the size of the weight file, and of each entry
	// of a torch.save zip once decompressed.
	MaxFileBytes int64
	// MaxPickleBytes bounds the size of a checkpoint's data.pkl.
	MaxPickleBytes int64
	// MaxTensorElements bounds the element count of one tensor; values
	// above 2^32 count as 2^32.
	MaxTensorElements int64
	// MaxTotalElements bounds the elements of all tensors of the file
	// together (stride-0 views of one small storage could otherwise ask
	// for any amount of memory).
	MaxTotalElements int64
	// MaxPickleDepth bounds the nesting of marks in the pickle and of the
	// dicts the tensors are collected from.
	MaxPickleDepth int
	// MaxPickleMemo bounds the pickle's memo entries.
	MaxPickleMemo int
	// MaxPickleStack bounds the values on the pickle's stack.
	MaxPickleStack int
	// MaxDictEntries bounds the dict entries visited while collecting
	// tensors (a dict shared under several keys is visited once per key).
	MaxDictEntries int
}

// Default limits: far above every backbone crd knows (the largest file,
// wide_resnet50_2, is 263 MB with 69M elements, its largest tensor 2.4M, its
// data.pkl 40 KB) and low enough that a hostile file cannot exhaust memory.
const (
	DefaultMaxFileBytes      = 4 << 30
	DefaultMaxPickleBytes    = 16 << 20
	DefaultMaxTensorElements = 1 << 28
	DefaultMaxTotalElements  = 1 << 29
	DefaultMaxPickleDepth    = pickle.DefaultMaxDepth
	DefaultMaxPickleMemo     = pickle.DefaultMaxMemo
	DefaultMaxPickleStack    = pickle.DefaultMaxStack
	DefaultMaxDictEntries    = 1 << 20
)

// MaxNameBytes bounds the length of a tensor name built from nested dict
// keys.
const MaxNameBytes = 4096

// withDefaults returns l with each zero field set to its default.
func (l Limits) withDefaults() Limits {
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxFileBytes, DefaultMaxFileBytes)
	def(&l.MaxPickleBytes, DefaultMaxPickleBytes)
	def(&l.MaxTensorElements, DefaultMaxTensorElements)
	def(&l.MaxTotalElements, DefaultMaxTotalElements)
	l.MaxTensorElements = min(l.MaxTensorElements, 1<<32)
	defInt(&l.MaxPickleDepth, DefaultMaxPickleDepth)
	defInt(&l.MaxPickleMemo, DefaultMaxPickleMemo)
	defInt(&l.MaxPickleStack, DefaultMaxPickleStack)
	defInt(&l.MaxDictEntries, DefaultMaxDictEntries)
	return l
}

func (l Limits) pickle() pickle.Limits {
	return pickle.Limits{MaxStack: l.MaxPickleStack, MaxDepth: l.MaxPickleDepth, MaxMemo: l.MaxPickleMemo}
}

// Expected is a tensor a caller needs, with its shape.
type Expected struct {
	Name  string
	Shape []int
}

// Options tune OpenWith.
type Options struct {
	// Limits bounds the resources the file may use.
	Limits Limits
	// Expect, when not nil, lists the tensors the caller needs: only those
	// are decoded, and one whose shape differs is an error ("tensor NAME
	// has shape [..], ARCH needs [..]"), reported for the first in Expect
	// order before any tensor data is decoded. Missing tensors are not an
	// error here (CheckShapes reports them).
	Expect []Expected
	// Arch names the architecture in shape errors ("the architecture" when
	// empty).
	Arch string
	// Verify (OpenWith) checks the file against its SHA-256 sidecar
	// (SidecarPath), which must exist, on the bytes it then decodes: one
	// read, and what is decoded is what was checked.
	Verify bool
	// private says that the bytes being decoded belong to the decoder
	// alone (OpenWith's read), so that float32 tensors may share them
	// instead of being copied out.
	private bool
}

// index maps the names in o.Expect to their shapes (nil without Expect).
func (o *Options) index() map[string][]int {
	if o.Expect == nil {
		return nil
	}
	m := make(map[string][]int, len(o.Expect))
	for _, e := range o.Expect {
		m[e.Name] = e.Shape
	}
	return m
}

// checkExpected checks the shapes of the tensors found (by name) against
// o.Expect, in Expect order.
func (o *Options) checkExpected(shapeOf func(name string) ([]int, bool)) error {
	arch := o.Arch
	if arch == "" {
		arch = "the architecture"
	}
	for _, e := range o.Expect {
		got, ok := shapeOf(e.Name)
		if ok && !slices.Equal(got, e.Shape) {
			return fmt.Errorf("tensor %s has shape %v, %s needs %v", e.Name, got, arch, e.Shape)
		}
	}
	return nil
}

// countElements returns the product of shape, or an error when a dimension
// is negative or the product exceeds max (checked without overflow).
func countElements(shape []int, max int64) (int64, error) {
	n := int64(1)
	for _, s := range shape {
		if s < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		if s == 0 {
			n = 0
		}
	}
	if n == 0 {
		return 0, nil
	}
	for _, s := range shape {
		if int64(s) > max/n {
			return 0, fmt.Errorf("shape %v has more than %d elements (limit weights.Limits.MaxTensorElements)", shape, max)
		}
		n *= int64(s)
	}
	return n, nil
}

// maxFileName names the file size limit in errors.
const maxFileName = "weights.Limits.MaxFileBytes"

// readFileLimited reads a regular file of at most max bytes (see
// safeio.ReadFile); limit names the limit in errors.
func readFileLimited(path string, max int64, limit string) ([]byte, error) {
	return safeio.ReadFile(path, safeio.Limit{Bytes: max, Name: limit})
}
