package backbone

// Getting the inception_v3 weights: `npm pack nsfwjs@4.4.0` (or a tarball
// the user downloaded), integrity check, extraction of the model files,
// decoding and dequantisation of the tensors up to mixed5.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/crd-ad/crd/weights"
)

const (
	// InceptionPackage is the npm package the inception_v3 weights come
	// from (MIT licence): its dist/models/inception_v3 is a TensorFlow.js
	// conversion of a Keras InceptionV3 whose layers up to mixed5 kept their
	// ImageNet weights.
	InceptionPackage = "nsfwjs@4.4.0"

	// InceptionIntegrity is the Subresource Integrity string (SHA-512) of the
	// InceptionPackage tarball, nsfwjs-4.4.0.tgz, as npm reports it.
	InceptionIntegrity = "sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0R8Aa7dc+MA=="

	inceptionTarball  = "nsfwjs-4.4.0.tgz"
	inceptionModelDir = "package/dist/models/inception_v3/"
	inceptionModelJS  = "model.min.js"
	// inceptionMaxFile bounds each extracted file (the largest is 5.6 MB).
	inceptionMaxFile = 64 << 20
	// inceptionMaxTotal bounds all extracted files together (about 23 MB
	// in the package).
	inceptionMaxTotal = 256 << 20
)

// npmCommand is the npm executable, looked up on PATH.
var npmCommand = "npm"

// fetchInception is the registry's fetch function for inception_v3. When
// the cache already holds valid converted weights it returns them without
// downloading anything. It has no mirror: npm's own configuration says
// where packages come from.
func fetchInception(opts FetchOptions) (weights.Tensors, map[string]string, error) {
	log := opts.Log
	if dst, err := weights.CachePath(InceptionName); err == nil {
		if t, meta, err := weights.ReadVerified(dst); err == nil {
			if _, err := newInception(t); err == nil {
				fmt.Fprintf(log, "inception_v3: %s is already converted and verified; nothing to download\n", dst)
				return t, meta, nil
			}
		}
	}
	dir, err := os.MkdirTemp("", "crd-nsfwjs-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	tgz, err := npmPack(dir, log)
	if err != nil {
		return nil, nil, err
	}
	t, err := ConvertInceptionTarball(tgz, log)
	if err != nil {
		return nil, nil, err
	}
	return t, inceptionMeta(), nil
}

// importInception is the registry's import function for inception_v3: src
// is nsfwjs-4.4.0.tgz (as `npm pack nsfwjs@4.4.0` writes it) or an already
// converted .safetensors file.
func importInception(src string) (weights.Tensors, error) {
	if strings.HasSuffix(src, ".safetensors") {
		return weights.ReadSafetensors(src)
	}
	return ConvertInceptionTarball(src, io.Discard)
}

func inceptionMeta() map[string]string {
	return map[string]string{
		"source":    "npm " + InceptionPackage + " " + strings.TrimPrefix(inceptionModelDir, "package/"),
		"integrity": InceptionIntegrity,
		"license":   "MIT",
		"layout":    "Keras names; conv2d_k/kernel [kh,kw,in,out]; batch_normalization_k/{beta,moving_mean,moving_variance}, epsilon 1e-3, no gamma; dequantised from uint8",
	}
}

// npmPack runs `npm pack nsfwjs@4.4.0` in dir and returns the tarball's
// path, after checking that npm reports the expected integrity.
func npmPack(dir string, log io.Writer) (string, error) {
	npm, err := exec.LookPath(npmCommand)
	if err != nil {
		return "", fmt.Errorf("npm is not on PATH (install the Debian package npm: sudo apt-get install npm), "+
			"or download %s on another machine with `npm pack %s` and run `crd backbone import %s %s`",
			inceptionTarball, InceptionPackage, InceptionName, inceptionTarball)
	}
	fmt.Fprintf(log, "inception_v3: npm pack %s (about 25 MB)\n", InceptionPackage)
	cmd := exec.Command(npm, "pack", InceptionPackage, "--json")
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm pack %s failed (%v): %s", InceptionPackage, err, lastLines(stderr.String(), 10))
	}
	var packed []struct {
		Filename  string `json:"filename"`
		Integrity string `json:"integrity"`
	}
	out := stdout.Bytes()
	if i := bytes.IndexByte(out, '['); i >= 0 {
		out = out[i:]
	}
	if err := json.Unmarshal(out, &packed); err != nil || len(packed) != 1 {
		return "", fmt.Errorf("npm pack %s: unexpected output %q", InceptionPackage, lastLines(stdout.String(), 5))
	}
	if packed[0].Integrity != InceptionIntegrity {
		return "", fmt.Errorf("npm pack %s: integrity %s, want %s", InceptionPackage, packed[0].Integrity, InceptionIntegrity)
	}
	return filepath.Join(dir, filepath.Base(packed[0].Filename)), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ConvertInceptionTarball reads nsfwjs-4.4.0.tgz, checks its SHA-512 against
// InceptionIntegrity, and returns the dequantised inception_v3 tensors up to
// mixed5 under their Keras names (see inceptionTensorNames). Progress goes to
// log.
func ConvertInceptionTarball(tgz string, log io.Writer) (weights.Tensors, error) {
	b, err := os.ReadFile(tgz)
	if err != nil {
		return nil, err
	}
	sum := sha512.Sum512(b)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != InceptionIntegrity {
		return nil, fmt.Errorf("%s: integrity %s does not match %s (%s): not that tarball, or corrupt",
			tgz, got, InceptionPackage, InceptionIntegrity)
	}
	fmt.Fprintf(log, "inception_v3: %s verified (SHA-512); decoding %s\n", tgz, inceptionModelDir)
	t, err := convertInceptionArchive(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tgz, err)
	}
	return t, nil
}

