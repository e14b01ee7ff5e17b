package detector

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/nn"
)

// AddNormals adds normal images to a CRD model that kept its Gram matrix:
// their features are accumulated into G, the model is solved again with the
// same settings, and the thresholds are fitted again on a held-out part of
// the new images (opts.Holdout, opts.Threshold, opts.Seed). The old images
// are not needed. The backbone and preprocessing are the model's own. It
// stops when ctx is done, leaving the detector as it was.
func (d *Detector) AddNormals(ctx context.Context, paths []string, opts TrainOptions) error {
	old, ok := d.Method.(*crd.Model)
	if !ok {
		return fmt.Errorf("resume: only CRD models can be updated (this one is %q)", d.Method.Name())
	}
	if old.Acc == nil {
		return fmt.Errorf("resume: the model was saved without its Gram matrix G; train it again with G kept")
	}
	if len(paths) == 0 {
		return fmt.Errorf("resume: no new images")
	}
	train, held := SplitHoldout(paths, opts.Holdout, opts.Seed)
	e, err := d.extractor()
	if err != nil {
		return err
	}
	acc := old.Acc.Clone()
	before := acc.NumImages()
	t0 := time.Now()
	err = e.run(ctx, train, badImages{opts.SkipBad, opts.Warn}, false, func(items []*Item, f *nn.Tensor) error {
		acc.AddBatch(f.Data, f.N, f.H*f.W)
		opts.progress("train", int(acc.NumImages()-before), len(train))
		return nil
	})
	if err != nil {
		return err
	}
	m, err := acc.Solve(old.Options)
	if err != nil {
		return err
	}
	opts.logf("added %d images (%d in the model now) and solved again in %s", acc.NumImages()-before, acc.NumImages(), since(t0))
	d.Method = m
	d.Created = time.Now().UTC().Format(time.RFC3339)
	if len(held) == 0 {
		opts.logf("no new held-out images: the thresholds are kept from before and may be stale")
		return nil
	}
	return d.Calibrate(ctx, held, opts)
}

// Merge combines CRD detectors trained on disjoint image sets into the one
// that training on their union gives, up to float64 rounding. They must
// share backbone, layers, preprocessing and lambda settings (Compatible and
// crd.MergeModels), and have kept G. The merged model has no calibration
// until Calibrate is called.
func Merge(ds []*Detector) (*Detector, error) {
	if len(ds) == 0 {
		return nil, fmt.Errorf("merge: no models")
	}
	var ms []*crd.Model
	for i, d := range ds {
		m, ok := d.Method.(*crd.Model)
		if !ok {
			return nil, fmt.Errorf("merge: %s is a %q model, only CRD models merge", d.name(i), d.Method.Name())
		}
		if err := Compatible(ds[0], d); err != nil {
			return nil, fmt.Errorf("merge: %s and %s: %w", ds[0].name(0), d.name(i), err)
		}
		if i > 0 {
			if err := crd.Mergeable(ms[0], m); err != nil {
				if sel := d.Selection; sel != nil && !slices.Contains(sel.Fixed, "lambda") || ds[0].Selection != nil && !slices.Contains(ds[0].Selection.Fixed, "lambda") {
					err = fmt.Errorf("%w (training chose lambda by itself; train the shards with the same explicit --lambda to merge them)", err)
				}
				return nil, fmt.Errorf("merge: %s and %s: %w", ds[0].name(0), d.name(i), err)
			}
		}
		ms = append(ms, m)
	}
	m, err := crd.MergeModels(ms)
	if err != nil {
		return nil, err
	}
	first := ds[0]
	jpeg := first.JPEG // the shards' JPEG decoder where they agree
	for _, d := range ds[1:] {
		if d.JPEG != jpeg {
			jpeg = ""
		}
	}
	return &Detector{Method: m, Backbone: first.Backbone, Layers: slices.Clone(first.Layers), Preprocess: first.Preprocess, Tiling: first.Tiling,
		Precision: first.Precision, JPEG: jpeg, Calibration: Calibration{ImageMethod: Uncalibrated}, Created: time.Now().UTC().Format(time.RFC3339), Tool: Tool}, nil
}
