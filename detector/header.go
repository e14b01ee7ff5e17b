package detector

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/modelfile"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/tile"
)

// header is the schema of a model file's header, a JSON object: the members
// below, and beside them the members of the method's Params (feature
// dimension "d", "num_images", "num_patches" and the method's settings, such
// as CRD's "lambda" or kNN's "coreset"). It is built by Save and read by
// Load, nowhere else. Files of format version 1 have the same members except
// calibration.position_mean and its grid size; files of version 2 have no
// tiling.
type header struct {
	// Method is the scorer: "crd" or "knn".
	Method string `json:"method"`
	// Backbone is the registered backbone name, for example "inception_v3".
	Backbone string `json:"backbone"`
	// Layers are the backbone's feature layers, in concatenation order.
	Layers []string `json:"layers"`
	// Preprocess is the input transform the features were computed with.
	Preprocess preprocess.Params `json:"preprocess"`
	// Tiling, when present, is a tiled model's tiling and the image size
	// its layout is for (see Detector.Tiling); absent for a squashed model.
	Tiling *tile.Spec `json:"tiling,omitempty"`
	// Precision, when present, is the backbone's arithmetic ("bf16");
	// absent for float32, so a float32 model's header is as before.
	Precision string `json:"precision,omitempty"`
	// JPEG names the JPEG decoder of the build that made the model
	// (dataset.JPEGDecoder); absent in models made before it was recorded.
	JPEG string `json:"jpeg_decoder,omitempty"`
	// Calibration holds the thresholds and normalisation fitted on held-out
	// normal images.
	Calibration Calibration `json:"calibration"`
	// Selection, when set, says how training chose its settings.
	Selection *Selection `json:"selection,omitempty"`
	// Created is an RFC 3339 timestamp; Tool names the program and version
	// that wrote the file.
	Created string `json:"created,omitempty"`
	Tool    string `json:"tool,omitempty"`
}

// Calibration is what training learns from held-out normal images.
type Calibration struct {
	// ImageThreshold: an image whose score exceeds it is a defect.
	ImageThreshold float64 `json:"image_threshold"`
	// PixelThreshold: a pixel whose map value exceeds it is defective.
	PixelThreshold float64 `json:"pixel_threshold"`
	// ImageMethod says how ImageThreshold was chosen, for example "max" or
	// "quantile:0.99" (Uncalibrated: no thresholds).
	ImageMethod string `json:"image_method,omitempty"`
	// NormMin and NormMax map scores to normalised ones:
	// normalised = 0.5 + (score - threshold) / (NormMax - NormMin), clipped
	// to [0, 1], so that the threshold maps to 0.5.
	NormMin float64 `json:"norm_min"`
	NormMax float64 `json:"norm_max"`
	// HeldOut is the number of normal images the calibration used.
	HeldOut int `json:"held_out"`
	// FalseReject is the expected rate of normal images scoring above
	// ImageThreshold, with its uncertainty.
	FalseReject *RateEstimate `json:"false_reject,omitempty"`
	// PositionMean, when set, is the mean patch score of the held-out normal
	// images at each position of the GridH x GridW patch grid (row-major;
	// for a tiled model the tiles' grids stacked, so per tile and position).
	// Every patch score is divided by its position's mean before the image
	// score, the map and the thresholds are taken, so a score reads as "times
	// the normal score here". Models without it (uncalibrated, merged, or
	// format version 1) use raw scores.
	PositionMean []float32 `json:"position_mean,omitempty"`
	GridH        int       `json:"grid_h,omitempty"`
	GridW        int       `json:"grid_w,omitempty"`
	// ImageNorm, when set, is the normalisation of the image score
	// (NormOff, NormOn or NormShrunk) where it differs from the map's: the
	// image score is then the maximum of the patch scores divided by
	// ImagePositionMean (nil for NormOff: raw scores), and ImageThreshold is
	// on that scale. Empty: the image score is the maximum of the map's
	// normalised grid. Format version 3.
	ImageNorm         NormMode  `json:"image_norm,omitempty"`
	ImagePositionMean []float32 `json:"image_position_mean,omitempty"`
}

