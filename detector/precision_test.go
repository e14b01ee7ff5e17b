package detector

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/modelfile"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/weights"
)

// tinyPrec is the tiny backbone that records the precision it is set to
// (its features do not depend on it).
type tinyPrec struct{ tiny }

const tinyPrecName = "test_tiny_precision"

var (
	precMu  sync.Mutex
	precSet []nn.Precision // every SetPrecision call, in order
)

func (tinyPrec) Info() backbone.Info {
	i := tinyInfo
	i.Name = tinyPrecName
	return i
}

func (tinyPrec) SetPrecision(p nn.Precision) {
	precMu.Lock()
	defer precMu.Unlock()
	precSet = append(precSet, p)
}

func init() {
	i := tinyInfo
	i.Name = tinyPrecName
	backbone.Register(i, func(weights.Tensors) (backbone.Backbone, error) { return tinyPrec{}, nil })
}

// TestPrecisionHeader: a float32 model's header has no precision member
// and is byte for byte the one it had (the fixtures, written before
// precisions existed); a bf16 one has "precision":"bf16" and nothing else
// more, decodes to BF16, and differs from the float32 model in
// Compatible; an unknown precision is a malformed header.
func TestPrecisionHeader(t *testing.T) {
	for _, name := range fixtures {
		f, err := modelfile.Read(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if d.Precision != nn.Float32 {
			t.Fatalf("%s: precision %v, want float32", name, d.Precision)
		}
		h32, err := d.MarshalHeader()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(h32, []byte("precision")) {
			t.Fatalf("%s: float32 header names a precision: %s", name, h32)
		}
		d.Precision = nn.BF16
		h16, err := d.MarshalHeader()
		d.Precision = nn.Float32
		if err != nil {
			t.Fatal(err)
		}
		if got := string(bytes.Replace(h16, []byte(`"precision":"bf16",`), nil, 1)); got != string(h32) {
			t.Fatalf("%s: bf16 header is more than the float32 one and a precision:\n%s\n%s", name, h16, h32)
		}
		f.Header = h16
		back, err := Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if back.Precision != nn.BF16 {
			t.Fatalf("%s: decoded precision %v, want bf16", name, back.Precision)
		}
		if err := Compatible(d, back); !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "precision float32 != bf16") {
			t.Fatalf("%s: Compatible(float32, bf16) = %v", name, err)
		}
		f.Header = bytes.Replace(h16, []byte(`"bf16"`), []byte(`"fp8"`), 1)
		if _, err := Decode(f); !errors.Is(err, modelfile.ErrMalformed) || !strings.Contains(err.Error(), `precision "fp8"`) {
			t.Fatalf("%s: precision fp8: got %v, want a malformed header naming it", name, err)
		}
	}
}

// TestJPEGDecoderHeader: models made before the JPEG decoder was recorded
// (the fixtures) name none and get no warning; a new detector records this
// build's, which the header round-trips, and one naming another decoder
// gets a warning naming both.
func TestJPEGDecoderHeader(t *testing.T) {
	for _, name := range fixtures {
		f, err := modelfile.Read(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		old, err := Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if old.JPEG != "" || old.JPEGMismatch() != "" {
			t.Fatalf("%s: JPEG %q, warning %q; want none", name, old.JPEG, old.JPEGMismatch())
		}
		d, err := New(old.Method, tinyInfo.Name, old.Preprocess)
		if err != nil {
			t.Fatal(err)
		}
		if d.JPEG != dataset.JPEGDecoder() || d.JPEGMismatch() != "" {
			t.Fatalf("%s: new detector's JPEG %q (warning %q), want %q", name, d.JPEG, d.JPEGMismatch(), dataset.JPEGDecoder())
		}
		d.JPEG = "another-decoder"
		h, err := d.MarshalHeader()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(h, []byte(`"jpeg_decoder":"another-decoder"`)) {
			t.Fatalf("%s: header %s names no JPEG decoder", name, h)
		}
		f.Header = h
		back, err := Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if w := back.JPEGMismatch(); back.JPEG != "another-decoder" || !strings.Contains(w, "another-decoder") || !strings.Contains(w, dataset.JPEGDecoder()) {
			t.Fatalf("%s: decoded JPEG %q, warning %q", name, back.JPEG, w)
		}
		// Not a string: a malformed header.
		f.Header = bytes.Replace(h, []byte(`"jpeg_decoder":"another-decoder"`), []byte(`"jpeg_decoder":5`), 1)
		if _, err := Decode(f); !errors.Is(err, modelfile.ErrMalformed) || !strings.Contains(err.Error(), "jpeg_decoder") {
			t.Fatalf("%s: jpeg_decoder 5: got %v, want a malformed header naming it", name, err)
		}
	}
}

// TestTrainPrecision: the precision given to Train reaches the backbone,
// is saved with the model, and is set again on the backbone of the loaded
// model when it predicts; a backbone that cannot run in bf16 makes Train
// fail.
func TestTrainPrecision(t *testing.T) {
	cat := setup(t) // the cache holds the tiny backbone's (unused) weights
	tinyPath, _ := weights.CachePath(tinyName)
	precPath, err := weights.CachePath(tinyPrecName)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{tinyPath, precPath}, {weights.SidecarPath(tinyPath), weights.SidecarPath(precPath)}} {
		b, err := os.ReadFile(p[0])
		if err == nil {
			err = os.WriteFile(p[1], b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	opts := tinyOptions()
	opts.Backbone = tinyPrecName
	opts.Precision = nn.BF16
	precMu.Lock()
	precSet = nil
	precMu.Unlock()
	d, err := Train(context.Background(), cat.Train, opts)
	if err != nil {
		t.Fatal(err)
	}
	if d.Precision != nn.BF16 {
		t.Fatalf("trained precision %v, want bf16", d.Precision)
	}
	path := filepath.Join(t.TempDir(), "m.crd")
	if err := d.Save(path, false); err != nil {
		t.Fatal(err)
	}
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if l.Precision != nn.BF16 {
		t.Fatalf("loaded precision %v, want bf16", l.Precision)
	}
	if _, err := l.Predict(context.Background(), cat.Test[0].Path); err != nil {
		t.Fatal(err)
	}
	precMu.Lock()
	got := append([]nn.Precision(nil), precSet...)
	precMu.Unlock()
	if len(got) != 2 || got[0] != nn.BF16 || got[1] != nn.BF16 {
		t.Fatalf("backbone precisions set %v, want bf16 for training and for the loaded model", got)
	}
	opts = tinyOptions()
	opts.Precision = nn.BF16
	if _, err := Train(context.Background(), cat.Train, opts); err == nil || !strings.Contains(err.Error(), "cannot run in bf16") {
		t.Fatalf("bf16 on a backbone without it: %v", err)
	}
}
