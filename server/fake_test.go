package server

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crd-ad/crd/dataset"
)

// fakeModel gives every image the same score (a defect when above 1 - the
// threshold is 1) and records its batch sizes. With a gate it waits for the
// gate to close before scoring; with a delay it sleeps per batch.
type fakeModel struct {
	score float64
	gate  chan struct{}
	delay time.Duration

	mu      sync.Mutex
	batches []int
	waits   atomic.Int32
}

func (f *fakeModel) predictImages(ctx context.Context, imgs []*dataset.RGB) ([]*verdict, error) {
	f.mu.Lock()
	f.batches = append(f.batches, len(imgs))
	f.mu.Unlock()
	if f.gate != nil {
		f.waits.Add(1)
		<-f.gate
	}
	time.Sleep(f.delay)
	out := make([]*verdict, len(imgs))
	for k, img := range imgs {
		w, h := img.W, img.H
		out[k] = &verdict{Score: f.score, Normalized: f.score / 2, Defect: f.score > 1, heatmap: func() image.Image {
			return image.NewRGBA(image.Rect(0, 0, w, h))
		}}
	}
	return out, nil
}

func (f *fakeModel) waiting() int { return int(f.waits.Load()) }

func (f *fakeModel) sizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.batches...)
}

// addFake serves m under name.
func (s *Server) addFake(name string, m *fakeModel) error {
	prev := s.loadModel
	defer func() { s.loadModel = prev }()
	s.loadModel = func(string) (model, ModelInfo, error) {
		return m, ModelInfo{Checksum: "fake-1", Method: "crd", Backbone: "fake", Threshold: 1, Calibrated: true}, nil
	}
	return s.AddModel(name, "fake.crd")
}

// pngBytes is a w x h grey PNG.
func pngBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	img.Set(0, 0, color.Gray{Y: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
