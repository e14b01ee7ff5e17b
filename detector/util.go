package detector

import (
	"context"

	"github.com/crd-ad/crd/modelfile"
	"github.com/crd-ad/crd/preprocess"
)

// Tool names the program written into model files.
const Tool = "crd 0.1"

func bgContext() context.Context { return context.Background() }

func preprocessToOriginal(r *Result, p modelfile.Preprocess) []float32 {
	return preprocess.ToOriginal(r.Map, r.Image.W, r.Image.H, p, 0)
}
