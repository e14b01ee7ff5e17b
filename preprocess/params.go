package preprocess

import (
	"fmt"
	"math"
)

// Params describe how an image becomes the backbone's input tensor: resize,
// centre crop and per-channel normalisation. They are stored in model files
// (as the header's "preprocess" object), so that a model scores images the
// way it was trained.
type Params struct {
	// Resize is the side the image is resized to (or 0 for none) and Crop the
	// centre crop side taken from that.
	Resize int `json:"resize"`
	Crop   int `json:"crop"`
	// Mean and Std normalise RGB values in [0, 1]: (v - Mean) / Std.
	Mean [3]float64 `json:"mean"`
	Std  [3]float64 `json:"std"`
}

// Window is where the crop lies in the resized image: the crop's pixel (x, y)
// is pixel (Left+x, Top+y) of the Resize x Resize image.
type Window struct {
	Resize, Crop, Left, Top int
}

// Window returns the crop window of p, with torchvision's CenterCrop
// rounding. A Resize of 0 means the image is resized straight to Crop.
func (p Params) Window() Window {
	r := p.Resize
	if r == 0 {
		r = p.Crop
	}
	off := int(math.Round(float64(r-p.Crop) / 2))
	return Window{Resize: r, Crop: p.Crop, Left: off, Top: off}
}

// MaxCrop is the largest input side (crop) a model may use, and MaxResize
// the largest resize side: beyond them one image would take gigabytes in
// the backbone. Flags (--size) and model headers are both checked.
const (
	MaxCrop   = 1024
	MaxResize = 2 * MaxCrop
)

// Validate reports a preprocessing that cannot be applied.
func (p Params) Validate() error {
	if p.Crop <= 0 || p.Crop > MaxCrop {
		return fmt.Errorf("preprocess: crop size %d must be from 1 to %d (preprocess.MaxCrop)", p.Crop, MaxCrop)
	}
	if p.Resize != 0 && p.Resize < p.Crop {
		return fmt.Errorf("preprocess: resize %d is smaller than crop %d", p.Resize, p.Crop)
	}
	if p.Resize > MaxResize {
		return fmt.Errorf("preprocess: resize %d is more than %d (preprocess.MaxResize)", p.Resize, MaxResize)
	}
	for c := 0; c < 3; c++ {
		if !(p.Std[c] > 0) {
			return fmt.Errorf("preprocess: std[%d] = %g must be positive", c, p.Std[c])
		}
	}
	return nil
}
