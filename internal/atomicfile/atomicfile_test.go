package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.bin")
	if err := WriteFile(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "two" {
		t.Fatalf("content %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d files in the folder, want 1", len(ents))
	}
}

func TestFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.bin")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteFunc(p, func(w io.Writer) error {
		w.Write([]byte("partial"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "old" {
		t.Fatalf("destination changed to %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary file left behind: %d entries", len(ents))
	}
	if err := WriteFile(filepath.Join(dir, "no", "such", "dir"), nil); err == nil {
		t.Fatal("missing folder accepted")
	}
}

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run a child process: %v", err)
	}
	return cmd.Process.Pid
}

func TestStaleTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.crd")
	dead := fmt.Sprintf(".m.crd.tmp-%d-123456", deadPID(t))
	live := fmt.Sprintf(".m.crd.tmp-%d-654321", os.Getppid())
	other := fmt.Sprintf(".x.crd.tmp-%d-1", deadPID(t))
	user := ".m.crd.tmp-notes"
	for _, n := range []string{dead, live, other, user} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFile(p, []byte("model")); err != nil {
		t.Fatal(err)
	}
	for n, want := range map[string]bool{dead: false, live: true, other: true, user: true, "m.crd": true} {
		_, err := os.Stat(filepath.Join(dir, n))
		if got := err == nil; got != want {
			t.Errorf("%s exists = %v, want %v", n, got, want)
		}
	}
}

func TestLongNames(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{200, 230, 240, 250, 255} {
		p := filepath.Join(dir, strings.Repeat("a", n-4)+".crd")
		if err := WriteFile(p, []byte("x")); err != nil {
			t.Errorf("name of %d characters: %v", n, err)
		}
		if err := WriteFile(p, []byte("y")); err != nil {
			t.Errorf("replacing a name of %d characters: %v", n, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 5 {
		t.Fatalf("%d entries, want 5 (temporary files left?)", len(ents))
	}
}

func TestCheckTarget(t *testing.T) {
	dir := t.TempDir()
	if err := CheckTarget(filepath.Join(dir, "ok.crd")); err != nil {
		t.Fatalf("writable target: %v", err)
	}
	err := CheckTarget(dir)
	if err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Fatalf("folder as target: %v", err)
	}
	err = CheckTarget(filepath.Join(dir, "missing", "m.crd"))
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing folder: %v", err)
	}
	if os.Getuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o555)
		if err := CheckTarget(filepath.Join(ro, "m.crd")); err == nil {
			t.Fatal("read-only folder accepted")
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 1 {
		t.Fatalf("CheckTarget left files: %v", ents)
	}
}

func TestCancelledWriteKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.bin")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err := WriteFuncContext(ctx, p, func(w io.Writer) error {
		w.Write([]byte("new"))
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("destination changed to %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary file left behind: %d entries", len(ents))
	}
}

// TestWriteErrorsNameTheProblem checks that a write to a folder, or into a missing folder, fails with CheckTarget's
// message before fn runs, leaving nothing behind.
func TestWriteErrorsNameTheProblem(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ path, want string }{
		{dir, "is a folder"},
		{filepath.Join(dir, "missing", "f.bin"), "does not exist"},
	} {
		ran := false
		err := WriteFunc(c.path, func(w io.Writer) error { ran = true; return nil })
		if err == nil || !strings.Contains(err.Error(), c.want) || ran {
			t.Errorf("%s: err = %v, fn ran = %v; want %q before fn", c.path, err, ran, c.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left files: %v", ents)
	}
}

// TestFailedWriteLeavesNoBytes checks that what a failed write buffered does not reach the next file written (the
// write buffers are recycled).
func TestFailedWriteLeavesNoBytes(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	err := WriteFunc(a, func(w io.Writer) error {
		w.Write([]byte("junk"))
		return errors.New("failed")
	})
	if err == nil {
		t.Fatal("failed write succeeded")
	}
	if err := WriteFile(b, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(b); string(got) != "ok" {
		t.Fatalf("b = %q, want \"ok\"", got)
	}
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Fatalf("a exists after a failed write: %v", err)
	}
}

// A folder is listed once per process: a stale temporary file of a second
// target, present at the first write, is still removed when that target is
// written later, and files written meanwhile are untouched.
func TestStaleTempFilesRemovedAfterFirstListing(t *testing.T) {
	dir := t.TempDir()
	dead := deadPID(t)
	staleB := fmt.Sprintf(".b.png.tmp-%d-1", dead)
	if err := os.WriteFile(filepath.Join(dir, staleB), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := WriteFile(filepath.Join(dir, fmt.Sprintf("a%d.png", i)), []byte("a")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, staleB)); err != nil {
		t.Fatalf("%s removed before b.png was written: %v", staleB, err)
	}
	if err := WriteFile(filepath.Join(dir, "b.png"), []byte("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, staleB)); !os.IsNotExist(err) {
		t.Errorf("%s still there after b.png was written (err %v)", staleB, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 21 {
		t.Errorf("%d files in the folder, want the 21 written", len(ents))
	}
}

// BenchmarkWriteFilesOneFolder writes b.N small files into one folder that
// already holds 2,000 (a predict --out folder): the cost per file should
// not grow with the folder.
func BenchmarkWriteFilesOneFolder(b *testing.B) {
	dir := b.TempDir()
	for i := 0; i < 2000; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("old%d.png", i)), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.png", i)), []byte("x")); err != nil {
			b.Fatal(err)
		}
	}
}
