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
	"time"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/detector"
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
	// ImageWidth and ImageHeight, set for a tiled model, are the only image
	// size it takes (its training images'); other sizes are refused with
	// 422 before they reach a batch.
	ImageWidth  int `json:"image_width,omitempty"`
	ImageHeight int `json:"image_height,omitempty"`
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
	// Warning, when set, is a note on the model from this build, such as
	// detector.JPEGMismatch's.
	Warning string `json:"warning,omitempty"`
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
	images, _ := d.Method.Counts()
	cal := d.Calibration
	info := ModelInfo{
		Checksum: sum, Method: d.Method.Name(), Backbone: d.Backbone, Layers: d.Layers, InputSize: d.Preprocess.Crop,
		TrainImages: images, Threshold: cal.ImageThreshold, Calibrated: d.Calibrated(),
		ThresholdRule: cal.ImageMethod, HeldOut: cal.HeldOut, Created: d.Created, Warning: d.JPEGMismatch(),
	}
	m := &detectorModel{d: d}
	warm := dataset.NewRGB(d.Preprocess.Crop, d.Preprocess.Crop)
	if d.Tiling != nil {
		info.ImageWidth, info.ImageHeight = d.Tiling.ImageW, d.Tiling.ImageH
		warm = dataset.NewRGB(d.Tiling.ImageW, d.Tiling.ImageH)
	}
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

// detectorModel adapts a detector.Detector: PredictImages scores a batch
// of decoded images as one backbone batch.
type detectorModel struct {
	d *detector.Detector
}

func (m *detectorModel) predictImages(ctx context.Context, imgs []*dataset.RGB) ([]*verdict, error) {
	rs, err := m.d.PredictImages(ctx, imgs)
	if err != nil {
		return nil, err
	}
	out := make([]*verdict, len(rs))
	for k, r := range rs {
		out[k] = &verdict{Score: r.Score, Normalized: r.Normalized, Defect: r.Defect, heatmap: func() image.Image { return m.heatmap(r) }}
	}
	return out, nil
}

// heatmap colours r's anomaly map on the original image's pixels, over the
// range `crd predict --out` uses (report.HeatmapRange).
func (m *detectorModel) heatmap(r *detector.Result) image.Image {
	px := m.d.PixelMapOriginal(r)
	lo, hi := report.HeatmapRange(m.d, px)
	return report.Heatmap(px, lo, hi)
}
