package detector

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
)

// TestPrepareRecycledBatch checks that prepare fills a recycled input batch exactly as a new one: every slot of a
// read image overwritten with its preprocessed pixels, the slot of an image that failed zeroed.
func TestPrepareRecycledBatch(t *testing.T) {
	pre := preprocess.Params{Resize: 40, Crop: 32, Mean: [3]float64{0.4, 0.5, 0.6}, Std: [3]float64{0.2, 0.25, 0.3}}
	e := &Extractor{Preprocess: pre}
	c := pre.Crop
	old := nn.NewTensor(4, 3, c, c)
	for i := range old.Data {
		old.Data[i] = float32(math.NaN())
	}
	e.inputs.Put(old)
	imgs := make([]*dataset.RGB, 3)
	for k := range imgs {
		imgs[k] = dataset.NewRGB(45+k, 37)
		for i := range imgs[k].Pix {
			imgs[k].Pix[i] = float32((i*7+k*13)%101) / 100
		}
	}
	_, errs, x := e.prepare(3, func(k int) (*dataset.RGB, error) {
		if k == 1 {
			return nil, errors.New("unreadable")
		}
		return imgs[k], nil
	})
	if errs[1] == nil || errs[0] != nil || errs[2] != nil {
		t.Fatalf("errs = %v", errs)
	}
	if x != old {
		t.Fatal("prepare did not reuse the recycled batch")
	}
	if x.N != 3 || x.C != 3 || x.H != c || x.W != c || len(x.Data) != 3*3*c*c {
		t.Fatalf("batch %dx%dx%dx%d with %d values", x.N, x.C, x.H, x.W, len(x.Data))
	}
	for k := range 3 {
		want := make([]float32, 3*c*c)
		if k != 1 {
			preprocess.Image(imgs[k], pre, want)
		}
		if got := x.Data[k*3*c*c : (k+1)*3*c*c]; !slices.Equal(got, want) {
			t.Errorf("slot %d differs from a fresh preprocessing", k)
		}
	}
}