// MarshalHeader returns the model-file header that Save writes for d: the
// header members (method, backbone, layers, preprocess, tiling when set,
// precision when not float32, the JPEG decoder when known, calibration,
// created, tool), then the members
// of the method's Params, as one JSON object.
func (d *Detector) MarshalHeader() ([]byte, error) {
	h := header{Method: d.Method.Name(), Backbone: d.Backbone, Layers: d.Layers, Preprocess: d.Preprocess, Tiling: d.Tiling,
		JPEG: d.JPEG, Calibration: d.Calibration, Selection: d.Selection, Created: d.Created, Tool: d.Tool}
	if d.Precision != nn.Float32 {
		h.Precision = d.Precision.String()
	}
	base, err := json.Marshal(&h)
	if err != nil {
		return nil, err
	}
	params, err := json.Marshal(d.Method.Params())
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(params, []byte("{")) {
		return nil, fmt.Errorf("method %s: parameters %s are not a JSON object", h.Method, params)
	}
	if string(params) == "{}" {
		return base, nil
	}
	return slices.Concat(base[:len(base)-1], []byte(","), params[1:]), nil
}

// Decode builds the detector that the model file f describes: the header
// members, and the method with its arrays. Unlike Load it does not look up
// the backbone, so it also reads models made with backbones this build does
// not have.
func Decode(f *modelfile.File) (*Detector, error) {
	var h header
	if err := json.Unmarshal(f.Header, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", modelfile.ErrMalformed, err)
	}
	if err := h.Preprocess.Validate(); err != nil {
		return nil, fmt.Errorf("%w: header: %v", modelfile.ErrMalformed, err)
	}
	prec := nn.Float32
	if h.Precision != "" {
		var err error
		if prec, err = nn.ParsePrecision(h.Precision); err != nil {
			return nil, fmt.Errorf("%w: header: %v", modelfile.ErrMalformed, err)
		}
	}
	tiles := 1
	if h.Tiling != nil {
		l, err := h.Tiling.Layout()
		if err == nil && h.Tiling.Size != h.Preprocess.Crop {
			err = fmt.Errorf("tile side %d is not the input side %d", h.Tiling.Size, h.Preprocess.Crop)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: header: %v", modelfile.ErrMalformed, err)
		}
		tiles = l.Tiles()
	}
	if err := checkTilePositionMean(h.Calibration, tiles); err != nil {
		return nil, err
	}
	m, err := loadMethod(h.Method, f)
	if err != nil {
		return nil, err
	}
	return &Detector{Method: m, Backbone: h.Backbone, Layers: h.Layers, Preprocess: h.Preprocess, Tiling: h.Tiling,
		Precision: prec, JPEG: h.JPEG, Calibration: h.Calibration, Selection: h.Selection, Created: h.Created, Tool: h.Tool}, nil
}

// checkPositionMean reports a stored normalisation that cannot be used by
// a squashed model.
func checkPositionMean(c Calibration) error { return checkTilePositionMean(c, 1) }

// checkTilePositionMean reports a stored normalisation that cannot be used
// by a model with the given number of tiles (1 when squashed).
func checkTilePositionMean(c Calibration, tiles int) error {
	switch c.ImageNorm {
	case "", NormOff, NormOn, NormShrunk:
	default:
		return fmt.Errorf("%w: calibration image_norm %q: want off, on or shrunk", modelfile.ErrMalformed, c.ImageNorm)
	}
	if (c.ImageNorm == NormOff) != (c.ImagePositionMean == nil) && c.ImageNorm != "" {
		return fmt.Errorf("%w: calibration image_norm %s with %d image position means", modelfile.ErrMalformed, c.ImageNorm, len(c.ImagePositionMean))
	}
	if c.ImageNorm == "" && c.ImagePositionMean != nil {
		return fmt.Errorf("%w: calibration has image position means but no image_norm", modelfile.ErrMalformed)
	}
	if c.PositionMean == nil && c.ImagePositionMean == nil && c.GridH == 0 && c.GridW == 0 {
		return nil
	}
	// A grid is never larger than the input (a tiled model's: its tiles'
	// grids stacked); bounding each side first keeps the product from
	// overflowing.
	if c.GridH <= 0 || c.GridW <= 0 || c.GridH > tiles*preprocess.MaxCrop || c.GridW > preprocess.MaxCrop || c.GridH%tiles != 0 {
		return fmt.Errorf("%w: calibration has %d position means for a %d x %d grid", modelfile.ErrMalformed, max(len(c.PositionMean), len(c.ImagePositionMean)), c.GridH, c.GridW)
	}
	for _, m := range [][]float32{c.PositionMean, c.ImagePositionMean} {
		if m == nil {
			continue
		}
		if len(m) != c.GridH*c.GridW {
			return fmt.Errorf("%w: calibration has %d position means for a %d x %d grid", modelfile.ErrMalformed, len(m), c.GridH, c.GridW)
		}
		for j, v := range m {
			if !(v > 0) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%w: calibration position mean %d is %g, not a positive number", modelfile.ErrMalformed, j, v)
			}
		}
	}
	return nil
}

