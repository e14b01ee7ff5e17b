//go:build unix

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crd-ad/crd/synth"
)

// TestSIGTERMStopsCleanly: SIGTERM during training cancels the command's
// context: crd exits with an error that says so, and leaves neither a model
// nor a temporary file behind.
func TestSIGTERMStopsCleanly(t *testing.T) {
	requireBackbone(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "surface")
	if err := synth.Generate(data, synth.Options{Seed: 7, Size: 96, NumTrain: 64, NumTestGood: 1, NumPerDefect: 1}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "train", "--data", data, "-o", filepath.Join(out, "m.crd"), "--batch", "4")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	signalled := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		// The first progress line: training is under way.
		if !signalled && strings.HasPrefix(sc.Text(), "train: ") {
			cmd.Process.Signal(syscall.SIGTERM)
			signalled = true
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("crd train did not stop after SIGTERM; stderr:\n%s", log.String())
	}
	if !signalled {
		t.Fatalf("no progress line to signal on; stderr:\n%s", log.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(log.String(), "context canceled") {
		t.Fatalf("exit %d after SIGTERM, stderr:\n%s", code, log.String())
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Fatalf("files left after SIGTERM: %v", ents)
	}
}
