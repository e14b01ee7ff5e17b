// Package pickle is a minimal Python pickle virtual machine, enough for the
// pickles that torch.save writes (protocol 2, plus the protocol 0-5 opcodes
// that other writers use for the same objects). Reference: Python's
// Lib/pickletools.py, which documents every opcode.
//
// Values are Go values: nil, bool, int64, *big.Int (only when the value does
// not fit an int64), float64, string, []byte, Tuple, *List, *Dict, Global,
// *Call, and whatever the Persistent and Reduce hooks return. Nothing is
// ever executed: a GLOBAL only names a callable, and REDUCE of a callable the
// Reduce hook does not handle yields an inert *Call.
//
// Each opcode costs O(1) amortised time and memory beyond the bytes it
// reads, except those that gather the items above a mark, which cost O(1)
// per item. The stack, the mark stack and the memo are bounded by Limits.
package pickle

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits bounds the resources a pickle may use. A zero field takes its
// default (DefaultMaxStack, DefaultMaxDepth, DefaultMaxMemo).
type Limits struct {
	// MaxStack bounds the number of values on the stack.
	MaxStack int
	// MaxDepth bounds the number of open marks (nested MARK opcodes).
	// Consumers walking the result apply it to container nesting too.
	MaxDepth int
	// MaxMemo bounds the number of memo entries.
	MaxMemo int
}

// Default limits. The pickles of real checkpoints use a few thousand stack
// slots and memo entries and a nesting depth under 10.
const (
	DefaultMaxStack = 1 << 20
	DefaultMaxDepth = 100
	DefaultMaxMemo  = 1 << 20
)

// WithDefaults returns l with each zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxStack <= 0 {
		l.MaxStack = DefaultMaxStack
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxMemo <= 0 {
		l.MaxMemo = DefaultMaxMemo
	}
	return l
}

// Unpickler runs one pickle. Set the hooks and limits, then call Load.
type Unpickler struct {
	// Persistent resolves a persistent id (BINPERSID, PERSID); without it
	// a persistent id is an error.
	Persistent func(pid any) (any, error)
	// Reduce is offered every call of a Global; it returns handled false
	// to leave the call inert.
	Reduce func(fn Global, args Tuple) (v any, handled bool, err error)
	// Limits bounds the stack, marks and memo.
	Limits Limits

	data  []byte
	pos   int
	stack []any
	marks []int // stack heights at each open MARK
	memo  map[int64]any
	lim   Limits
}

// Load runs the pickle in data and returns the object it builds.
func (u *Unpickler) Load(data []byte) (any, error) {
	u.data, u.pos = data, 0
	u.stack, u.marks = u.stack[:0], u.marks[:0]
	u.memo = map[int64]any{}
	u.lim = u.Limits.WithDefaults()
	for {
		if u.pos >= len(u.data) {
			return nil, errEOF
		}
		op := u.data[u.pos]
		u.pos++
		if op == opStop {
			return u.pop()
		}
		h := handlers[op]
		if h == nil {
			return nil, fmt.Errorf("pickle: unsupported opcode 0x%02x at byte %d", op, u.pos-1)
		}
		if err := h(u, op); err != nil {
			return nil, err
		}
	}
}

// fence is the stack height below which the current frame may not pop.
func (u *Unpickler) fence() int {
	if len(u.marks) == 0 {
		return 0
	}
	return u.marks[len(u.marks)-1]
}

func (u *Unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, errEOF
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// readLine returns the bytes up to the next newline, without copying.
func (u *Unpickler) readLine() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", errEOF
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *Unpickler) push(v any) error {
	if len(u.stack) >= u.lim.MaxStack {
		return fmt.Errorf("pickle: stack holds more than %d values (limit pickle.Limits.MaxStack)", u.lim.MaxStack)
	}
	u.stack = append(u.stack, v)
	return nil
}

var errUnderflow = errors.New("pickle: stack underflow (or a value expected above a mark)")

func (u *Unpickler) top() (any, error) {
	if len(u.stack) <= u.fence() {
		return nil, errUnderflow
	}
	return u.stack[len(u.stack)-1], nil
}

