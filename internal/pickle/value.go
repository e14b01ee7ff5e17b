package pickle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
)

// Tuple is a Python tuple.
type Tuple []any

// List is a Python list (also used for sets and frozensets).
type List struct{ Items []any }

// Dict is a Python dict that keeps insertion order. Keys are compared by
// value for None, bool, int, float, str, bytes and tuples of those, by
// identity for everything else; bool and int keys stay distinct (as they
// always have in this reader, unlike Python's True == 1).
type Dict struct {
	Keys, Vals []any
	index      map[any]int
}

// Global names a callable or class (the GLOBAL and STACK_GLOBAL opcodes).
// Nothing is ever imported or executed.
type Global struct{ Module, Name string }

// String returns "module.name".
func (g Global) String() string { return g.Module + "." + g.Name }

// Call is the inert result of calling (REDUCE, NEWOBJ) a global the Reduce
// hook does not handle; State is what a later BUILD gave it.
type Call struct {
	Fn    any
	Args  Tuple
	State any
}

// MaxKeyBytes bounds the canonical encoding of one tuple or big-integer dict
// key, so that each insertion stays O(1).
const MaxKeyBytes = 256

// Set sets d[k] = v in O(1) amortised time. A key of a type that cannot be
// hashed, or a tuple key nested deeper than MaxDepth or longer than
// MaxKeyBytes once encoded, is an error.
func (d *Dict) Set(k, v any) error {
	key, err := hashKey(k)
	if err != nil {
		return err
	}
	if d.index == nil {
		d.index = make(map[any]int, len(d.Keys)+1)
		for i, kk := range d.Keys {
			hk, err := hashKey(kk)
			if err != nil {
				return err
			}
			d.index[hk] = i
		}
	}
	if i, ok := d.index[key]; ok {
		d.Vals[i] = v
		return nil
	}
	d.index[key] = len(d.Keys)
	d.Keys = append(d.Keys, k)
	d.Vals = append(d.Vals, v)
	return nil
}

// Get returns d[k] and whether it is present.
func (d *Dict) Get(k any) (any, bool) {
	key, err := hashKey(k)
	if err != nil || d.index == nil {
		return nil, false
	}
	i, ok := d.index[key]
	if !ok {
		return nil, false
	}
	return d.Vals[i], true
}

// Distinct key types, so that a str never equals bytes or a tuple with the
// same encoding.
type (
	bytesKey string
	tupleKey string
)

// hashKey returns a comparable Go value standing for the dict key k.
func hashKey(k any) (any, error) {
	switch x := k.(type) {
	case nil, bool, int64, float64, string, Global:
		return k, nil
	case []byte:
		if len(x) > MaxKeyBytes {
			return nil, fmt.Errorf("pickle: bytes dict key longer than %d bytes (pickle.MaxKeyBytes)", MaxKeyBytes)
		}
		return bytesKey(x), nil
	case *List, *Dict:
		return nil, fmt.Errorf("pickle: unhashable dict key of type %T", k)
	case *big.Int, Tuple:
		b, err := appendKey(nil, k, 0)
		if err != nil {
			return nil, err
		}
		return tupleKey(b), nil
	}
	if k != nil && reflect.TypeOf(k).Kind() == reflect.Pointer {
		return k, nil // identity
	}
	return nil, fmt.Errorf("pickle: unhashable dict key of type %T", k)
}

var errKeyTooLong = fmt.Errorf("pickle: dict key longer than %d bytes once encoded (pickle.MaxKeyBytes)", MaxKeyBytes)

// appendKey appends a type-tagged, length-prefixed encoding of a hashable
// value to b.
func appendKey(b []byte, k any, depth int) ([]byte, error) {
	if depth > maxKeyDepth {
		return nil, fmt.Errorf("pickle: dict key tuple nested deeper than %d", maxKeyDepth)
	}
	switch x := k.(type) {
	case nil:
		b = append(b, 'N')
	case bool:
		b = append(b, 'b')
		if x {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case int64:
		b = binary.LittleEndian.AppendUint64(append(b, 'i'), uint64(x))
	case float64:
		b = binary.LittleEndian.AppendUint64(append(b, 'f'), math.Float64bits(x))
	case string:
		b = appendBytes(append(b, 's'), x)
	case []byte:
		b = appendBytes(append(b, 'y'), string(x))
	case *big.Int:
		if x.BitLen() > 8*MaxKeyBytes {
			return nil, errKeyTooLong
		}
		b = appendBytes(append(b, 'l'), x.String())
	case Global:
		b = appendBytes(appendBytes(append(b, 'g'), x.Module), x.Name)
	case Tuple:
		b = binary.LittleEndian.AppendUint32(append(b, 't'), uint32(len(x)))
		for _, e := range x {
			var err error
			if b, err = appendKey(b, e, depth+1); err != nil {
				return nil, err
			}
			if len(b) > MaxKeyBytes {
				return nil, errKeyTooLong
			}
		}
	default:
		return nil, fmt.Errorf("pickle: unhashable value of type %T in a dict key tuple", k)
	}
	if len(b) > MaxKeyBytes {
		return nil, errKeyTooLong
	}
	return b, nil
}

// maxKeyDepth bounds the nesting of tuples inside a dict key (each level
// costs at least 5 bytes of MaxKeyBytes anyway).
const maxKeyDepth = MaxKeyBytes / 5

func appendBytes(b []byte, s string) []byte {
	return append(binary.LittleEndian.AppendUint32(b, uint32(len(s))), s...)
}

// decodeLong decodes a little-endian two's-complement integer: an int64
// when it fits, else a *big.Int.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := 64 - 8*uint(len(b))
		return int64(v<<shift) >> shift
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if v.IsInt64() {
		return v.Int64()
	}
	return v
}

var errEOF = errors.New("pickle: unexpected end of data (truncated file?)")