// convertInceptionArchive extracts the TensorFlow.js model from an nsfwjs
// package tarball, checks its topology against the trunk, and returns the
// trunk's dequantised tensors.
func convertInceptionArchive(r io.Reader) (weights.Tensors, error) {
	files, err := extractInceptionFiles(r)
	if err != nil {
		return nil, err
	}
	modelJS, ok := files[inceptionModelJS]
	if !ok {
		return nil, fmt.Errorf("%s%s missing from the package", inceptionModelDir, inceptionModelJS)
	}
	model, err := parseTFJSModelModule(modelJS)
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", inceptionModelDir, inceptionModelJS, err)
	}
	if err := checkInceptionTopology(model.ModelTopology); err != nil {
		return nil, fmt.Errorf("%s%s: %w", inceptionModelDir, inceptionModelJS, err)
	}
	shards := map[string][]byte{}
	for _, g := range model.WeightsManifest {
		for _, p := range g.Paths {
			if _, done := shards[p]; done {
				continue // decodeTFJSWeights reports the repetition
			}
			name := path.Base(p) + ".min.js"
			src, ok := files[name]
			if !ok {
				return nil, fmt.Errorf("weight shard %s%s missing from the package", inceptionModelDir, name)
			}
			if shards[p], err = parseTFJSShardModule(src); err != nil {
				return nil, fmt.Errorf("%s%s: %w", inceptionModelDir, name, err)
			}
		}
	}
	want := inceptionTensorNames()
	all, err := decodeTFJSWeights(model, shards, func(name string) bool { _, ok := want[name]; return ok })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", inceptionModelDir, err)
	}
	for name := range want {
		if _, ok := all[name]; !ok {
			return nil, fmt.Errorf("%s: weight %s missing from the manifest", inceptionModelDir, name)
		}
	}
	return all, nil
}

// extractInceptionFiles reads a gzipped npm tarball and returns the
// JavaScript files of package/dist/models/inception_v3, by base name.
func extractInceptionFiles(r io.Reader) (map[string][]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("not a gzipped tarball: %v", err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("corrupt tarball: %v", err)
		}
		name := path.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || path.Dir(name)+"/" != inceptionModelDir || !strings.HasSuffix(name, ".min.js") {
			continue
		}
		if h.Size > inceptionMaxFile {
			return nil, fmt.Errorf("%s: %d bytes, larger than expected", name, h.Size)
		}
		if total += h.Size; total > inceptionMaxTotal {
			return nil, fmt.Errorf("%s: the model files hold more than %d bytes together, larger than expected", name, int64(inceptionMaxTotal))
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("corrupt tarball at %s: %v", name, err)
		}
		files[path.Base(name)] = b
	}
	if len(files) == 0 {
		return nil, errors.New("no " + inceptionModelDir + " in the tarball (not the nsfwjs package?)")
	}
	return files, nil
}
