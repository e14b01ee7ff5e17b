package dataset

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/crd-ad/crd/internal/safeio"
)

// Good is the defect type of normal (defect-free) images, as in the MVTec AD folder names.
const Good = "good"

// extensions lists the image file extensions that ListImages picks up (compared case-insensitively): those of
// the supported formats.
var extensions = func() []string {
	var out []string
	for _, f := range formats {
		out = append(out, f.exts...)
	}
	return out
}()

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
	// Skipped are the files of train/good and of the test folders that are not listed (see ListImagesSkipped).
	Skipped []Skipped
}

// OpenCategory lists the files of the MVTec AD category at dir. It reads no image. The test folder is optional (a
// category used only for training); train/good is required and must hold at least one image.
func OpenCategory(dir string) (*Category, error) {
	trainDir := filepath.Join(dir, "train", Good)
	if !isDir(trainDir) {
		return nil, fmt.Errorf("dataset: %s is not an MVTec AD category: no folder train/good", dir)
	}
	train, skipped, err := ListImagesSkipped(trainDir)
	if err != nil {
		return nil, err
	}
	c := &Category{Name: filepath.Base(filepath.Clean(dir)), Dir: dir, Train: train, Skipped: skipped}

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
		paths, skipped, err := ListImagesSkipped(filepath.Join(testDir, defect))
		if err != nil {
			return nil, err
		}
		c.Skipped = append(c.Skipped, skipped...)
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
// extension. A folder without images is an error naming it. ListImagesSkipped also says which files it left out.
func ListImages(dir string) ([]string, error) {
	images, _, err := ListImagesSkipped(dir)
	return images, err
}

// Skipped is a file that a listing left out, and why.
type Skipped struct {
	Path   string
	Reason string // for example "not a supported image format" or "not a regular file (named pipe)"
}

// ListImagesSkipped is ListImages that also returns the files of dir it left out: files without a supported
// image extension, and image-named entries that are not regular files (a FIFO, a device, a broken link). Hidden
// files and subfolders are left out without a word.
func ListImagesSkipped(dir string) (images []string, skipped []Skipped, err error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	if !st.IsDir() {
		if !IsImageFile(dir) {
			return nil, nil, fmt.Errorf("dataset: %s: not an image file (supported: %s; extensions: %s)",
				dir, supportedFormats(), strings.Join(extensions, " "))
		}
		return []string{dir}, nil, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: cannot list images: %w", err)
	}
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p) // follows links
		switch {
		case err != nil:
			if pe, ok := err.(*fs.PathError); ok { // the path is already in Skipped
				err = pe.Err
			}
			skipped = append(skipped, Skipped{p, "cannot be read: " + err.Error()})
		case fi.IsDir():
		case !IsImageFile(name):
			skipped = append(skipped, Skipped{p, "not a supported image format"})
		case !fi.Mode().IsRegular():
			skipped = append(skipped, Skipped{p, "not a regular file (" + safeio.Kind(fi.Mode()) + ")"})
		default:
			images = append(images, p)
		}
	}
	if len(images) == 0 {
		return nil, skipped, fmt.Errorf("dataset: no images in %s (supported: %s; extensions: %s)%s",
			dir, supportedFormats(), strings.Join(extensions, " "), skippedNote(skipped))
	}
	return images, skipped, nil
}

// skippedNote is ", skipped N files: ..." for an error message, or "" when none were skipped.
func skippedNote(skipped []Skipped) string {
	if len(skipped) == 0 {
		return ""
	}
	return "; " + SkippedSummary(skipped)
}

// SkippedSummary describes skipped files in one line: their count and the first few names, quoted, with why
// they were skipped, and the supported formats. It returns "" for none.
func SkippedSummary(skipped []Skipped) string {
	if len(skipped) == 0 {
		return ""
	}
	const show = 3
	var parts []string
	for _, s := range skipped[:min(show, len(skipped))] {
		parts = append(parts, fmt.Sprintf("%q (%s)", s.Path, s.Reason))
	}
	if len(skipped) > show {
		parts = append(parts, fmt.Sprintf("and %d more", len(skipped)-show))
	}
	noun := "files"
	if len(skipped) == 1 {
		noun = "file"
	}
	return fmt.Sprintf("skipped %d %s that are not readable images: %s (supported: %s)",
		len(skipped), noun, strings.Join(parts, ", "), supportedFormats())
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
