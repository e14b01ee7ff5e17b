package main

import (
	"math"
	"strings"
	"testing"
)

// FuzzParseList: a number-list flag either parses into values that all
// pass the check, one per comma-separated item, or is a usage error; it
// never panics.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{"", "1,0.1,0.01", "1e-4, 1e-3", "-1", "0", "NaN", "Inf", "1,,2", "0x1p-2", " 2 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vals, err := parseList("x", s, ratio, "a ratio")
		if err != nil {
			if _, ok := err.(*usageError); !ok {
				t.Fatalf("%q: error %v is not a usage error", s, err)
			}
			return
		}
		if strings.TrimSpace(s) == "" {
			if vals != nil {
				t.Fatalf("%q: %v from an empty list", s, vals)
			}
			return
		}
		if len(vals) != strings.Count(s, ",")+1 {
			t.Fatalf("%q: %d values", s, len(vals))
		}
		for _, v := range vals {
			if !(v > 0 && v <= 1) || math.IsNaN(v) {
				t.Fatalf("%q: value %v passed the ratio check", s, v)
			}
		}
	})
}

// FuzzParseArgs: the argument parser never panics, and whatever follows
// "--" comes back as positional arguments, unchanged.
func FuzzParseArgs(f *testing.F) {
	f.Add("a --quiet -- -x b")
	f.Add("--quiet=false --n 3 c")
	f.Add("--n")
	f.Add("-- --")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		fs := newFlags("x", "", "")
		fs.Bool("quiet", false, "")
		fs.Int("n", 0, "")
		pos, err := parse(fs, args)
		if err != nil {
			return
		}
		for i, a := range args {
			if a == "--" {
				tail := args[i+1:]
				if len(pos) < len(tail) || strings.Join(pos[len(pos)-len(tail):], "\x00") != strings.Join(tail, "\x00") {
					t.Fatalf("%q: positional %q does not end with %q", args, pos, tail)
				}
				break
			}
		}
	})
}
