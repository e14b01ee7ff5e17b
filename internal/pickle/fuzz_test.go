package pickle

import "testing"

// FuzzLoad runs arbitrary bytes as a pickle, with hooks that build values
// the way a torch reader does: it must return a value or an error, never
// panic or hang.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"(K\x07p0\ng0\nK\x08q\x01h\x01K\x09r\x02\x00\x00\x00j\x02\x00\x00\x00t.",
		"\x80\x02(200.",
		"}(K\x01K\x02\x88K\x03U\x01aK\x04u.",
		"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storageq\x03ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06tQK\x00K\x02K\x03\x86K\x03K\x01\x86\x89h\x00)Rtq\x04Rq\x05s}b.",
		"I12\nF1.5\nS'x'\nVy\nL5L\n(lp0\na]e\x8c\x01a\x8c\x01b\x93N\x85R.",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u := &Unpickler{
			Limits:     Limits{MaxStack: 1 << 12, MaxDepth: 16, MaxMemo: 1 << 12},
			Persistent: func(pid any) (any, error) { return &List{Items: []any{pid}}, nil },
			Reduce: func(fn Global, args Tuple) (any, bool, error) {
				if fn.Name == "_rebuild_tensor_v2" {
					return &Dict{}, true, nil
				}
				return nil, false, nil
			},
		}
		_, _ = u.Load(data)
	})
}
