// Package atomicfile writes files so that readers never see a partial one:
// the content goes to a temporary file in the same folder, which is synced
// and then renamed over the destination. A failure, or a cancelled context,
// leaves the destination as it was and removes the temporary file.
//
// Temporary files are named after their destination and the writing
// process (".NAME.tmp-PID-RANDOM", or ".crd-HASH.tmp-PID-RANDOM" when NAME
// is too long for the file system's name limit), so a write removes those
// that an earlier, killed process left for the same destination.
package atomicfile

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// maxName is the longest file name (one path element) that common Linux
// file systems accept.
const maxName = 255

// tempSuffixLen bounds what a temporary name adds after its prefix:
// "PID-" (at most 11 characters) and os.CreateTemp's random part (at most
// 20).
const tempSuffixLen = 32

// WriteFile writes b to path atomically, with mode 0644.
func WriteFile(path string, b []byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// WriteFunc writes what fn writes to path atomically, with mode 0644.
func WriteFunc(path string, fn func(w io.Writer) error) error {
	return WriteFuncContext(context.Background(), path, fn)
}

// writers recycles WriteFuncContext's 1 MB write buffers.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1<<20) }}

// tempPrefix is the name prefix of path's temporary files.
func tempPrefix(path string) string {
	base := filepath.Base(path)
	p := "." + base + ".tmp-"
	if len(p)+tempSuffixLen > maxName {
		sum := sha256.Sum256([]byte(base))
		p = ".crd-" + hex.EncodeToString(sum[:8]) + ".tmp-"
	}
	return p
}

// WriteFuncContext is WriteFunc that gives up, removing its temporary
// file and leaving path as it was, when ctx is done before the rename.
func WriteFuncContext(ctx context.Context, path string, fn func(w io.Writer) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return CheckTarget(path)
	}
	dir := filepath.Dir(path)
	prefix := tempPrefix(path)
	removeStaleOnce(dir, prefix)
	// The temporary file doubles as CheckTarget's probe: only when it
	// cannot be created does CheckTarget say why.
	f, err := os.CreateTemp(dir, prefix+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		if cerr := CheckTarget(path); cerr != nil {
			return cerr
		}
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(f)
	err = fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writers.Put(bw)
	if err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable; not every file system can sync a
	// folder, so a failure here is not reported.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// CheckTarget reports, before any work is done, whether path can be written
// atomically: its folder exists and is writable, and path is not a folder.
// The error names path and the problem.
func CheckTarget(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: is a folder, not a file name", path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s: folder %s does not exist", path, dir)
	case err != nil:
		return fmt.Errorf("%s: %w", path, err)
	case !fi.IsDir():
		return fmt.Errorf("%s: %s is not a folder", path, dir)
	}
	f, err := os.CreateTemp(dir, tempPrefix(path)+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return fmt.Errorf("%s: cannot write in folder %s: %w", path, dir, unwrapPath(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// unwrapPath drops the *PathError's own (temporary) path from err.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// stale holds, per folder this process has written in, the temporary files
// of other processes found there by one listing (staleDir): a process that
// writes many files into one folder (heat maps, reports) reads the folder
// once, not once per file.
var stale sync.Map // folder (absolute) -> *staleDir

// staleDir is the temporary-looking names of one folder's first listing,
// less those removed since.
type staleDir struct {
	once  sync.Once
	mu    sync.Mutex
	names []string
}

// removeStaleOnce is RemoveStale on the folder's first listing in this
// process: temporary files left by processes that stopped after that
// listing are removed by the next process that writes there.
func removeStaleOnce(dir, prefix string) {
	key, err := filepath.Abs(dir)
	if err != nil {
		RemoveStale(dir, prefix)
		return
	}
	v, _ := stale.LoadOrStore(key, new(staleDir))
	sd := v.(*staleDir)
	sd.once.Do(func() {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp-") && e.Type().IsRegular() {
				sd.names = append(sd.names, e.Name())
			}
		}
	})
	sd.mu.Lock()
	defer sd.mu.Unlock()
	kept := sd.names[:0]
	for _, n := range sd.names {
		if !strings.HasPrefix(n, prefix) || !removeIfStale(dir, n, prefix) {
			kept = append(kept, n)
		}
	}
	sd.names = kept
}

// removeIfStale removes dir/name, a name starting with prefix, when it is a
// temporary file whose writing process is no longer running, and reports
// whether it is gone.
func removeIfStale(dir, name, prefix string) bool {
	pidText, _, ok := strings.Cut(strings.TrimPrefix(name, prefix), "-")
	pid, err := strconv.Atoi(pidText)
	if !ok || err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
		return false
	}
	err = os.Remove(filepath.Join(dir, name))
	return err == nil || errors.Is(err, os.ErrNotExist)
}

// RemoveStale removes the temporary files in dir whose name starts with
// prefix and whose writing process is no longer running. It is best
// effort: errors are ignored.
func RemoveStale(dir, prefix string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			removeIfStale(dir, e.Name(), prefix)
		}
	}
}
