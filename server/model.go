package server

// This file is the only one of the package that knows the detector API:
// everything else sees the narrow model interface below.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/embed"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/report"
)

// model scores decoded images. predictImages is called from one goroutine at
// a time (the model's batcher) with a whole backbone batch.
type model interface {
	predictImages(ctx context.Context, imgs []*dataset.RGB) ([]*verdict, error)
}

// verdict is the outcome for one image.
type verdict struct {
	Score      float64
	Normalized float64
	Defect     bool
	// heatmap renders the colour-mapped anomaly map on the original
	// image's pixel grid (it may be called from any goroutine).
	heatmap func() image.Image
}

// ModelInfo describes a loaded model, as /v1/models and the web page show it.
type ModelInfo struct {
	// Name is the name the model is served under.
	Name string `json:"name"`
	// Checksum is the SHA-256 of the model file, in hex.
	Checksum string `json:"checksum"`
	// Method is "crd" or "knn"; Backbone and Layers name the feature
	// extractor; InputSize is the side of the network input.
	Method    string   `json:"method"`
	Backbone  string   `json:"backbone"`
	Layers    []string `json:"layers"`
	InputSize int      `json:"input_size"`
	// TrainImages is the number of images in the model.
	TrainImages int64 `json:"train_images"`
	// Threshold is the image threshold; Calibrated is false when the model
	// has none (every image is then ok). ThresholdRule says how it was set
	// and HeldOut on how many normal images.
	Threshold     float64 `json:"threshold"`
	Calibrated    bool    `json:"calibrated"`
	ThresholdRule string  `json:"threshold_rule"`
	HeldOut       int     `json:"held_out_images"`
	// Created is when the model was trained; LoadedAt when this server
	// loaded it.
	Created  string    `json:"created"`
	LoadedAt time.Time `json:"loaded_at"`
}

// loadModel reads and warms up the model file at path: after it returns,
// the backbone is loaded and has run once.
func loadModel(path string) (model, ModelInfo, error) {
	sum, err := fileChecksum(path)
	if err != nil {
		return nil, ModelInfo{}, err
	}
	d, err := detector.Load(path)
	if err != nil {
		return nil, ModelInfo{}, err
	}
	ext, err := detector.NewExtractor(d.Header.Backbone, d.Header.Preprocess)
	if err != nil {
		return nil, ModelInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	h := d.Header
	info := ModelInfo{
		Checksum: sum, Method: h.Method, Backbone: h.Backbone, Layers: h.Layers, InputSize: ext.Preprocess.Crop,
		TrainImages: h.NumImages, Threshold: h.Calibration.ImageThreshold, Calibrated: d.Calibrated(),
		ThresholdRule: h.Calibration.ImageMethod, HeldOut: h.Calibration.HeldOut, Created: h.Created,
	}
	m := &detectorModel{d: d, ext: ext}
	warm := dataset.NewRGB(ext.Preprocess.Crop, ext.Preprocess.Crop)
	if _, err := m.predictImages(context.Background(), []*dataset.RGB{warm}); err != nil {
		return nil, ModelInfo{}, fmt.Errorf("%s: warm-up: %w", path, err)
	}
	info.LoadedAt = time.Now().UTC()
	return m, info, nil
}

func fileChecksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// detectorModel adapts a detector.Detector. Until the detector scores
// decoded images itself, it runs the extractor's backbone on one batch and
// turns each image's patch scores into a Result with FromGrid.
type detectorModel struct {
	d   *detector.Detector
	ext *detector.Extractor // its backbone is used by predictImages only
}

func (m *detectorModel) predictImages(ctx context.Context, imgs []*dataset.RGB) ([]*verdict, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pre := m.ext.Preprocess
	n := 3 * pre.Crop * pre.Crop
	x := nn.NewTensor(len(imgs), 3, pre.Crop, pre.Crop)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for k, img := range imgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			preprocess.Image(img.Pix, img.W, img.H, pre, x.Data[k*n:(k+1)*n])
		}()
	}
	wg.Wait()
	outs, err := m.ext.Net.Forward(x)
	if err != nil {
		return nil, fmt.Errorf("backbone: %w", err)
	}
	feats, err := embed.Features(outs)
	if err != nil {
		return nil, err
	}
	out := make([]*verdict, len(imgs))
	for k, img := range imgs {
		f := feats.Image(k)
		grid := make([]float32, f.H*f.W)
		m.d.Scorer().Score(f.Data, f.H*f.W, grid)
		r := m.d.FromGrid(grid, f.H, f.W)
		r.Image = img
		out[k] = &verdict{Score: r.Score, Normalized: r.Normalized, Defect: r.Defect, heatmap: func() image.Image { return m.heatmap(r) }}
	}
	return out, nil
}

// heatmap colours r's anomaly map on the original image's pixels: the pixel
// threshold sits in the middle of the colour scale when the model has one,
// otherwise the map's own range is used.
func (m *detectorModel) heatmap(r *detector.Result) image.Image {
	px := m.d.PixelMapOriginal(r)
	lo, hi := float64(slices.Min(px)), float64(slices.Max(px))
	if cal := m.d.Header.Calibration; m.d.Calibrated() && cal.PixelThreshold > 0 {
		lo, hi = 0, 2*cal.PixelThreshold
	}
	return report.Heatmap(px, r.Image.W, r.Image.H, lo, hi)
}
