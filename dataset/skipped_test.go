package dataset

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestListImagesSkipped: files that are not listed are reported, with why,
// and summarised in one line; hidden files and folders are not.
func TestListImagesSkipped(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "a.png", "b.gif", "c.webp", "d.txt", "e.jpg", ".hidden.gif", "sub/f.png")
	if err := os.Symlink(filepath.Join(dir, "nowhere.png"), filepath.Join(dir, "g.png")); err != nil {
		t.Skip(err)
	}
	images, skipped, err := ListImagesSkipped(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "a.png"), filepath.Join(dir, "e.jpg")}; !reflect.DeepEqual(images, want) {
		t.Errorf("images = %v, want %v", images, want)
	}
	var names []string
	for _, s := range skipped {
		names = append(names, filepath.Base(s.Path))
	}
	if want := []string{"b.gif", "c.webp", "d.txt", "g.png"}; !reflect.DeepEqual(names, want) || !strings.HasPrefix(skipped[3].Reason, "cannot be read: ") || strings.Contains(skipped[3].Reason, dir) {
		t.Fatalf("skipped = %v, want %v", names, want)
	}
	sum := SkippedSummary(skipped)
	for _, want := range []string{"skipped 4 files", `b.gif" (not a supported image format)`, "and 1 more", "supported: PNG, JPEG, BMP, TIFF"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	if strings.Contains(sum, "\n") {
		t.Errorf("summary is more than one line: %q", sum)
	}
	if SkippedSummary(nil) != "" {
		t.Error("summary of nothing is not empty")
	}

	only := filepath.Join(dir, "only")
	touch(t, only, "x.gif")
	if _, _, err := ListImagesSkipped(only); err == nil || !strings.Contains(err.Error(), "x.gif") {
		t.Errorf("folder of GIFs only: error %v should name the skipped file", err)
	}

	cat := filepath.Join(dir, "cat")
	touch(t, cat, "train/good/0.png", "train/good/1.webp", "test/good/0.png", "test/good/notes.txt")
	c, err := OpenCategory(cat)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Skipped) != 2 || filepath.Base(c.Skipped[0].Path) != "1.webp" || filepath.Base(c.Skipped[1].Path) != "notes.txt" {
		t.Errorf("Category.Skipped = %v", c.Skipped)
	}
}