func (u *Unpickler) pop() (any, error) {
	v, err := u.top()
	if err != nil {
		return nil, err
	}
	u.stack[len(u.stack)-1] = nil
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

// popMark pops the items above the last mark, and the mark.
func (u *Unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("pickle: no mark on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any{}, u.stack[m:]...)
	clear(u.stack[m:])
	u.stack = u.stack[:m]
	return items, nil
}

func (u *Unpickler) memoize(key int64) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	if _, ok := u.memo[key]; !ok && len(u.memo) >= u.lim.MaxMemo {
		return fmt.Errorf("pickle: memo holds more than %d entries (limit pickle.Limits.MaxMemo)", u.lim.MaxMemo)
	}
	u.memo[key] = v
	return nil
}

// Opcodes (pickletools names).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opFloat          = 'F'
	opInt            = 'I'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opLong           = 'L'
	opBinInt2        = 'M'
	opNone           = 'N'
	opPersID         = 'P'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opString         = 'S'
	opBinString      = 'T'
	opShortBinString = 'U'
	opUnicode        = 'V'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opGet            = 'g'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opPut            = 'p'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opProto          = 0x80
	opNewObj         = 0x81
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opEmptySet       = 0x8f
	opAddItems       = 0x90
	opFrozenSet      = 0x91
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
)

type handler func(u *Unpickler, op byte) error

// handlers is the dispatch table, indexed by opcode.
var handlers [256]handler

func init() {
	set := func(h handler, ops ...byte) {
		for _, op := range ops {
			handlers[op] = h
		}
	}
	set((*Unpickler).opProto, opProto)
	set((*Unpickler).opFrame, opFrame)
	set((*Unpickler).opMark, opMark)
	set((*Unpickler).opPop, opPop)
	set((*Unpickler).opPopMark, opPopMark)
	set((*Unpickler).opDup, opDup)
	set((*Unpickler).opConst, opNone, opNewTrue, opNewFalse, opEmptyTuple, opEmptyList, opEmptyDict, opEmptySet)
	set((*Unpickler).opBinInt, opBinInt, opBinInt1, opBinInt2)
	set((*Unpickler).opLongN, opLong1, opLong4)
	set((*Unpickler).opTextInt, opInt, opLong)
	set((*Unpickler).opBinFloat, opBinFloat)
	set((*Unpickler).opTextFloat, opFloat)
	set((*Unpickler).opBinStr, opBinUnicode, opShortBinUni, opBinUnicode8, opBinString, opShortBinString)
	set((*Unpickler).opBinBytes, opBinBytes, opShortBinBytes, opBinBytes8)
	set((*Unpickler).opTextStr, opUnicode, opString)
	set((*Unpickler).opMarkTuple, opTuple)
	set((*Unpickler).opTupleN, opTuple1, opTuple2, opTuple3)
	set((*Unpickler).opMarkList, opList, opFrozenSet)
	set((*Unpickler).opAppend, opAppend)
	set((*Unpickler).opAppends, opAppends, opAddItems)
	set((*Unpickler).opMarkDict, opDict)
	set((*Unpickler).opSetItem, opSetItem)
	set((*Unpickler).opSetItems, opSetItems)
	set((*Unpickler).opPut, opPut, opBinPut, opLongBinPut)
	set((*Unpickler).opMemoize, opMemoize)
	set((*Unpickler).opGet, opGet, opBinGet, opLongBinGet)
	set((*Unpickler).opGlobal, opGlobal)
	set((*Unpickler).opStackGlobal, opStackGlobal)
	set((*Unpickler).opPersID, opPersID, opBinPersID)
	set((*Unpickler).opReduce, opReduce, opNewObj)
	set((*Unpickler).opBuild, opBuild)
}

func (u *Unpickler) opProto(byte) error { _, err := u.read(1); return err }

func (u *Unpickler) opFrame(byte) error { _, err := u.read(8); return err }

func (u *Unpickler) opMark(byte) error {
	if len(u.marks) >= u.lim.MaxDepth {
		return fmt.Errorf("pickle: more than %d nested marks (limit pickle.Limits.MaxDepth)", u.lim.MaxDepth)
	}
	u.marks = append(u.marks, len(u.stack))
	return nil
}

// opPop discards the top value, or the last mark when the frame is empty.
func (u *Unpickler) opPop(byte) error {
	if len(u.stack) <= u.fence() && len(u.marks) > 0 {
		u.marks = u.marks[:len(u.marks)-1]
		return nil
	}
	_, err := u.pop()
	return err
}

func (u *Unpickler) opPopMark(byte) error { _, err := u.popMark(); return err }

func (u *Unpickler) opDup(byte) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	return u.push(v)
}

func (u *Unpickler) opConst(op byte) error {
	switch op {
	case opNone:
		return u.push(nil)
	case opNewTrue:
		return u.push(true)
	case opNewFalse:
		return u.push(false)
	case opEmptyTuple:
		return u.push(Tuple{})
	case opEmptyDict:
		return u.push(&Dict{})
	}
	return u.push(&List{}) // EMPTY_LIST, EMPTY_SET
}

