package detector

import (
	"encoding/json"
	"fmt"

	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/knn"
	"github.com/crd-ad/crd/modelfile"
	"github.com/crd-ad/crd/nn"
)

// Method is the patch scorer behind a Detector: it turns one image's d x P
// patch-feature matrix into P patch scores, and describes itself for the
// model file. *crd.Model and *knn.Model implement it. Score must be safe for
// concurrent use.
type Method interface {
	// Name is the method's name in model files: "crd" or "knn".
	Name() string
	// Dim is the feature dimension d.
	Dim() int
	// Counts are the numbers of training images and patches the method
	// was made from.
	Counts() (images, patches int64)
	// Score writes the patch scores of the d x p row-major feature matrix
	// y to out[:p].
	Score(y []float32, p int, out []float32)
	// Bytes is the size of the numeric payload as deployed (M for CRD, the
	// memory bank and its norms for kNN).
	Bytes() int64
	// Params are the method's settings as a small struct whose JSON
	// members are stored in the model file's header.
	Params() any
	// Arrays are the method's arrays to store in the model file; full asks
	// for the optional training statistics too (CRD's G, which updating and
	// merging need).
	Arrays(full bool) []modelfile.Array
}

// LayeredScorer is a Method that scores an image from its feature layers
// pooled at their own sizes, without the concatenated features: for CRD
// (*crd.Model) the layers' products with the scoring matrix are made at
// the layers' sizes and resized, several times fewer multiply-adds than
// the product of the concatenation. Detectors whose methods have it
// predict, calibrate and select through it; training, which needs the
// concatenated features, and methods without it (kNN) keep them.
type LayeredScorer interface {
	Method
	// ScoreLayers writes to out[:p] the patch scores of one image (or
	// tile) given its pooled layers in NHWC layout, each 1 x H_l x W_l x
	// C_l, the grid layer 0's (p = H_0 W_0): Score's scores of the layers
	// resized to the grid and concatenated (patchfeat.FeaturesInto), up
	// to float32 rounding. It must be safe for concurrent use.
	ScoreLayers(layers []*nn.NHWC, out []float32)
}

// scoreLayers reports whether every method in ms is a LayeredScorer, so that
// they can score layered runs.
func scoreLayers(ms ...Method) bool {
	for _, m := range ms {
		if _, ok := m.(LayeredScorer); !ok {
			return false
		}
	}
	return len(ms) > 0
}

// loadMethod rebuilds the method called name from a model file: its Params
// from the header's JSON object, its arrays from the file. It is the one
// place that maps method names to packages.
func loadMethod(name string, f *modelfile.File) (Method, error) {
	switch name {
	case crd.Method:
		var p crd.Params
		if err := decodeParams(f, &p); err != nil {
			return nil, err
		}
		return crd.FromFile(p, f)
	case knn.Method:
		var p knn.Params
		if err := decodeParams(f, &p); err != nil {
			return nil, err
		}
		return knn.FromFile(p, f)
	}
	return nil, fmt.Errorf("unknown method %q (want %s or %s)", name, crd.Method, knn.Method)
}

// decodeParams reads a method's parameters from the header's JSON object.
func decodeParams(f *modelfile.File, p any) error {
	if err := json.Unmarshal(f.Header, p); err != nil {
		return fmt.Errorf("%w: header: %v", modelfile.ErrMalformed, err)
	}
	return nil
}
