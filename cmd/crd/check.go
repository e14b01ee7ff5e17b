package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/internal/atomicfile"
	"github.com/crd-ad/crd/internal/safeio"
	"github.com/crd-ad/crd/modelfile"
	"github.com/crd-ad/crd/preprocess"
)

// Limits on flags that size the work; the largest input side is
// preprocess.MaxCrop.
const (
	minInputSize = 32
	maxBatch     = 256
)

// checkFraction checks that v lies in [lo, hi) (or [lo, hi] with
// closed), rejecting NaN.
func checkFraction(flagName string, v, lo, hi float64, closed bool) error {
	ok := v >= lo && (v < hi || closed && v == hi)
	if ok {
		return nil
	}
	br := ")"
	if closed {
		br = "]"
	}
	return usagef("--%s %v: want a number in [%g, %g%s", flagName, v, lo, hi, br)
}

// checkSize checks an input-size flag: 0 (the backbone's default) or a side
// in [minInputSize, maxInputSize].
func checkSize(size int) error {
	if size == 0 || size >= minInputSize && size <= preprocess.MaxCrop {
		return nil
	}
	return usagef("--size %d: want 0 (the backbone's default) or a side from %d to %d pixels", size, minInputSize, preprocess.MaxCrop)
}

// maxPixelsHelp documents the --max-pixels flag of the commands that read
// images.
const maxPixelsHelp = "largest image (width x height) read; 0 keeps the default of 2^25 (dataset.Limits.MaxPixels)"

// imageLimits checks a --max-pixels flag and returns the limits it sets.
func imageLimits(maxPixels int64) (dataset.Limits, error) {
	if maxPixels < 0 {
		return dataset.Limits{}, usagef("--max-pixels %d: want 0 (the default) or a number of pixels", maxPixels)
	}
	return dataset.Limits{MaxPixels: maxPixels}, nil
}

// loadModel loads a model that reads images under --max-pixels.
func loadModel(path string, maxPixels int64) (*detector.Detector, error) {
	limits, err := imageLimits(maxPixels)
	if err != nil {
		return nil, err
	}
	d, err := detector.Load(path)
	if err != nil {
		return nil, err
	}
	if note := d.JPEGMismatch(); note != "" {
		fmt.Fprintf(os.Stderr, "warning: %s: %s\n", path, note)
	}
	d.Limits = limits
	return d, nil
}

// checkBatch checks a --batch flag.
func checkBatch(batch int) error {
	if batch >= 1 && batch <= maxBatch {
		return nil
	}
	return usagef("--batch %d: want 1 to %d images", batch, maxBatch)
}

// parseList parses a comma-separated number list flag, each value checked
// by ok (want says what ok accepts).
func parseList(flagName, s string, ok func(float64) bool, want string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !ok(v) {
			return nil, usagef("--%s %q: %q is not %s", flagName, s, strings.TrimSpace(f), want)
		}
		out = append(out, v)
	}
	return out, nil
}

// positive and ratio are parseList checks.
func positive(v float64) bool { return v > 0 && !math.IsInf(v, 1) }
func ratio(v float64) bool    { return v > 0 && v <= 1 }

// checkModelOutput checks, before any work, that a model can be written to
// out: its folder is writable, it is not a folder, it is none of the
// inputs (images or models that the command reads), and a file already
// there is a crd model (which --force overrides).
func checkModelOutput(out string, force bool, inputs []string) error {
	if err := atomicfile.CheckTarget(out); err != nil {
		return err
	}
	fi, err := os.Stat(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, in := range inputs {
		if ii, err := os.Stat(in); err == nil && os.SameFile(fi, ii) {
			return fmt.Errorf("-o %q is one of the command's inputs; choose another output file", out)
		}
	}
	if force {
		return nil
	}
	if !isModelFile(out) {
		return fmt.Errorf("-o %q exists and is not a crd model file; refusing to replace it (use --force to replace it anyway)", out)
	}
	return nil
}

// isModelFile reports whether path is a regular file that starts with the
// model-file magic.
func isModelFile(path string) bool {
	f, _, err := safeio.Open(path, safeio.Limit{Bytes: modelfile.MaxFileSize})
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, len(modelfile.Magic))
	_, err = io.ReadFull(f, b)
	return err == nil && bytes.Equal(b, []byte(modelfile.Magic))
}

// fileDigest is the SHA-256 of a regular file's content.
func fileDigest(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, _, err := safeio.Open(path, safeio.Limit{Bytes: modelfile.MaxFileSize, Name: "modelfile.MaxFileSize"})
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("%s: %w", path, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
