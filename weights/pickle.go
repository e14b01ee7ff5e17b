package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// A minimal Python pickle virtual machine, enough for the pickles that
// torch.save writes (protocol 2, plus the protocol 3-5 opcodes that other
// writers use for the same objects). Reference: Python's Lib/pickletools.py,
// which documents every opcode.
//
// Values are Go values: nil, bool, int64, *big.Int, float64, string, []byte,
// pyTuple, *pyList, *pyDict, pyGlobal, and whatever the REDUCE and
// persistent-load hooks return. Nothing is ever executed: a GLOBAL only names
// a callable, and REDUCE of an unknown callable yields an inert pyCall.

type pyTuple []any

type pyList struct{ items []any }

// pyDict keeps insertion order; keys are compared with pyEqual.
type pyDict struct {
	keys, vals []any
}

func (d *pyDict) set(k, v any) {
	for i, kk := range d.keys {
		if pyEqual(kk, k) {
			d.vals[i] = v
			return
		}
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

func pyEqual(a, b any) bool {
	switch x := a.(type) {
	case string, int64, bool, float64, nil:
		return a == b
	case pyTuple:
		y, ok := b.(pyTuple)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !pyEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return false
}

type pyGlobal struct{ module, name string }

func (g pyGlobal) String() string { return g.module + "." + g.name }

// pyCall is the inert result of calling an unknown global.
type pyCall struct {
	fn    any
	args  any
	state any
}

type pyMark struct{}

// unpickler hooks.
type unpickler struct {
	data    []byte
	pos     int
	stack   []any
	marks   []int
	memo    map[int64]any
	persist func(pid any) (any, error)
	reduce  func(fn pyGlobal, args pyTuple) (any, bool, error)
}

var errPickleEOF = errors.New("pickle: unexpected end of data (truncated file?)")

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || u.pos+n > len(u.data) {
		return nil, errPickleEOF
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) readLine() (string, error) {
	i := strings.IndexByte(string(u.data[u.pos:]), '\n')
	if i < 0 {
		return "", errPickleEOF
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("pickle: stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	if _, ok := v.(pyMark); ok {
		return nil, errors.New("pickle: unexpected mark")
	}
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 {
		return nil, errors.New("pickle: stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark pops everything above the last MARK and the mark itself.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("pickle: no mark on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	if m >= len(u.stack) {
		return nil, errors.New("pickle: corrupt mark")
	}
	if _, ok := u.stack[m].(pyMark); !ok {
		return nil, errors.New("pickle: corrupt mark")
	}
	items := append([]any{}, u.stack[m+1:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) memoize(key int64) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	u.memo[key] = v
	return nil
}

func (u *unpickler) get(key int64) error {
	v, ok := u.memo[key]
	if !ok {
		return fmt.Errorf("pickle: memo key %d not found", key)
	}
	u.push(v)
	return nil
}

// load runs the pickle and returns the object it builds.
func (u *unpickler) load() (result any, err error) {
	if u.memo == nil {
		u.memo = map[int64]any{}
	}
	for {
		if u.pos >= len(u.data) {
			return nil, errPickleEOF
		}
		op := u.data[u.pos]
		u.pos++
		switch op {
		case 0x80: // PROTO
			if _, err := u.read(1); err != nil {
				return nil, err
			}
		case 0x95: // FRAME
			if _, err := u.read(8); err != nil {
				return nil, err
			}
		case '.': // STOP
			return u.pop()
		case '(': // MARK
			u.marks = append(u.marks, len(u.stack))
			u.stack = append(u.stack, pyMark{})
		case '0': // POP
			if len(u.stack) > 0 {
				if _, ok := u.stack[len(u.stack)-1].(pyMark); ok {
					u.marks = u.marks[:len(u.marks)-1]
					u.stack = u.stack[:len(u.stack)-1]
					break
				}
			}
			if _, err := u.pop(); err != nil {
				return nil, err
			}
		case '1': // POP_MARK
			if _, err := u.popMark(); err != nil {
				return nil, err
			}
		case '2': // DUP
			v, err := u.top()
			if err != nil {
				return nil, err
			}
			u.push(v)
		case 'N':
			u.push(nil)
		case 0x88:
			u.push(true)
		case 0x89:
			u.push(false)
		case 'J': // BININT
			b, err := u.read(4)
			if err != nil {
				return nil, err
			}
			u.push(int64(int32(binary.LittleEndian.Uint32(b))))
		case 'K': // BININT1
			b, err := u.read(1)
			if err != nil {
				return nil, err
			}
			u.push(int64(b[0]))
		case 'M': // BININT2
			b, err := u.read(2)
			if err != nil {
				return nil, err
			}
			u.push(int64(binary.LittleEndian.Uint16(b)))
		case 0x8a, 0x8b: // LONG1, LONG4
			var n int
			if op == 0x8a {
				b, err := u.read(1)
				if err != nil {
					return nil, err
				}
				n = int(b[0])
			} else {
				b, err := u.read(4)
				if err != nil {
					return nil, err
				}
				n = int(int32(binary.LittleEndian.Uint32(b)))
			}
			b, err := u.read(n)
			if err != nil {
				return nil, err
			}
			u.push(decodeLong(b))
		case 'I', 'L': // INT, LONG (text)
			s, err := u.readLine()
			if err != nil {
				return nil, err
			}
			s = strings.TrimSuffix(s, "L")
			switch s {
			case "00":
				u.push(false)
			case "01":
				u.push(true)
			default:
				v, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("pickle: bad integer %q", s)
				}
				u.push(v)
			}
		case 'G': // BINFLOAT (big-endian)
			b, err := u.read(8)
			if err != nil {
				return nil, err
			}
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		case 'F':
			s, err := u.readLine()
			if err != nil {
				return nil, err
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("pickle: bad float %q", s)
			}
			u.push(v)
		case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
			n, err := u.readLen(op)
			if err != nil {
				return nil, err
			}
			b, err := u.read(n)
			if err != nil {
				return nil, err
			}
			u.push(string(b))
		case 'T', 'U': // BINSTRING, SHORT_BINSTRING
			n, err := u.readLen(op)
			if err != nil {
				return nil, err
			}
			b, err := u.read(n)
			if err != nil {
				return nil, err
			}
			u.push(string(b))
		case 'B', 'C', 0x8e: // BINBYTES, SHORT_BINBYTES, BINBYTES8
			n, err := u.readLen(op)
			if err != nil {
				return nil, err
			}
			b, err := u.read(n)
			if err != nil {
				return nil, err
			}
			u.push(append([]byte{}, b...))
		case 'V', 'S': // UNICODE, STRING (text)
			s, err := u.readLine()
			if err != nil {
				return nil, err
			}
			if op == 'S' {
				if uq, err := strconv.Unquote(s); err == nil {
					s = uq
				} else if len(s) >= 2 {
					s = s[1 : len(s)-1]
				}
			}
			u.push(s)
		case ')':
			u.push(pyTuple{})
		case 't':
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(pyTuple(items))
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op - 0x84)
			if len(u.stack) < n {
				return nil, errors.New("pickle: stack underflow")
			}
			t := append(pyTuple{}, u.stack[len(u.stack)-n:]...)
			u.stack = u.stack[:len(u.stack)-n]
			u.push(t)
		case ']':
			u.push(&pyList{})
		case 'l':
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(&pyList{items: items})
		case 'a': // APPEND
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			if err := u.appendTo([]any{v}); err != nil {
				return nil, err
			}
		case 'e': // APPENDS
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if err := u.appendTo(items); err != nil {
				return nil, err
			}
		case '}':
			u.push(&pyDict{})
		case 'd':
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			d := &pyDict{}
			if err := setItems(d, items); err != nil {
				return nil, err
			}
			u.push(d)
		case 's': // SETITEM
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			k, err := u.pop()
			if err != nil {
				return nil, err
			}
			if err := u.setOnTop([]any{k, v}); err != nil {
				return nil, err
			}
		case 'u': // SETITEMS
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if err := u.setOnTop(items); err != nil {
				return nil, err
			}
		case 0x8f: // EMPTY_SET
			u.push(&pyList{})
		case 0x90: // ADDITEMS
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if err := u.appendTo(items); err != nil {
				return nil, err
			}
		case 0x91: // FROZENSET
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(&pyList{items: items})
		case 'p', 'q', 'r': // PUT, BINPUT, LONG_BINPUT
			k, err := u.memoKey(op)
			if err != nil {
				return nil, err
			}
			if err := u.memoize(k); err != nil {
				return nil, err
			}
		case 0x94: // MEMOIZE
			if err := u.memoize(int64(len(u.memo))); err != nil {
				return nil, err
			}
		case 'g', 'h', 'j': // GET, BINGET, LONG_BINGET
			k, err := u.memoKey(op)
			if err != nil {
				return nil, err
			}
			if err := u.get(k); err != nil {
				return nil, err
			}
		case 'c': // GLOBAL
			mod, err := u.readLine()
			if err != nil {
				return nil, err
			}
			name, err := u.readLine()
			if err != nil {
				return nil, err
			}
			u.push(pyGlobal{mod, name})
		case 0x93: // STACK_GLOBAL
			name, err := u.pop()
			if err != nil {
				return nil, err
			}
			mod, err := u.pop()
			if err != nil {
				return nil, err
			}
			ms, ok1 := mod.(string)
			ns, ok2 := name.(string)
			if !ok1 || !ok2 {
				return nil, errors.New("pickle: STACK_GLOBAL needs two strings")
			}
			u.push(pyGlobal{ms, ns})
		case 'Q': // BINPERSID
			pid, err := u.pop()
			if err != nil {
				return nil, err
			}
			if u.persist == nil {
				return nil, errors.New("pickle: persistent id without a loader")
			}
			v, err := u.persist(pid)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case 'R', 0x81: // REDUCE, NEWOBJ
			args, err := u.pop()
			if err != nil {
				return nil, err
			}
			fn, err := u.pop()
			if err != nil {
				return nil, err
			}
			targs, ok := args.(pyTuple)
			if !ok {
				return nil, fmt.Errorf("pickle: call arguments are %T, not a tuple", args)
			}
			v, err := u.call(fn, targs)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case 'b': // BUILD
			state, err := u.pop()
			if err != nil {
				return nil, err
			}
			obj, err := u.top()
			if err != nil {
				return nil, err
			}
			if c, ok := obj.(*pyCall); ok {
				c.state = state
			}
			// State on dicts (OrderedDict._metadata) and tensors is ignored.
		default:
			return nil, fmt.Errorf("pickle: unsupported opcode 0x%02x at byte %d", op, u.pos-1)
		}
	}
}

// memoKey reads the memo key argument of PUT and GET (a decimal line), of
// BINPUT and BINGET (1 byte) or of LONG_BINPUT and LONG_BINGET (4 bytes).
func (u *unpickler) memoKey(op byte) (int64, error) {
	switch op {
	case 'p', 'g':
		s, err := u.readLine()
		if err != nil {
			return 0, err
		}
		k, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("pickle: bad memo key %q", s)
		}
		return k, nil
	case 'q', 'h':
		b, err := u.read(1)
		if err != nil {
			return 0, err
		}
		return int64(b[0]), nil
	}
	b, err := u.read(4)
	if err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint32(b)), nil
}

func (u *unpickler) readLen(op byte) (int, error) {
	switch op {
	case 0x8c, 'U', 'C':
		b, err := u.read(1)
		if err != nil {
			return 0, err
		}
		return int(b[0]), nil
	case 0x8d, 0x8e:
		b, err := u.read(8)
		if err != nil {
			return 0, err
		}
		n := binary.LittleEndian.Uint64(b)
		if n > uint64(len(u.data)) {
			return 0, errPickleEOF
		}
		return int(n), nil
	}
	b, err := u.read(4)
	if err != nil {
		return 0, err
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n) > uint64(len(u.data)) {
		return 0, errPickleEOF
	}
	return int(n), nil
}

func (u *unpickler) appendTo(items []any) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	l, ok := v.(*pyList)
	if !ok {
		return fmt.Errorf("pickle: append to %T", v)
	}
	l.items = append(l.items, items...)
	return nil
}

func (u *unpickler) setOnTop(items []any) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	d, ok := v.(*pyDict)
	if !ok {
		return fmt.Errorf("pickle: setitem on %T", v)
	}
	return setItems(d, items)
}

func setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return errors.New("pickle: odd number of dict items")
	}
	for i := 0; i < len(items); i += 2 {
		d.set(items[i], items[i+1])
	}
	return nil
}

func (u *unpickler) call(fn any, args pyTuple) (any, error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return &pyCall{fn: fn, args: args}, nil
	}
	switch g.String() {
	case "collections.OrderedDict", "builtins.dict", "__builtin__.dict":
		return &pyDict{}, nil
	}
	if u.reduce != nil {
		v, handled, err := u.reduce(g, args)
		if err != nil {
			return nil, err
		}
		if handled {
			return v, nil
		}
	}
	return &pyCall{fn: g, args: args}, nil
}

// decodeLong decodes a little-endian two's-complement integer.
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
	return v
}
