package main

import (
	"strings"
	"testing"
	"time"
)

// TestProgressWithoutTerminal: with stderr not a terminal, progress is
// plain lines: the first and the last of a stage always, the ones between
// at most every p.every.
func TestProgressWithoutTerminal(t *testing.T) {
	var b strings.Builder
	p := &progress{w: &b, on: true, every: time.Hour}
	for i := 0; i <= 10; i++ {
		p.update("train", i, 10)
	}
	p.done()
	p.update("calibrate", 1, 3)
	got := b.String()
	if strings.Contains(got, "\r") {
		t.Fatalf("carriage return in non-terminal output %q", got)
	}
	want := []string{"train: 0/10", "train: 10/10", "calibrate: 1/3 eta"}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("lines %q, want prefixes %q", lines, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}

	b.Reset()
	p = &progress{w: &b, on: true, every: 0}
	for i := 0; i <= 4; i++ {
		p.update("eval", i, 4)
	}
	if n := strings.Count(b.String(), "\n"); n != 5 {
		t.Fatalf("%d lines with a zero interval, want 5: %q", n, b.String())
	}

	b.Reset()
	p = &progress{w: &b, on: false}
	p.update("eval", 1, 4)
	p.done()
	if b.Len() != 0 {
		t.Fatalf("quiet progress wrote %q", b.String())
	}
}
