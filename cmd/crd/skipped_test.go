package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWarnsAboutSkippedFiles: files of a data folder that are not read (a
// GIF, a WebP, a text file) are named in one warning line, by predict and
// eval alike.
func TestWarnsAboutSkippedFiles(t *testing.T) {
	dir := t.TempDir()
	imgs := filepath.Join(dir, "imgs")
	cat := filepath.Join(dir, "cat")
	for _, d := range []string{imgs, filepath.Join(cat, "train", "good"), filepath.Join(cat, "test", "good")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writePNG(t, filepath.Join(d, "a.png"))
		for _, name := range []string{"b.gif", "c.webp", "d.txt", "e.gif"} {
			if err := os.WriteFile(filepath.Join(d, name), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	missing := filepath.Join(dir, "missing.crd")
	for _, args := range [][]string{
		{"predict", "-m", missing, imgs},
		{"eval", "-m", missing, "--data", cat},
	} {
		_, _, stderr := capture(t, args...)
		var lines []string
		for _, l := range strings.Split(stderr, "\n") {
			if strings.HasPrefix(l, "warning: skipped") {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 || !strings.Contains(lines[0], "b.gif") || !strings.Contains(lines[0], " more (supported: PNG, JPEG, BMP, TIFF)") {
			t.Errorf("crd %s: stderr %q; want one warning line naming the skipped files", strings.Join(args, " "), stderr)
		}
	}
}