func (u *Unpickler) opBinInt(op byte) error {
	switch op {
	case opBinInt1:
		b, err := u.read(1)
		if err != nil {
			return err
		}
		return u.push(int64(b[0]))
	case opBinInt2:
		b, err := u.read(2)
		if err != nil {
			return err
		}
		return u.push(int64(binary.LittleEndian.Uint16(b)))
	}
	b, err := u.read(4)
	if err != nil {
		return err
	}
	return u.push(int64(int32(binary.LittleEndian.Uint32(b))))
}

func (u *Unpickler) opLongN(op byte) error {
	b, err := u.readCounted(op)
	if err != nil {
		return err
	}
	return u.push(decodeLong(b))
}

func (u *Unpickler) opTextInt(byte) error {
	s, err := u.readLine()
	if err != nil {
		return err
	}
	s = strings.TrimSuffix(s, "L")
	switch s {
	case "00":
		return u.push(false)
	case "01":
		return u.push(true)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("pickle: bad integer %q", clip(s))
	}
	return u.push(v)
}

func (u *Unpickler) opBinFloat(byte) error {
	b, err := u.read(8)
	if err != nil {
		return err
	}
	return u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
}

func (u *Unpickler) opTextFloat(byte) error {
	s, err := u.readLine()
	if err != nil {
		return err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("pickle: bad float %q", clip(s))
	}
	return u.push(v)
}

func (u *Unpickler) opBinStr(op byte) error {
	b, err := u.readCounted(op)
	if err != nil {
		return err
	}
	return u.push(string(b))
}

func (u *Unpickler) opBinBytes(op byte) error {
	b, err := u.readCounted(op)
	if err != nil {
		return err
	}
	return u.push(append([]byte{}, b...))
}

func (u *Unpickler) opTextStr(op byte) error {
	s, err := u.readLine()
	if err != nil {
		return err
	}
	if op == opString {
		if uq, err := strconv.Unquote(s); err == nil {
			s = uq
		} else if len(s) >= 2 {
			s = s[1 : len(s)-1]
		}
	}
	return u.push(s)
}

// withMark pops the items above the last mark, and the mark, and passes
// them to f.
func (u *Unpickler) withMark(f func(items []any) error) error {
	items, err := u.popMark()
	if err != nil {
		return err
	}
	return f(items)
}

func (u *Unpickler) opMarkTuple(byte) error {
	return u.withMark(func(items []any) error { return u.push(Tuple(items)) })
}

func (u *Unpickler) opTupleN(op byte) error {
	n := int(op - opTuple1 + 1)
	if len(u.stack)-u.fence() < n {
		return errUnderflow
	}
	t := append(Tuple{}, u.stack[len(u.stack)-n:]...)
	u.stack = u.stack[:len(u.stack)-n]
	return u.push(t)
}

func (u *Unpickler) opMarkList(byte) error {
	return u.withMark(func(items []any) error { return u.push(&List{Items: items}) })
}

func (u *Unpickler) opAppend(byte) error {
	v, err := u.pop()
	if err != nil {
		return err
	}
	return u.appendTo(v)
}

func (u *Unpickler) opAppends(byte) error {
	return u.withMark(func(items []any) error { return u.appendTo(items...) })
}

func (u *Unpickler) appendTo(items ...any) error {
	l, err := topAs[*List](u, "append to")
	if err != nil {
		return err
	}
	l.Items = append(l.Items, items...)
	return nil
}

// topAs returns the top of the stack as a T; what names the operation in
// the error for another type.
func topAs[T any](u *Unpickler, what string) (T, error) {
	var zero T
	v, err := u.top()
	if err != nil {
		return zero, err
	}
	x, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("pickle: %s %T", what, v)
	}
	return x, nil
}

func (u *Unpickler) opMarkDict(byte) error {
	return u.withMark(func(items []any) error {
		d := &Dict{}
		if err := setItems(d, items); err != nil {
			return err
		}
		return u.push(d)
	})
}

