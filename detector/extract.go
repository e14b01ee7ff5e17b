package detector

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/patchfeat"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/tile"
)

// DefaultBatch is the default number of images per backbone call. One image
// a call made the trunk fastest on the CPUs crd was measured on: its
// activations then stay in the caches (inception_v3 ran 1.2-1.35x faster a
// image at batch 1 than at 8 on 2 cores), and the extractor's pipeline keeps
// the cores busy with the decoding and the scoring around it. One exception
// was measured: `crd predict --out`, whose heat-map writer shares the
// cores, ran 1.13-1.17x faster at batch 8, which it therefore uses
// (Detector.Batch; docs/profile.md).
const DefaultBatch = 1

// Extractor computes patch features: decode, preprocess, backbone, then the
// local aggregation of package patchfeat.
// It runs as a pipeline of three stages: images are decoded and
// preprocessed on all cores while the backbone runs the previous batch,
// and the backbone runs while the caller consumes the batch before (scores,
// maps, output), so memory stays bounded by a few batches whatever the
// number of images. Its methods may be called concurrently (the backbone
// runs one batch at a time); its fields must not change meanwhile.
type Extractor struct {
	Net        backbone.Backbone
	Preprocess preprocess.Params
	// Batch is the number of images per backbone call (0: DefaultBatch).
	Batch int
	// SkipBad makes unreadable images a warning (through Warn) instead of
	// an error.
	SkipBad bool
	Warn    func(err error)
	// Limits bounds the image files read (the zero value: dataset's
	// defaults).
	Limits dataset.Limits

	// tiling and layout, when set (SetTiling), cut every image into tiles.
	tiling *tile.Spec
	layout *tile.Layout

	// net serialises the backbone, which is not safe for concurrent use,
	// and embed, which pools its NHWC layers (backbone.NHWCForwarder).
	net   sync.Mutex
	embed patchfeat.Embedder
	// feats recycles patch-feature tensors between batches, and pooled
	// the pooled layers (*[]*nn.NHWC) of layered runs.
	feats, pooled sync.Pool
	// inputs recycles input batches once the backbone is done with them.
	inputs sync.Pool
}

// Item is one image's result from Extractor.Run.
type Item struct {
	// Index is the image's position in the paths given to Run.
	Index int
	Path  string
	// Image is the decoded original image.
	Image *dataset.RGB
	// Features is the T x d x gh x gw patch-feature tensor of the image's
	// T tiles (T = 1 without tiling): tile t read as a matrix is d x P with
	// P = gh*gw. It is only valid during the callback. It is nil in the
	// detector's layered runs, which give layers instead.
	Features *nn.Tensor

	// layers are, in a layered run (for a LayeredScorer), the image's
	// feature layers pooled at their own sizes instead of Features: layer
	// l is T x H_l x W_l x C_l (NHWC), layer 0 on the grid. Only valid
	// during the callback.
	layers []*nn.NHWC
}

// batchFeatures are one backbone batch's patch features: the concatenated
// N x d x gh x gw tensor (feats) or, in a layered run, the layers pooled
// at their own sizes (layers, each N x H_l x W_l x C_l).
type batchFeatures struct {
	feats  *nn.Tensor
	layers []*nn.NHWC
}

type loaded struct {
	idx  []int
	imgs []*dataset.RGB
	x    *nn.Tensor
	err  error
}

// badImages says what to do with images that cannot be read.
type badImages struct {
	skip bool
	warn func(error)
}

// NewExtractor loads the named backbone with its default preprocessing, or
// with pre when pre.Crop is set.
func NewExtractor(name string, pre preprocess.Params) (*Extractor, error) {
	info, err := backbone.Lookup(name)
	if err != nil {
		return nil, err
	}
	if pre.Crop == 0 {
		pre = info.Preprocess
	}
	if err := pre.Validate(); err != nil {
		return nil, err
	}
	if pre.Crop < info.MinInput {
		return nil, fmt.Errorf("input size %d is smaller than %s allows (%d)", pre.Crop, name, info.MinInput)
	}
	net, err := backbone.Load(name)
	if err != nil {
		return nil, err
	}
	return &Extractor{Net: net, Preprocess: pre, Batch: DefaultBatch}, nil
}

// Run extracts the features of paths in order and calls fn once per image,
// from the calling goroutine. It stops at the first error from fn, or from
// an image unless SkipBad is set, or when ctx is done (returning ctx's
// error; the batch in flight finishes first).
func (e *Extractor) Run(ctx context.Context, paths []string, fn func(it *Item) error) error {
	return e.run(ctx, paths, badImages{e.SkipBad, e.Warn}, false, eachItem(fn))
}

// eachItem turns a per-image callback into a per-batch one.
func eachItem(fn func(it *Item) error) func([]*Item, *nn.Tensor) error {
	return func(items []*Item, _ *nn.Tensor) error {
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
		return nil
	}
}

