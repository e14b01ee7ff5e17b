package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchTrunkPrecision: crd bench --trunk runs the trunk in the precision
// asked and says how it ran.
func TestBenchTrunkPrecision(t *testing.T) {
	for _, p := range []string{"float32", "bf16"} {
		code, stdout, stderr := capture(t, "bench", "--trunk", "--backbone", "resnet18", "--size", "64", "--batch", "1",
			"--rounds", "1", "--precision", p, "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", p, code, stderr)
		}
		var b trunkBench
		if err := json.Unmarshal([]byte(stdout), &b); err != nil {
			t.Fatalf("%s: %v in %q", p, err, stdout)
		}
		if !strings.HasPrefix(b.Precision, p) || len(b.ImagesPerS) != 1 {
			t.Errorf("--precision %s: ran %q, %d rounds", p, b.Precision, len(b.ImagesPerS))
		}
	}
}
