package testenv

import (
	"errors"
	"testing"
)

// fakeTB records how Require ended a test.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Fatal(args ...any) { f.fatal = args[0].(string) }
func (f *fakeTB) Skip(args ...any)  { f.skip = args[0].(string) }

func TestRequire(t *testing.T) {
	t.Setenv("CI", "")
	var f fakeTB
	Require(&f, nil, "fetch it")
	if f.fatal != "" || f.skip != "" {
		t.Fatalf("nothing missing: fatal %q, skip %q", f.fatal, f.skip)
	}
	Require(&f, errors.New("weights not in the cache"), "fetch it")
	if f.fatal != "" || f.skip != "weights not in the cache; fetch it" {
		t.Fatalf("outside CI: fatal %q, skip %q", f.fatal, f.skip)
	}
	t.Setenv("CI", "true")
	f = fakeTB{}
	Require(&f, errors.New("weights not in the cache"), "")
	if f.skip != "" || f.fatal == "" {
		t.Fatalf("CI=true: fatal %q, skip %q", f.fatal, f.skip)
	}
}