// RunBatches is Run one backbone batch at a time: fn gets the batch's items
// and their features as one N x d x gh x gw tensor (item k is images k*T to
// k*T+T-1 for T tiles per image), for
// consumers that are faster on whole batches, such as the Gram update. The
// tensor is only valid during the call: its memory is reused for the next
// batch.
func (e *Extractor) RunBatches(ctx context.Context, paths []string, fn func(items []*Item, feats *nn.Tensor) error) error {
	return e.run(ctx, paths, badImages{e.SkipBad, e.Warn}, false, fn)
}

// run is RunBatches with the bad-image policy given per call, so that
// concurrent callers of a shared Extractor need not change its fields.
// With layered, the items hold their pooled layers instead of Features
// and fn gets nil features.
func (e *Extractor) run(ctx context.Context, paths []string, bad badImages, layered bool, fn func(items []*Item, feats *nn.Tensor) error) error {
	batch := e.imagesPerBatch()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// On return, stop both stages and wait for the trunk stage, so that
	// nothing of this run works on after it.
	defer func() { close(stop); wg.Wait() }()
	ch := make(chan loaded, 1)
	go InStage(ctx, StageDecode, func() {
		defer close(ch)
		for start := 0; start < len(paths); start += batch {
			if ctx.Err() != nil {
				return
			}
			l := e.load(paths, start, min(start+batch, len(paths)), bad)
			select {
			case ch <- l:
			case <-stop:
				return
			}
			if l.err != nil {
				return
			}
		}
	})
	fed := make(chan trunked)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(fed)
		e.trunkStage(ctx, ch, stop, fed, layered)
	}()
	for t := range fed {
		if t.panicked != nil {
			panic(t.panicked)
		}
		if t.err != nil {
			return t.err
		}
		if err := ctx.Err(); err != nil {
			e.recycle(t.bf)
			return err
		}
		items := make([]*Item, len(t.idx))
		for k, i := range t.idx {
			items[k] = t.bf.item(k, e.tiles())
			items[k].Index, items[k].Path, items[k].Image = i, paths[i], t.imgs[k]
		}
		err := fn(items, t.bf.feats)
		e.recycle(t.bf)
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// trunked is one batch through the backbone and the embedding, handed
// from run's trunk stage to its caller: the loaded images and their
// features, or the error (or panic value) that ended the stage.
type trunked struct {
	idx      []int
	imgs     []*dataset.RGB
	bf       batchFeatures
	err      error
	panicked any
}

// trunkStage is run's middle stage: it runs the backbone and the embedding
// on each loaded batch from in and sends the features to out, so that the
// backbone works on batch i+1 while run's caller consumes batch i. It ends
// at the first error or when stop is closed; a panic is sent on to the
// caller's goroutine, where it is raised again.
func (e *Extractor) trunkStage(ctx context.Context, in <-chan loaded, stop <-chan struct{}, out chan<- trunked, layered bool) {
	send := func(t trunked) bool {
		select {
		case out <- t:
			return true
		case <-stop:
			e.recycle(t.bf)
			return false
		}
	}
	defer func() {
		if r := recover(); r != nil {
			send(trunked{panicked: r})
		}
	}()
	for l := range in {
		if ctx.Err() != nil {
			return
		}
		if l.err != nil {
			send(trunked{err: l.err})
			return
		}
		if len(l.idx) == 0 {
			continue
		}
		bf, err := e.features(l.x, layered)
		if err != nil {
			send(trunked{err: err})
			return
		}
		if !send(trunked{idx: l.idx, imgs: l.imgs, bf: bf}) {
			return
		}
	}
}

// features runs the backbone and the patch embedding on one input batch,
// and then recycles x for prepare: the caller must not use x afterwards.
// The embedding is patchfeat's concatenated features, or with layered only
// its pooling (patchfeat.PooledInto, NHWC maps); a backbone.NHWCForwarder's
// layers are pooled as they are, in NHWC (patchfeat.Embedder: the same
// values). The result does not share memory with the backbone's buffers;
// it may be recycled tensors, which the caller hands back with recycle
// when done.
func (e *Extractor) features(x *nn.Tensor, layered bool) (batchFeatures, error) {
	e.net.Lock()
	defer e.net.Unlock()
	var outs []*nn.Tensor
	var nhwc []*nn.NHWC
	var err error
	InStage(context.Background(), StageTrunk, func() {
		if f, ok := e.Net.(backbone.NHWCForwarder); ok {
			nhwc, err = f.ForwardNHWC(x)
		} else {
			outs, err = e.Net.Forward(x)
		}
	})
	e.inputs.Put(x)
	if err != nil {
		return batchFeatures{}, fmt.Errorf("backbone: %w", err)
	}
	var bf batchFeatures
	if layered {
		var ls []*nn.NHWC
		if p, ok := e.pooled.Get().(*[]*nn.NHWC); ok {
			ls = *p
		}
		bf.layers, err = embedStage(ls, nhwc, outs, e.embed.PooledInto, patchfeat.PooledInto)
		return bf, err
	}
	f, _ := e.feats.Get().(*nn.Tensor)
	bf.feats, err = embedStage(f, nhwc, outs, e.embed.FeaturesInto, patchfeat.FeaturesInto)
	return bf, err
}

// embedStage runs one embedding of the backbone's layers into dst, in
// StageEmbed: fromNHWC on the layers of a backbone.NHWCForwarder (nhwc
// not nil), fromNCHW on those of Forward (outs) otherwise.
func embedStage[T any](dst T, nhwc []*nn.NHWC, outs []*nn.Tensor,
	fromNHWC func(T, []*nn.NHWC) (T, error), fromNCHW func(T, []*nn.Tensor) (T, error)) (T, error) {
	var r T
	var err error
	InStage(context.Background(), StageEmbed, func() {
		if nhwc != nil {
			r, err = fromNHWC(dst, nhwc)
		} else {
			r, err = fromNCHW(dst, outs)
		}
	})
	return r, err
}

// recycle hands bf's tensors back for the next batch's features.
func (e *Extractor) recycle(bf batchFeatures) {
	if bf.feats != nil {
		e.feats.Put(bf.feats)
	}
	if bf.layers != nil {
		e.pooled.Put(&bf.layers)
	}
}

// item is image k's features in bf, for t tiles per image: an Item with
// Features or layers set (views of bf).
func (bf batchFeatures) item(k, t int) *Item {
	if bf.layers == nil {
		return &Item{Features: imageTiles(bf.feats, k, t)}
	}
	it := &Item{layers: make([]*nn.NHWC, len(bf.layers))}
	for l, f := range bf.layers {
		s := f.H * f.W * f.C
		it.layers[l] = &nn.NHWC{N: t, H: f.H, W: f.W, C: f.C, Data: f.Data[k*t*s : (k+1)*t*s : (k+1)*t*s]}
	}
	return it
}

// load decodes and preprocesses paths[from:to] in parallel into one batch.
func (e *Extractor) load(paths []string, from, to int, bad badImages) loaded {
	imgs, errs, x := e.prepare(to-from, func(k int) (*dataset.RGB, error) {
		img, err := e.Limits.LoadImage(paths[from+k])
		if err == nil {
			err = e.fits(img, paths[from+k])
		}
		return img, err
	})
	s := e.tiles() * 3 * e.Preprocess.Crop * e.Preprocess.Crop // values per image
	l := loaded{x: x}
	kept := 0
	for k := range imgs {
		if errs[k] != nil {
			if !bad.skip {
				return loaded{err: errs[k]}
			}
			if bad.warn != nil {
				bad.warn(errs[k])
			}
			continue
		}
		if kept != k {
			copy(x.Data[kept*s:(kept+1)*s], x.Data[k*s:(k+1)*s])
		}
		l.idx = append(l.idx, from+k)
		l.imgs = append(l.imgs, imgs[k])
		kept++
	}
	x.N = kept * e.tiles()
	x.Data = x.Data[:kept*s]
	return l
}

// prepare gets n images (get(k) for k < n) and preprocesses them into one
// nT x 3 x Crop x Crop input batch (T tiles per image, 1 without tiling;
// image k's are inputs k*T to k*T+T-1), on all cores. Image k's slot is left
// zero when get fails; errs[k] says why.
func (e *Extractor) prepare(n int, get func(k int) (*dataset.RGB, error)) (imgs []*dataset.RGB, errs []error, x *nn.Tensor) {
	c, t := e.Preprocess.Crop, e.tiles()
	imgs = make([]*dataset.RGB, n)
	errs = make([]error, n)
	x = e.inputBatch(n*t, c)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for k := 0; k < n; k++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(k int) {
			defer func() { <-sem; wg.Done() }()
			img, err := get(k)
			if err != nil {
				errs[k] = err
				clear(x.Data[k*3*c*c : (k+1)*3*c*c])
				return
			}
			imgs[k] = img
			e.input(img, x.Data[k*t*3*c*c:(k+1)*t*3*c*c])
		}(k)
	}
	wg.Wait()
	return imgs, errs, x
}

// inputBatch returns an n x 3 x c x c tensor for prepare to fill: one that
// features recycled when it is large enough (its values are stale), a new
// one otherwise.
func (e *Extractor) inputBatch(n, c int) *nn.Tensor {
	if x, ok := e.inputs.Get().(*nn.Tensor); ok && cap(x.Data) >= n*3*c*c {
		x.N, x.C, x.H, x.W = n, 3, c, c
		x.Data = x.Data[:n*3*c*c]
		return x
	}
	return nn.NewTensor(n, 3, c, c)
}
