//go:build unix

package dataset

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/crd-ad/crd/internal/safeio"
)

// TestFIFO: a FIFO named .png is not listed, and loading it is an error at
// once (opening it would block until a writer came).
func TestFIFO(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "a.png")
	fifo := filepath.Join(dir, "fifo.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip(err)
	}
	images, skipped, err := ListImagesSkipped(dir)
	if err != nil || len(images) != 1 || len(skipped) != 1 || skipped[0].Path != fifo || !strings.Contains(skipped[0].Reason, "not a regular file") {
		t.Errorf("ListImagesSkipped = %v, %v, %v", images, skipped, err)
	}
	if _, err := LoadImage(fifo); !errors.Is(err, safeio.ErrNotRegular) || !strings.Contains(err.Error(), fifo) {
		t.Errorf("LoadImage(FIFO): %v", err)
	}
}
