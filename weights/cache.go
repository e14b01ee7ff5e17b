package weights

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/crd-ad/crd/internal/atomicfile"
)

// CacheEnv is the environment variable that overrides the cache directory.
const CacheEnv = "CRD_CACHE"

// CacheDir returns the per-user cache directory of crd: $CRD_CACHE when set,
// else os.UserCacheDir()/crd (for example ~/.cache/crd on Linux). The
// directory is not created.
//
// Backbone weights live under CacheDir()/weights/<backbone>.safetensors, each
// beside a <backbone>.safetensors.sha256 sidecar (sha256sum format) that
// VerifyFile checks before the weights are used.
func CacheDir() (string, error) {
	if d := os.Getenv(CacheEnv); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set %s (%v)", CacheEnv, err)
	}
	return filepath.Join(d, "crd"), nil
}

// CachePath returns the cached weight file of a backbone:
// CacheDir()/weights/<backbone>.safetensors.
func CachePath(backbone string) (string, error) {
	d, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "weights", backbone+".safetensors"), nil
}

// SidecarPath is the SHA-256 sidecar of a weight file: path + ".sha256".
func SidecarPath(path string) string { return path + ".sha256" }

// ErrNoSidecar is returned (wrapped) by VerifyFile when the file has no
// SHA-256 sidecar.
var ErrNoSidecar = errors.New("no SHA-256 sidecar")

// SHA256 returns the lower-case hex SHA-256 of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// VerifyBytes checks b, the content of path, against path's sidecar.
func VerifyBytes(path string, b []byte) error {
	side, err := readFileLimited(SidecarPath(path), maxSidecar, "the sidecar limit")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %w (%s missing)", path, ErrNoSidecar, SidecarPath(path))
		}
		return err
	}
	want, err := ParseSidecar(side)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", path, SidecarPath(path), err)
	}
	if got := SHA256(b); got != want {
		return fmt.Errorf("%s: SHA-256 mismatch: file has %s, sidecar %s says %s (corrupt or modified; import or fetch it again)", path, got, SidecarPath(path), want)
	}
	return nil
}

// maxSidecar bounds the size of a SHA-256 sidecar that is read.
const maxSidecar = 64 << 10

// ParseSidecar returns the lower-case hex SHA-256 that a sidecar in
// sha256sum format ("<hex>  <file name>") holds.
func ParseSidecar(side []byte) (string, error) {
	if len(side) > maxSidecar {
		return "", fmt.Errorf("malformed SHA-256 sidecar: %d bytes", len(side))
	}
	fields := strings.Fields(string(side))
	if len(fields) == 0 || len(fields[0]) != 64 {
		return "", errors.New("malformed SHA-256 sidecar: no 64-digit hash")
	}
	h := strings.ToLower(fields[0])
	if _, err := hex.DecodeString(h); err != nil {
		return "", errors.New("malformed SHA-256 sidecar: the hash is not hexadecimal")
	}
	return h, nil
}

// VerifyFile checks a weight file against its SHA-256 sidecar.
func VerifyFile(path string) error {
	b, err := readFileLimited(path, DefaultMaxFileBytes, maxFileName)
	if err != nil {
		return err
	}
	return VerifyBytes(path, b)
}

// WriteVerified writes t and meta as a safetensors file at path, then its
// SHA-256 sidecar, both atomically. The parent directory is created.
func WriteVerified(path string, t Tensors, meta map[string]string) error {
	b, err := EncodeSafetensors(t, meta)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := WriteFileAtomic(path, b); err != nil {
		return err
	}
	return WriteSidecar(path, b)
}

// WriteSidecar writes the SHA-256 sidecar of path, whose content is b, in
// sha256sum format ("<hex>  <file name>"), atomically.
func WriteSidecar(path string, b []byte) error {
	line := SHA256(b) + "  " + filepath.Base(path) + "\n"
	return WriteFileAtomic(SidecarPath(path), []byte(line))
}

// ReadVerified reads a safetensors file after checking it against its
// SHA-256 sidecar, which must exist.
func ReadVerified(path string) (Tensors, map[string]string, error) {
	b, err := readFileLimited(path, DefaultMaxFileBytes, maxFileName)
	if err != nil {
		return nil, nil, err
	}
	if err := VerifyBytes(path, b); err != nil {
		return nil, nil, err
	}
	t, meta, err := DecodeSafetensors(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, meta, nil
}

// WriteFileAtomic writes b to path through a temporary file in the same
// directory and a rename, so readers never see a partial file.
func WriteFileAtomic(path string, b []byte) error { return atomicfile.WriteFile(path, b) }
