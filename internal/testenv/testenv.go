// Package testenv decides what a test does when something it needs from the
// environment is missing, such as a backbone's weights in the cache: outside
// CI it skips with a message that says what is missing and how to get it;
// under CI=true, where the setup step provides everything, it fails.
package testenv

import (
	"os"
	"testing"
)

// InCI reports whether the tests run in continuous integration (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Require does nothing when missing is nil. Otherwise it ends the test:
// with t.Fatal under CI=true, with t.Skip elsewhere. The message is missing's
// text followed by hint (how to provide it).
func Require(t testing.TB, missing error, hint string) {
	t.Helper()
	if missing == nil {
		return
	}
	msg := missing.Error()
	if hint != "" {
		msg += "; " + hint
	}
	if InCI() {
		t.Fatal(msg + " (CI=true: the setup step must provide it, so the test fails instead of skipping)")
		return
	}
	t.Skip(msg)
}
