package modelfile

// Header is the metadata every model file carries, stored as JSON after the
// magic and format version. The numeric payload (matrices, memory banks) is
// stored beside it as named arrays.
type Header struct {
	// Method is the scorer: "crd" or "knn".
	Method string `json:"method"`
	// Backbone is the registered backbone name, for example "inception_v3".
	Backbone string `json:"backbone"`
	// Layers are the backbone's feature layers, in concatenation order.
	Layers []string `json:"layers"`
	// Preprocess is the input transform the features were computed with.
	Preprocess Preprocess `json:"preprocess"`
	// D is the patch-feature dimension.
	D int `json:"d"`
	// Lambda is the regulariser as the user gave it; LambdaMode says how to
	// read it ("absolute", or "relative" to trace(G)/d), and LambdaAbs is the
	// absolute value the solve used.
	Lambda     float64 `json:"lambda,omitempty"`
	LambdaMode string  `json:"lambda_mode,omitempty"`
	LambdaAbs  float64 `json:"lambda_abs,omitempty"`
	// Score is the CRD patch score: "residual" (the paper's ||M y||^2) or
	// "objective" (lambda y^T (G + lambda I)^-1 y).
	Score string `json:"score,omitempty"`
	// Coreset is the kNN coreset ratio (1 = the full memory bank).
	Coreset float64 `json:"coreset,omitempty"`
	// NumImages and NumPatches count the normal training images and patches
	// that went into the model.
	NumImages  int64 `json:"num_images"`
	NumPatches int64 `json:"num_patches"`
	// Calibration holds the thresholds and normalisation fitted on held-out
	// normal images.
	Calibration Calibration `json:"calibration"`
	// Created is an RFC 3339 timestamp; Tool names the program and version
	// that wrote the file.
	Created string `json:"created,omitempty"`
	Tool    string `json:"tool,omitempty"`
}

// Preprocess describes how an image becomes the backbone's input tensor.
type Preprocess struct {
	// Resize is the side the image is resized to (or 0 for none) and Crop the
	// centre crop side taken from that.
	Resize int `json:"resize"`
	Crop   int `json:"crop"`
	// Mean and Std normalise RGB values in [0, 1]: (v - Mean) / Std.
	Mean [3]float64 `json:"mean"`
	Std  [3]float64 `json:"std"`
}

// Calibration is what training learns from held-out normal images.
type Calibration struct {
	// ImageThreshold: an image whose raw score exceeds it is a defect.
	ImageThreshold float64 `json:"image_threshold"`
	// PixelThreshold: a pixel whose raw map value exceeds it is defective.
	PixelThreshold float64 `json:"pixel_threshold"`
	// ImageMethod says how ImageThreshold was chosen, for example "max" or
	// "quantile:0.99".
	ImageMethod string `json:"image_method,omitempty"`
	// NormMin and NormMax map raw scores to normalised ones:
	// normalised = 0.5 + (raw - threshold) / (NormMax - NormMin), clipped to
	// [0, 1], so that the threshold maps to 0.5.
	NormMin float64 `json:"norm_min"`
	NormMax float64 `json:"norm_max"`
	// HeldOut is the number of normal images the calibration used.
	HeldOut int `json:"held_out"`
	// PositionMean, when set, is the mean patch score of the held-out normal
	// images at each position of the GridH x GridW patch grid (row-major).
	// Every patch score is divided by its position's mean before the image
	// score, the map and the thresholds are taken, so a score reads as "times
	// the normal score here". Models without it (uncalibrated, merged, or
	// format version 1) use raw scores.
	PositionMean []float32 `json:"position_mean,omitempty"`
	GridH        int       `json:"grid_h,omitempty"`
	GridW        int       `json:"grid_w,omitempty"`
}
