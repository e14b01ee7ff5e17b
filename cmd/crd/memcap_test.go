package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary runs the command line itself when this variable is set,
// so that a test can run crd in a child process under resource limits.
const childEnv = "CRD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// memCap is the address-space limit (ulimit -v, KiB) of the child
// processes: far below what the bomb inputs would take, well above what
// crd needs to refuse them.
const memCap = 3 << 20

// runCapped runs crd with args in a child process under memCap and a time
// limit, and returns its exit code and stderr.
func runCapped(t *testing.T, args ...string) (int, string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("ulimit -v needs Linux")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := `ulimit -v ` + strconv.Itoa(memCap) + ` && exec "$0" "$@"`
	cmd := exec.Command("bash", append([]string{"-c", script, self}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("crd %s: still running after 60 s", strings.Join(args, " "))
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// TestBombsUnderMemoryCap: inputs that would take gigabytes are refused
// with a clear error (exit 1 or 2), never a Go panic or a runtime fatal
// error, by a process whose address space is capped.
func TestBombsUnderMemoryCap(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "good")
	os.Mkdir(data, 0o755)
	writePNG(t, filepath.Join(data, "000.png"))
	for _, c := range bombCases(t, dir) {
		code, stderr := runCapped(t, c.args...)
		bad := strings.Contains(stderr, "panic") || strings.Contains(stderr, "fatal error") || strings.Contains(stderr, "goroutine ")
		if code == 0 || bad || !strings.Contains(stderr, c.msg) {
			t.Errorf("%s: crd %s: exit %d, stderr %q; want a clear error containing %q", c.name, strings.Join(c.args, " "), code, firstLines(stderr, 5), c.msg)
		}
	}
}

// bombCase is one input that must be refused cheaply.
type bombCase struct {
	name string
	args []string
	msg  string
}

// bombCases are the resource-bomb inputs, built in dir.
func bombCases(t *testing.T, dir string) []bombCase {
	data := filepath.Join(dir, "good")
	return []bombCase{
		{"input size flag", []string{"train", "--data", data, "-o", filepath.Join(dir, "m.crd"), "--size", "30000"}, "--size 30000"},
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