// pop2 pops the top two values: a, then b was on top.
func (u *Unpickler) pop2() (a, b any, err error) {
	if b, err = u.pop(); err != nil {
		return nil, nil, err
	}
	if a, err = u.pop(); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

func (u *Unpickler) opSetItem(byte) error {
	k, v, err := u.pop2()
	if err != nil {
		return err
	}
	return u.setOnTop(k, v)
}

func (u *Unpickler) opSetItems(byte) error {
	return u.withMark(func(items []any) error { return u.setOnTop(items...) })
}

func (u *Unpickler) setOnTop(items ...any) error {
	d, err := topAs[*Dict](u, "setitem on")
	if err != nil {
		return err
	}
	return setItems(d, items)
}

func setItems(d *Dict, items []any) error {
	if len(items)%2 != 0 {
		return errors.New("pickle: odd number of dict items")
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.Set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func (u *Unpickler) opPut(op byte) error {
	k, err := u.memoKey(op)
	if err != nil {
		return err
	}
	return u.memoize(k)
}

func (u *Unpickler) opMemoize(byte) error { return u.memoize(int64(len(u.memo))) }

func (u *Unpickler) opGet(op byte) error {
	k, err := u.memoKey(op)
	if err != nil {
		return err
	}
	v, ok := u.memo[k]
	if !ok {
		return fmt.Errorf("pickle: memo key %d not found", k)
	}
	return u.push(v)
}

func (u *Unpickler) opGlobal(byte) error {
	mod, err := u.readLine()
	if err != nil {
		return err
	}
	name, err := u.readLine()
	if err != nil {
		return err
	}
	return u.push(Global{mod, name})
}

func (u *Unpickler) opStackGlobal(byte) error {
	mod, name, err := u.pop2()
	if err != nil {
		return err
	}
	ms, ok1 := mod.(string)
	ns, ok2 := name.(string)
	if !ok1 || !ok2 {
		return errors.New("pickle: STACK_GLOBAL needs two strings")
	}
	return u.push(Global{ms, ns})
}

func (u *Unpickler) opPersID(op byte) error {
	var pid any
	if op == opPersID {
		s, err := u.readLine()
		if err != nil {
			return err
		}
		pid = s
	} else {
		var err error
		if pid, err = u.pop(); err != nil {
			return err
		}
	}
	if u.Persistent == nil {
		return errors.New("pickle: persistent id without a loader")
	}
	v, err := u.Persistent(pid)
	if err != nil {
		return err
	}
	return u.push(v)
}

func (u *Unpickler) opReduce(byte) error {
	fn, args, err := u.pop2()
	if err != nil {
		return err
	}
	targs, ok := args.(Tuple)
	if !ok {
		return fmt.Errorf("pickle: call arguments are %T, not a tuple", args)
	}
	v, err := u.call(fn, targs)
	if err != nil {
		return err
	}
	return u.push(v)
}

func (u *Unpickler) call(fn any, args Tuple) (any, error) {
	g, ok := fn.(Global)
	if !ok {
		return &Call{Fn: fn, Args: args}, nil
	}
	switch g.String() {
	case "collections.OrderedDict", "builtins.dict", "__builtin__.dict":
		return &Dict{}, nil
	}
	if u.Reduce != nil {
		v, handled, err := u.Reduce(g, args)
		if err != nil {
			return nil, err
		}
		if handled {
			return v, nil
		}
	}
	return &Call{Fn: g, Args: args}, nil
}

// opBuild records the state of an inert call; the state of dicts
// (OrderedDict._metadata) and of hook results is ignored.
func (u *Unpickler) opBuild(byte) error {
	state, err := u.pop()
	if err != nil {
		return err
	}
	obj, err := u.top()
	if err != nil {
		return err
	}
	if c, ok := obj.(*Call); ok {
		c.State = state
	}
	return nil
}

// memoKey reads the memo key argument of PUT and GET (a decimal line), of
// BINPUT and BINGET (1 byte) or of LONG_BINPUT and LONG_BINGET (4 bytes).
func (u *Unpickler) memoKey(op byte) (int64, error) {
	switch op {
	case opPut, opGet:
		s, err := u.readLine()
		if err != nil {
			return 0, err
		}
		k, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("pickle: bad memo key %q", clip(s))
		}
		return k, nil
	case opBinPut, opBinGet:
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

// readCounted reads the length argument of op, then that many bytes.
func (u *Unpickler) readCounted(op byte) ([]byte, error) {
	n, err := u.readLen(op)
	if err != nil {
		return nil, err
	}
	return u.read(n)
}

// readLen reads the length argument of a counted string, bytes or long
// opcode; a length past the end of the data is a truncation error.
func (u *Unpickler) readLen(op byte) (int, error) {
	var n uint64
	switch op {
	case opShortBinUni, opShortBinString, opShortBinBytes, opLong1:
		b, err := u.read(1)
		if err != nil {
			return 0, err
		}
		n = uint64(b[0])
	case opBinUnicode8, opBinBytes8:
		b, err := u.read(8)
		if err != nil {
			return 0, err
		}
		n = binary.LittleEndian.Uint64(b)
	case opLong4, opBinString:
		b, err := u.read(4)
		if err != nil {
			return 0, err
		}
		v := int32(binary.LittleEndian.Uint32(b))
		if v < 0 {
			return 0, fmt.Errorf("pickle: negative length %d", v)
		}
		n = uint64(v)
	default:
		b, err := u.read(4)
		if err != nil {
			return 0, err
		}
		n = uint64(binary.LittleEndian.Uint32(b))
	}
	if n > uint64(len(u.data)-u.pos) {
		return 0, errEOF
	}
	return int(n), nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
