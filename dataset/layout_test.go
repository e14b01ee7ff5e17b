package dataset

import (
	"image"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// touch creates the files (and their folders) under root; content is a tiny valid PNG.
func touch(t *testing.T, root string, files ...string) {
	t.Helper()
	data := encodePNG(t, image.NewGray(image.Rect(0, 0, 2, 2)))
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, data)
	}
}

func TestOpenCategory(t *testing.T) {
	root := t.TempDir()
	cat := filepath.Join(root, "bottle")
	touch(t, cat,
		"train/good/002.png", "train/good/000.png", "train/good/001.JPG", "train/good/notes.txt",
		"train/good/.hidden.png", "train/good/sub/003.png",
		"test/good/000.png", "test/good/001.png",
		"test/crack/000.jpg", "test/crack/001.png",
		"ground_truth/crack/000_mask.png", "ground_truth/crack/001_mask.png", "ground_truth/crack/999_mask.png",
		"test/broken/000.png", "ground_truth/broken/000.png", // mask without the _mask suffix
		"test/stain/000.png", // no ground_truth/stain at all
	)
	c, err := OpenCategory(cat)
	if err != nil {
		t.Fatal(err)
	}
	j := func(p ...string) string { return filepath.Join(append([]string{cat}, p...)...) }
	if c.Name != "bottle" {
		t.Errorf("Name = %q", c.Name)
	}
	wantTrain := []string{j("train/good/000.png"), j("train/good/001.JPG"), j("train/good/002.png")}
	if !reflect.DeepEqual(c.Train, wantTrain) {
		t.Errorf("Train = %v, want %v", c.Train, wantTrain)
	}
	wantTest := []Sample{
		{j("test/broken/000.png"), "broken", j("ground_truth/broken/000.png")},
		{j("test/crack/000.jpg"), "crack", j("ground_truth/crack/000_mask.png")},
		{j("test/crack/001.png"), "crack", j("ground_truth/crack/001_mask.png")},
		{j("test/good/000.png"), Good, ""},
		{j("test/good/001.png"), Good, ""},
		{j("test/stain/000.png"), "stain", ""},
	}
	if !reflect.DeepEqual(c.Test, wantTest) {
		t.Errorf("Test =\n%v\nwant\n%v", c.Test, wantTest)
	}
	if !reflect.DeepEqual(c.Defects, []string{"broken", "crack", "stain"}) || !reflect.DeepEqual(c.NoMasks, []string{"stain"}) {
		t.Errorf("Defects = %v, NoMasks = %v", c.Defects, c.NoMasks)
	}
	if c.Test[0].Anomalous() != true || c.Test[3].Anomalous() != false {
		t.Error("Anomalous wrong")
	}

	// Missing mask where the defect type has ground truth: an error naming the image and the expected mask.
	if err := os.Remove(j("ground_truth/crack/001_mask.png")); err != nil {
		t.Fatal(err)
	}
	_, err = OpenCategory(cat)
	if err == nil || !strings.Contains(err.Error(), j("test/crack/001.png")) || !strings.Contains(err.Error(), "001_mask.png") {
		t.Errorf("missing mask: error %v", err)
	}

	// Not a category.
	if _, err := OpenCategory(root); err == nil || !strings.Contains(err.Error(), "train/good") {
		t.Errorf("not a category: error %v", err)
	}
	// Empty defect folder.
	touch(t, cat, "ground_truth/crack/001_mask.png")
	if err := os.MkdirAll(j("test/empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCategory(cat); err == nil || !strings.Contains(err.Error(), j("test/empty")) {
		t.Errorf("empty defect folder: error %v", err)
	}
}

func TestOpenCategoryTrainOnly(t *testing.T) {
	cat := t.TempDir()
	touch(t, cat, "train/good/a.png")
	c, err := OpenCategory(cat)
	if err != nil || len(c.Train) != 1 || len(c.Test) != 0 {
		t.Fatalf("train-only category: %+v %v", c, err)
	}
	// Empty train folder.
	empty := t.TempDir()
	if err := os.MkdirAll(filepath.Join(empty, "train", "good"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCategory(empty); err == nil || !strings.Contains(err.Error(), "no images in") {
		t.Errorf("empty train/good: error %v", err)
	}
}

func TestFindCategories(t *testing.T) {
	root := t.TempDir()
	touch(t, root, "zipper/train/good/a.png", "bottle/train/good/a.png", "docs/readme.png", "carpet/test/good/a.png")
	got, err := FindCategories(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(root, "bottle"), filepath.Join(root, "zipper")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FindCategories = %v, want %v", got, want)
	}
	got, err = FindCategories(filepath.Join(root, "bottle"))
	if err != nil || !reflect.DeepEqual(got, []string{filepath.Join(root, "bottle")}) {
		t.Errorf("category root itself: %v %v", got, err)
	}
	if _, err := FindCategories(filepath.Join(root, "docs")); err == nil || !strings.Contains(err.Error(), "docs") {
		t.Errorf("no category: error %v", err)
	}
	if _, err := FindCategories(filepath.Join(root, "nope")); err == nil {
		t.Error("missing root: no error")
	}
}

func TestListImages(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "b.TIFF", "a.jpeg", "c.bmp", "d.tif", "e.Png", "f.gif", "g.txt", "sub/h.png")
	got, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		names = append(names, filepath.Base(p))
	}
	if want := []string{"a.jpeg", "b.TIFF", "c.bmp", "d.tif", "e.Png"}; !reflect.DeepEqual(names, want) {
		t.Errorf("ListImages = %v, want %v", names, want)
	}
	one := filepath.Join(dir, "c.bmp")
	if got, err := ListImages(one); err != nil || !reflect.DeepEqual(got, []string{one}) {
		t.Errorf("single file: %v %v", got, err)
	}
	if _, err := ListImages(filepath.Join(dir, "g.txt")); err == nil || !strings.Contains(err.Error(), "g.txt") {
		t.Errorf("non-image file: error %v", err)
	}
	empty := filepath.Join(dir, "emptydir")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ListImages(empty); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty folder: error %v", err)
	}
}

// TestRealCategory opens a real MVTec-layout category with ground-truth
// masks, named by the environment variable CRD_TEST_CATEGORY (for example a
// copy of MVTec AD's screw or BSData's ball_screw); without it, it skips.
func TestRealCategory(t *testing.T) {
	dir := os.Getenv("CRD_TEST_CATEGORY")
	if dir == "" {
		t.Skip("set CRD_TEST_CATEGORY to an MVTec-layout category with masks to run this test")
	}
	c, err := OpenCategory(dir)
	if err != nil {
		t.Fatal(err)
	}
	nDefect := 0
	for _, s := range c.Test {
		if s.Anomalous() {
			nDefect++
			if s.MaskPath == "" {
				t.Fatalf("%s has no mask", s.Path)
			}
		}
	}
	t.Logf("train %d, test %d (%d defective), defects %v", len(c.Train), len(c.Test), nDefect, c.Defects)
	for _, s := range c.Test {
		if s.Anomalous() {
			img, mask, err := LoadPair(s.Path, s.MaskPath)
			if err != nil {
				t.Fatal(err)
			}
			if mask.Count() == 0 {
				t.Errorf("%s: empty mask", s.MaskPath)
			}
			t.Logf("%s: %dx%d, %d defect pixels", filepath.Base(s.Path), img.W, img.H, mask.Count())
			break
		}
	}
}
