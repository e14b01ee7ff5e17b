package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
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
	out := filepath.Join(dir, "m.crd")
	train := func(input string) []string { return []string{"train", "--data", input, "-o", out, "--quiet"} }
	return []bombCase{
		{"input size flag", []string{"train", "--data", data, "-o", out, "--size", "30000"}, "--size 30000"},
		// Images: a few hundred bytes announcing 0.5 and 1 GB of pixels,
		// a sparse 3 GB file, /dev/zero and a FIFO under image names.
		{"PNG announcing 11000x11000", train(writeBomb(t, dir, "bomb8.png", bombPNG(11000, 11000, 8))), "dataset.Limits.MaxPixels"},
		{"16-bit PNG announcing 6000x6000", train(writeBomb(t, dir, "bomb16.png", bombPNG(6000, 6000, 16))), "dataset.Limits.MaxPixels"},
		{"sparse 3 GB .png", train(sparseFile(t, dir, "sparse.png", 3<<30)), "dataset.Limits.MaxFileBytes"},
		{"/dev/zero named .png", train(special(t, dir, "zero.png", "/dev/zero")), "not a regular file (device)"},
		{"FIFO named .png", train(special(t, dir, "fifo.png", "")), "not a regular file (named pipe (FIFO))"},
		// Model files: read with -m, and replaced with -o.
		{"/dev/zero named .crd", []string{"predict", "-m", special(t, dir, "zero.crd", "/dev/zero"), filepath.Join(data, "000.png")}, "not a regular file (device)"},
		{"FIFO named .crd", []string{"predict", "-m", special(t, dir, "fifo.crd", ""), filepath.Join(data, "000.png")}, "not a regular file (named pipe (FIFO))"},
		{"FIFO as -o", []string{"train", "--data", data, "-o", filepath.Join(dir, "fifo.crd")}, "not a crd model file"},
	}
}

// bombPNG is a valid PNG header announcing a w x h RGBA image of the given
// bit depth, with almost no pixel data.
func bombPNG(w, h uint32, depth byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = depth, 6
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

func writeBomb(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sparseFile makes a file of size bytes that takes no disk space.
func sparseFile(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	p := writeBomb(t, dir, name, nil)
	if err := os.Truncate(p, size); err != nil {
		t.Skipf("sparse file: %v", err)
	}
	return p
}

// special makes name a link to target, or a FIFO when target is empty.
func special(t *testing.T, dir, name, target string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var err error
	if target == "" {
		err = mkfifo(p)
	} else {
		err = os.Symlink(target, p)
	}
	if err != nil {
		t.Skipf("%s: %v", name, err)
	}
	return p
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
