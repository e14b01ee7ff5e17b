package backbone

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crd-ad/crd/weights"
)

// TorchvisionURL is where torchvision publishes its checkpoints; Fetch
// downloads <TorchvisionURL>/<file> unless FetchOptions.Mirror names another
// base URL.
const TorchvisionURL = "https://download.pytorch.org/models"

// fetchTimeout bounds one download.
var fetchTimeout = 30 * time.Minute

// hashPrefix returns the SHA-256 prefix that torchvision puts in a
// checkpoint's file name: "resnet18-f37072fd.pth" -> "f37072fd".
func hashPrefix(file string) string {
	base := strings.TrimSuffix(file, filepath.Ext(file))
	i := strings.LastIndexByte(base, '-')
	if i < 0 {
		return ""
	}
	return base[i+1:]
}

// torchvisionFetcher downloads a torchvision checkpoint, checks its SHA-256
// against the prefix in the file name (torchvision's own check), and keeps
// the trunk's tensors.
func torchvisionFetcher(a resnetArch) FetchFunc {
	return func(opts FetchOptions) (weights.Tensors, map[string]string, error) {
		base, log := TorchvisionURL, opts.Log
		if opts.Mirror != "" {
			base = opts.Mirror
		}
		url := strings.TrimSuffix(base, "/") + "/" + a.checkpoint
		hint := fmt.Sprintf("if this machine cannot reach it, download %s elsewhere (torchvision.models.%s(weights=\"IMAGENET1K_V1\") caches it under ~/.cache/torch/hub/checkpoints) and run `crd backbone import %s FILE`", a.checkpoint, a.name, a.name)
		fmt.Fprintf(log, "downloading %s\n", url)
		tmp, err := os.CreateTemp("", "crd-"+a.checkpoint+"-*")
		if err != nil {
			return nil, nil, err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		sum, n, err := download(url, tmp)
		if err != nil {
			return nil, nil, fmt.Errorf("download of %s failed: %v; %s", url, err, hint)
		}
		want := hashPrefix(a.checkpoint)
		if !strings.HasPrefix(sum, want) {
			return nil, nil, fmt.Errorf("download of %s: SHA-256 %s does not start with %s (corrupt or substituted file); %s", url, sum, want, hint)
		}
		fmt.Fprintf(log, "downloaded %d bytes, SHA-256 %s\n", n, sum)
		if err := tmp.Close(); err != nil {
			return nil, nil, err
		}
		t, err := importResNet(a, tmp.Name())
		if err != nil {
			return nil, nil, err
		}
		return t, map[string]string{"source": a.checkpoint, "source_sha256": sum}, nil
	}
}

// download streams url into w and returns the hex SHA-256 and size.
func download(url string, w io.Writer) (string, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("HTTP %s", resp.Status)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), resp.Body)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
