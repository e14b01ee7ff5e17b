package pickle

import (
	"reflect"
	"strings"
	"testing"
)

func load(data string) (any, error) {
	u := &Unpickler{}
	return u.Load([]byte(data))
}

// TestMemo: every form of PUT and GET (text, 1-byte and 4-byte keys)
// stores and fetches the right object; a missing key and a bad text key
// are errors.
func TestMemo(t *testing.T) {
	got, err := load("(K\x07p0\ng0\nK\x08q\x01h\x01K\x09r\x02\x00\x00\x00j\x02\x00\x00\x00t.")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Tuple{int64(7), int64(7), int64(8), int64(8), int64(9), int64(9)}); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
	for name, c := range map[string]struct{ data, err string }{
		"missing key":  {"K\x07h\x05.", "memo key 5 not found"},
		"bad text key": {"K\x07px\n.", `bad memo key "x"`},
		"truncated":    {"K\x07r\x01\x00", "unexpected end"},
	} {
		if _, err := load(c.data); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: got %v, want an error with %q", name, err, c.err)
		}
	}
}

// TestStrayMark: issue #13 item 5. A MARK reached through DUP or through
// MEMOIZE/PUT and GET, then POP, used to panic with "slice bounds out of
// range"; marks are no longer values, so each is a clear error.
func TestStrayMark(t *testing.T) {
	for name, data := range map[string]string{
		"dup":         "\x80\x02(200.",
		"memoize+get": "\x80\x04(\x94h\x0000.",
		"put+get":     "\x80\x02(q\x00h\x0000.",
		"pop marks":   "((0000.",
	} {
		if _, err := load(data); err == nil || !strings.Contains(err.Error(), "underflow") {
			t.Errorf("%s: got %v, want a stack underflow error", name, err)
		}
	}
	// POP of an empty frame discards the mark, as in CPython.
	got, err := load("K\x01(0.")
	if err != nil || got != int64(1) {
		t.Errorf("POP of a mark: %v, %v", got, err)
	}
	// A value below a mark cannot be popped from above it.
	if _, err := load("K\x01(\x85."); err == nil {
		t.Error("TUPLE1 reached below a mark")
	}
}

// TestLimits: the stack, the marks and the memo are bounded, and the
// errors name the limit.
func TestLimits(t *testing.T) {
	for name, c := range map[string]struct {
		lim        Limits
		data, want string
	}{
		"stack": {Limits{MaxStack: 10}, strings.Repeat("N", 11) + ".", "pickle.Limits.MaxStack"},
		"marks": {Limits{MaxDepth: 3}, "((((.", "pickle.Limits.MaxDepth"},
		"memo":  {Limits{MaxMemo: 2}, "N\x94\x94\x94.", "pickle.Limits.MaxMemo"},
	} {
		u := &Unpickler{Limits: c.lim}
		if _, err := u.Load([]byte(c.data)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, c.want)
		}
	}
	// Repeated PUT of one key does not grow the memo.
	u := &Unpickler{Limits: Limits{MaxMemo: 1}}
	if _, err := u.Load([]byte("Nq\x00q\x00q\x00.")); err != nil {
		t.Error(err)
	}
}

// TestDictKeys: keys are compared by value for scalars, bytes and tuples,
// a repeated key replaces the value in place, and unhashable or oversized
// keys are errors.
func TestDictKeys(t *testing.T) {
	got, err := load("}(K\x01K\x02\x88K\x03U\x01aK\x04C\x01aK\x05K\x01K\x02\x86K\x06U\x01aK\x07K\x01K\x02\x86K\x08K\x01K\x09u.")
	if err != nil {
		t.Fatal(err)
	}
	d := got.(*Dict)
	want := []any{int64(1), true, "a", []byte("a"), Tuple{int64(1), int64(2)}}
	if !reflect.DeepEqual(d.Keys, want) {
		t.Errorf("keys %#v, want %#v", d.Keys, want)
	}
	if v, _ := d.Get(int64(1)); v != int64(9) {
		t.Errorf("d[1] = %v, want 9", v)
	}
	if v, _ := d.Get(Tuple{int64(1), int64(2)}); v != int64(8) {
		t.Errorf("d[(1, 2)] = %v, want 8", v)
	}
	if v, _ := d.Get("a"); v != int64(7) {
		t.Errorf("d['a'] = %v, want 7", v)
	}
	for name, c := range map[string]struct{ data, want string }{
		"list key":  {"}]K\x01s.", "unhashable"},
		"long key":  {"}(" + strings.Repeat("U\x08abcdefgh", 40) + "tK\x01s.", "pickle.MaxKeyBytes"},
		"deep key":  {"}K\x01" + strings.Repeat("\x85", 100) + "K\x01s.", "nested deeper"},
		"list item": {"}(]tK\x01s.", "unhashable"},
	} {
		if _, err := load(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, c.want)
		}
	}
}

// TestDictManyKeys: 100,000 distinct keys, then each again, in one dict
// (each insertion used to scan every key: 96 s).
func TestDictManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("}(")
	for range 2 {
		for i := range 100000 {
			b.WriteString("J")
			b.Write([]byte{byte(i), byte(i >> 8), byte(i >> 16), 0})
			b.WriteString("N")
		}
	}
	b.WriteString("u.")
	got, err := load(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if d := got.(*Dict); len(d.Keys) != 100000 || d.Keys[99999] != int64(99999) {
		t.Errorf("%d keys", len(d.Keys))
	}
}
