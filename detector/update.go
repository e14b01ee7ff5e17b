package detector

import (
	"fmt"
	"time"

	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/modelfile"
	"github.com/crd-ad/crd/nn"
)

// AddNormals adds normal images to a CRD model that kept its Gram matrix:
// their features are accumulated into G, the model is solved again with the
// same settings, and the thresholds are fitted again on a held-out part of
// the new images (opts.Holdout, opts.Threshold, opts.Seed). The old images
// are not needed. The backbone and preprocessing are the model's own.
func (d *Detector) AddNormals(paths []string, opts TrainOptions) error {
	if d.CRD == nil {
		return fmt.Errorf("resume: only CRD models can be updated (this one is %q)", d.Header.Method)
	}
	if d.CRD.Acc == nil {
		return fmt.Errorf("resume: the model was saved without its Gram matrix G; train it again with G kept")
	}
	if len(paths) == 0 {
		return fmt.Errorf("resume: no new images")
	}
	train, held := SplitHoldout(paths, opts.Holdout, opts.Seed)
	d.mu.Lock()
	e, err := d.extractor()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	e.SkipBad, e.Warn = opts.SkipBad, opts.Warn
	acc := d.CRD.Acc.Clone()
	before := acc.NumImages()
	t0 := time.Now()
	err = e.RunBatches(train, func(items []*Item, f *nn.Tensor) error {
		acc.AddBatch(f.Data, f.N, f.H*f.W)
		opts.progress("train", int(acc.NumImages()-before), len(train))
		return nil
	})
	if err != nil {
		return err
	}
	m, err := acc.Solve(d.CRD.Options)
	if err != nil {
		return err
	}
	opts.logf("added %d images (%d in the model now) and solved again in %s", acc.NumImages()-before, acc.NumImages(), since(t0))
	d.CRD = m
	d.syncHeader()
	d.Header.Created = time.Now().UTC().Format(time.RFC3339)
	if len(held) == 0 {
		opts.logf("no new held-out images: the thresholds are kept from before and may be stale")
		return nil
	}
	return d.Calibrate(held, opts)
}

// Merge combines CRD detectors trained on disjoint image sets into the one
// that training on their union gives, up to float64 rounding. They must
// share backbone, layers, preprocessing and lambda settings, and have kept
// G. The merged model has no calibration until Calibrate is called.
func Merge(ds []*Detector) (*Detector, error) {
	var hs []modelfile.Header
	var ms []*crd.Model
	for i, d := range ds {
		if d.CRD == nil {
			return nil, fmt.Errorf("merge: model %d is %q, only CRD models merge", i+1, d.Header.Method)
		}
		hs = append(hs, d.Header)
		ms = append(ms, d.CRD)
	}
	h, m, err := crd.MergeModels(hs, ms)
	if err != nil {
		return nil, err
	}
	h.Created = time.Now().UTC().Format(time.RFC3339)
	h.Tool = Tool
	h.Calibration = modelfile.Calibration{ImageMethod: Uncalibrated}
	return &Detector{Header: h, CRD: m}, nil
}
