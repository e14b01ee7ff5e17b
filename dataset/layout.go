package dataset

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Good is the defect type of normal (defect-free) images, as in the MVTec AD folder names.
const Good = "good"

// extensions lists the image file extensions that ListImages picks up (compared case-insensitively).
var extensions = []string{".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}

// Extensions returns the image file extensions that ListImages picks up, lower case with the dot (a new slice on
// each call).
func Extensions() []string { return slices.Clone(extensions) }

// IsImageFile reports whether name has one of the Extensions (compared case-insensitively).
func IsImageFile(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return slices.Contains(extensions, ext)
}

// Sample is one test image of a category.
type Sample struct {
	Path     string // image file
	Defect   string // defect type: the test subfolder name; Good for normal images
	MaskPath string // ground-truth mask file; empty for Good images and for defect types without ground truth
}

// Anomalous reports whether the sample is a defective image.
func (s Sample) Anomalous() bool { return s.Defect != Good }

// Category is one MVTec AD category:
//
//	DIR/train/good/*                      training images (normal only)
//	DIR/test/<defect>/*                   test images; <defect> is "good" for normal ones
//	DIR/ground_truth/<defect>/<stem>_mask.png
//
// The mask of test/<defect>/<stem>.<ext> is ground_truth/<defect>/<stem>_mask.<any image ext>, or failing that
// ground_truth/<defect>/<stem>.<any image ext>. When the folder ground_truth/<defect> exists, every image of that
// defect type must have a mask. When it does not exist at all, the defect type is listed in NoMasks, its samples have
// no MaskPath, and pixel-level metrics are skipped for it.
type Category struct {
	Name    string   // base name of Dir
	Dir     string   // the category folder
	Train   []string // training image paths, sorted
	Test    []Sample // test samples sorted by defect type ("good" included) then by path; empty without a test folder
	Defects []string // the defect types present in Test, sorted, without Good
	NoMasks []string // defect types that have no ground_truth folder, sorted
}

// OpenCategory lists the files of the MVTec AD category at dir. It reads no image. The test folder is optional (a
// category used only for training); train/good is required and must hold at least one image.
func OpenCategory(dir string) (*Category, error) {
	trainDir := filepath.Join(dir, "train", Good)
	if !isDir(trainDir) {
		return nil, fmt.Errorf("dataset: %s is not an MVTec AD category: no folder train/good", dir)
	}
	train, err := ListImages(trainDir)
	if err != nil {
		return nil, err
	}
	c := &Category{Name: filepath.Base(filepath.Clean(dir)), Dir: dir, Train: train}

	testDir := filepath.Join(dir, "test")
	if !isDir(testDir) {
		return c, nil
	}
	types, err := subdirs(testDir)
	if err != nil {
		return nil, err
	}
	if len(types) == 0 {
		return nil, fmt.Errorf("dataset: %s has no defect-type subfolders", testDir)
	}
	for _, defect := range types {
		paths, err := ListImages(filepath.Join(testDir, defect))
		if err != nil {
			return nil, err
		}
		if defect == Good {
			for _, p := range paths {
				c.Test = append(c.Test, Sample{Path: p, Defect: Good})
			}
			continue
		}
		c.Defects = append(c.Defects, defect)
		gtDir := filepath.Join(dir, "ground_truth", defect)
		if !isDir(gtDir) {
			c.NoMasks = append(c.NoMasks, defect)
			for _, p := range paths {
				c.Test = append(c.Test, Sample{Path: p, Defect: defect})
			}
			continue
		}
		masks, err := maskIndex(gtDir)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			stem := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
			m, ok := masks[stem+"_mask"]
			if !ok {
				m, ok = masks[stem]
			}
			if !ok {
				return nil, fmt.Errorf("dataset: no mask for %s: expected %s",
					p, filepath.Join(gtDir, stem+"_mask.png"))
			}
			c.Test = append(c.Test, Sample{Path: p, Defect: defect, MaskPath: m})
		}
	}
	return c, nil
}

// maskIndex maps file stems (name without extension) of the image files in dir to their paths. When two files
// share a stem, the first in name order wins, which keeps the choice deterministic.
func maskIndex(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset: cannot list masks: %w", err)
	}
	idx := make(map[string]string, len(entries))
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		if e.IsDir() || !IsImageFile(name) {
			continue
		}
		stem := strings.TrimSuffix(name, filepath.Ext(name))
		if _, dup := idx[stem]; !dup {
			idx[stem] = filepath.Join(dir, name)
		}
	}
	return idx, nil
}

// FindCategories returns the category folders under root: root itself when it is a category (it has train/good),
// otherwise every immediate subfolder that has train/good, sorted by name. Finding none is an error.
func FindCategories(root string) ([]string, error) {
	if !isDir(root) {
		if _, err := os.Stat(root); err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		return nil, fmt.Errorf("dataset: %s is not a folder", root)
	}
	if isDir(filepath.Join(root, "train", Good)) {
		return []string{root}, nil
	}
	subs, err := subdirs(root)
	if err != nil {
		return nil, err
	}
	var cats []string
	for _, s := range subs {
		d := filepath.Join(root, s)
		if isDir(filepath.Join(d, "train", Good)) {
			cats = append(cats, d)
		}
	}
	if len(cats) == 0 {
		return nil, fmt.Errorf("dataset: no MVTec AD category in %s (expected train/good in it or in its subfolders)", root)
	}
	return cats, nil
}

// ListImages returns the image files directly in dir (not in subfolders), sorted by name, skipping hidden files
// (names starting with "."). When dir is a file rather than a folder, it returns just that file if it has an image
// extension. A folder without images is an error naming it.
func ListImages(dir string) ([]string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if !st.IsDir() {
		if !IsImageFile(dir) {
			return nil, fmt.Errorf("dataset: %s: not an image file (extensions: %s)", dir, strings.Join(extensions, " "))
		}
		return []string{dir}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset: cannot list images: %w", err)
	}
	var out []string
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		if strings.HasPrefix(name, ".") || !IsImageFile(name) {
			continue
		}
		p := filepath.Join(dir, name)
		if e.Type()&fs.ModeSymlink != 0 { // follow links to files
			if fi, err := os.Stat(p); err != nil || fi.IsDir() {
				continue
			}
		} else if e.IsDir() {
			continue
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dataset: no images in %s (extensions: %s)", dir, strings.Join(extensions, " "))
	}
	return out, nil
}

// subdirs returns the names of the non-hidden subfolders of dir, sorted.
func subdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dataset: cannot list folder: %w", err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if isDir(filepath.Join(dir, e.Name())) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