// ErrIncompatible: Compatible (or crd.MergeModels) found a difference that
// forbids merging two models. It is crd.ErrIncompatible.
var ErrIncompatible = crd.ErrIncompatible

// Compatible reports whether detectors a and b compute the same features
// with the same method, so that their statistics can be merged. It returns
// nil, or an error wrapping ErrIncompatible that lists every difference:
// method, backbone, feature layers, preprocessing, tiling, precision and
// feature dimension.
// Counts, calibration and provenance may differ; the method's own settings
// (CRD's lambda and score kind) are checked by crd.MergeModels.
func Compatible(a, b *Detector) error {
	var diffs []string
	diff := func(what string, x, y any) {
		diffs = append(diffs, fmt.Sprintf("%s %v != %v", what, x, y))
	}
	if a.Method.Name() != b.Method.Name() {
		diff("method", fmt.Sprintf("%q", a.Method.Name()), fmt.Sprintf("%q", b.Method.Name()))
	}
	if a.Backbone != b.Backbone {
		diff("backbone", fmt.Sprintf("%q", a.Backbone), fmt.Sprintf("%q", b.Backbone))
	}
	if !slices.Equal(a.Layers, b.Layers) {
		diff("layers", a.Layers, b.Layers)
	}
	if a.Preprocess != b.Preprocess {
		diff("preprocess", fmt.Sprintf("%+v", a.Preprocess), fmt.Sprintf("%+v", b.Preprocess))
	}
	if ta, tb := tilingName(a.Tiling), tilingName(b.Tiling); ta != tb {
		diff("tiling", ta, tb)
	}
	if a.Precision != b.Precision {
		diff("precision", a.Precision, b.Precision)
	}
	if a.Method.Dim() != b.Method.Dim() {
		diff("feature dimension d", a.Method.Dim(), b.Method.Dim())
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrIncompatible, strings.Join(diffs, "; "))
}

// Selection records how training chose its settings without defect
// samples: every candidate's figures on synthetic defects painted onto the
// held-out normal images, and the pick.
type Selection struct {
	// Picked names the chosen candidate, for example "norm=on lambda=1x".
	Picked string `json:"picked"`
	// Norm is the picked per-position normalisation: "off", "on" or
	// "shrunk"; LambdaFactor the picked multiple of the lambda given.
	Norm         string  `json:"norm"`
	LambdaFactor float64 `json:"lambda_factor,omitempty"`
	// ImageNorm is the normalisation picked for the image score (empty in
	// files that chose one for both).
	ImageNorm string `json:"image_norm,omitempty"`
	// Fixed lists the settings that were not chosen: fixed by flags, or
	// all of them with fewer than MinSelectImages held-out images.
	Fixed []string `json:"fixed,omitempty"`
	// Candidates are the candidates' figures, in the order tried.
	Candidates []CandidateFigures `json:"candidates,omitempty"`
	// SyntheticImages is the number of painted defect images.
	SyntheticImages int `json:"synthetic_images"`
	// CatchRate is the fraction of them scoring above the stored image
	// threshold.
	CatchRate float64 `json:"catch_rate"`
}

// CandidateFigures are one candidate's figures on the synthetic set.
type CandidateFigures struct {
	Name       string  `json:"name"`
	ImageAUROC float64 `json:"image_auroc"`
	AUPRO      float64 `json:"aupro"`
	Figure     float64 `json:"figure"`
}

// RateEstimate is the expected false-reject rate at the image threshold,
// from a fit to the held-out normal image scores, with the 5th to 95th
// percentile of its bootstrap over those images.
type RateEstimate struct {
	Expected float64 `json:"expected"`
	Low      float64 `json:"low"`
	High     float64 `json:"high"`
	// Fit describes the fitted distribution.
	Fit string `json:"fit"`
}

// tilingName describes a tiling for messages: "none" for a squashed model.
func tilingName(s *tile.Spec) string {
	if s == nil {
		return "none"
	}
	return s.String()
}
