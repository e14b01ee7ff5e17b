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
