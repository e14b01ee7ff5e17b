package detector

import (
	"fmt"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/tile"
)

// This file holds what a tiled model (Detector.Tiling set, package tile)
// does differently from a squashed one: the image is scaled keeping its
// aspect ratio and cut into overlapping square tiles, each a backbone input;
// one model scores the patches of every tile; a tiled image's patch-score
// grid is the tiles' grids stacked top to bottom (tile t in rows t*gh to
// (t+1)*gh-1), so that the per-position normalisation is per tile and grid
// position; and the tiles' maps are stitched into one map of the scaled
// image, the model's input space.

// TilePreprocess is the preprocessing of a tiled model with tile side size
// on the named backbone: the backbone's normalisation, no resize or crop
// (the tiling scales the image).
func TilePreprocess(backboneName string, size int) (preprocess.Params, error) {
	info, err := backbone.Lookup(backboneName)
	if err != nil {
		return preprocess.Params{}, err
	}
	p := info.Preprocess
	p.Resize, p.Crop = 0, size
	return p, p.Validate()
}

// SetTiling makes e cut every image into the tiles of s, which must be
// laid out for an image size (nil: squash images as e.Preprocess says).
// The tile side must be e.Preprocess.Crop, the backbone's input side.
func (e *Extractor) SetTiling(s *tile.Spec) error {
	if s == nil {
		e.tiling, e.layout = nil, nil
		return nil
	}
	if s.Size != e.Preprocess.Crop {
		return fmt.Errorf("tiling: tile side %d is not the input side %d", s.Size, e.Preprocess.Crop)
	}
	l, err := s.Layout()
	if err != nil {
		return err
	}
	e.tiling, e.layout = s, &l
	return nil
}

// tiles is the number of backbone inputs per image: 1 without tiling.
func (e *Extractor) tiles() int {
	if e.layout == nil {
		return 1
	}
	return e.layout.Tiles()
}

// imagesPerBatch is the number of images per backbone call, so that a
// call holds about Batch inputs (tiles).
func (e *Extractor) imagesPerBatch() int {
	b := e.Batch
	if b <= 0 {
		b = DefaultBatch
	}
	return max(1, (b+e.tiles()-1)/e.tiles())
}

// fits reports an image that a tiled extractor cannot take: every image
// must have the size the tiles are laid out for. name says which image.
func (e *Extractor) fits(img *dataset.RGB, name string) error {
	if e.tiling == nil || img == nil || img.W == e.tiling.ImageW && img.H == e.tiling.ImageH {
		return nil
	}
	return fmt.Errorf("%s: image is %d x %d, but the model's tiles are laid out for %d x %d images (a tiled model takes images of its training images' size only)",
		name, img.W, img.H, e.tiling.ImageW, e.tiling.ImageH)
}

// input writes the backbone inputs of img, its tiles or its squashed crop,
// into dst (tiles() times 3 x Crop x Crop values).
func (e *Extractor) input(img *dataset.RGB, dst []float32) {
	if e.layout == nil {
		preprocess.Image(img, e.Preprocess, dst)
		return
	}
	l, c := e.layout, e.Preprocess.Crop
	for t := range l.Tiles() {
		x0, y0 := l.Origin(t)
		preprocess.Tile(img, l.W, l.H, x0, y0, c, e.Preprocess, dst[t*3*c*c:(t+1)*3*c*c])
	}
}

// imageTiles returns the features of image k of a batch with n tiles per
// image: an n x d x gh x gw view of f.
func imageTiles(f *nn.Tensor, k, n int) *nn.Tensor {
	s := f.C * f.H * f.W
	return &nn.Tensor{N: n, C: f.C, H: f.H, W: f.W, Data: f.Data[k*n*s : (k+1)*n*s : (k+1)*n*s]}
}

// scoreTiles scores the patches of every tile of it (the tiles' Features,
// or their pooled layers in a layered run, which needs m to be a
// LayeredScorer) with m into one grid of gh = tiles * (the tile grid's
// height) rows of gw, the tiles stacked in order.
func scoreTiles(m Method, it *Item) (grid []float32, gh, gw int) {
	if it.layers != nil {
		ls, g := m.(LayeredScorer), it.layers[0]
		p := g.H * g.W
		grid = make([]float32, g.N*p)
		tile := make([]*nn.NHWC, len(it.layers))
		for t := 0; t < g.N; t++ {
			for l, f := range it.layers {
				tile[l] = f.Image(t)
			}
			ls.ScoreLayers(tile, grid[t*p:(t+1)*p])
		}
		return grid, g.N * g.H, g.W
	}
	f := it.Features
	p, s := f.H*f.W, f.C*f.H*f.W
	grid = make([]float32, f.N*p)
	for t := 0; t < f.N; t++ {
		m.Score(f.Data[t*s:(t+1)*s], p, grid[t*p:(t+1)*p])
	}
	return grid, f.N * f.H, f.W
}

// layout is the tile layout of a tiled detector, nil for a squashed one.
func (d *Detector) layout() *tile.Layout {
	if d.Tiling == nil {
		return nil
	}
	l, err := d.Tiling.Layout()
	if err != nil { // Decode and Train checked it
		panic(err)
	}
	return &l
}

// InputSize is the size of the detector's input space, where Result.Map
// lies and evaluation measures pixels: the Crop x Crop square, or the
// scaled image of a tiled model.
func (d *Detector) InputSize() (w, h int) {
	if l := d.layout(); l != nil {
		return l.W, l.H
	}
	return d.Preprocess.Crop, d.Preprocess.Crop
}

// InputMask brings a defect mask of an original image into the input space
// (nearest neighbour, as for the images).
func (d *Detector) InputMask(m *dataset.Mask) []bool {
	if l := d.layout(); l != nil {
		return preprocess.MaskResized(m, l.W, l.H).Pix
	}
	return preprocess.Mask(m, d.Preprocess).Pix
}

// InputImage returns img as the network saw it, in the input space: resized
// and cropped, or scaled for tiling, with values in [0, 1] (not normalised).
func (d *Detector) InputImage(img *dataset.RGB) *dataset.RGB {
	raw := d.Preprocess
	raw.Mean, raw.Std = [3]float64{}, [3]float64{1, 1, 1}
	w, h := d.InputSize()
	out := dataset.NewRGB(w, h)
	if d.Tiling != nil {
		preprocess.Resized(img, w, h, raw, out.Pix)
		return out
	}
	preprocess.Image(img, raw, out.Pix)
	return out
}

// anomalyMap is the anomaly map of a gh x gw grid (stacked tile grids for
// a tiled model): the grid upsampled and blurred to the input side, tile by
// tile and stitched (averaged where tiles overlap) when tiled.
func (d *Detector) anomalyMap(grid anomalymap.Map) anomalymap.Map {
	c := d.Preprocess.Crop
	l := d.layout()
	if l == nil {
		return anomalymap.FromGrid(grid, c, c, Sigma)
	}
	n := l.Tiles()
	gh, p := grid.H/n, grid.H/n*grid.W
	maps := make([]anomalymap.Map, n)
	for t := range maps {
		maps[t] = anomalymap.FromGrid(anomalymap.Map{Pix: grid.Pix[t*p : (t+1)*p], W: grid.W, H: gh}, c, c, Sigma)
	}
	return l.Stitch(maps)
}

// newTrainExtractor loads the backbone for training with opts: squashed
// as opts.Preprocess says, or tiled as opts.Tiling says, laid out for the
// size of the first readable training image when the spec has none.
func newTrainExtractor(paths []string, opts *TrainOptions) (*Extractor, error) {
	pre := opts.Preprocess
	var spec *tile.Spec
	if opts.Tiling != nil {
		s := *opts.Tiling
		var err error
		if pre, err = TilePreprocess(opts.Backbone, s.Size); err != nil {
			return nil, err
		}
		if s.ImageW == 0 {
			if s, err = specForFirst(paths, s, opts); err != nil {
				return nil, err
			}
		}
		spec = &s
	}
	ext, err := NewExtractor(opts.Backbone, pre)
	if err != nil {
		return nil, err
	}
	if err := ext.SetTiling(spec); err != nil {
		return nil, err
	}
	if err := ext.SetPrecision(opts.Precision); err != nil {
		return nil, err
	}
	ext.Limits = opts.Limits
	return ext, nil
}

// specForFirst lays s out for the size of the first readable image of
// paths (unreadable ones are skipped with a warning under SkipBad).
func specForFirst(paths []string, s tile.Spec, opts *TrainOptions) (tile.Spec, error) {
	for _, p := range paths {
		img, err := opts.Limits.LoadImage(p)
		if err != nil {
			if opts.SkipBad {
				continue // Run warns about it
			}
			return s, err
		}
		out, err := s.ForImage(img.W, img.H)
		if err != nil {
			return s, fmt.Errorf("%s: %w", p, err)
		}
		return out, nil
	}
	return s, fmt.Errorf("train: no readable training images")
}

// InputSummary describes how images become backbone inputs, for crd info
// and reports: "resize 342, crop 299", or for a tiled model "565 x 230
// images scaled to 734 x 299, 3 tiles of 299 x 299 (tile 299:32, scale
// auto)".
func (d *Detector) InputSummary() string {
	l := d.layout()
	if l == nil {
		return fmt.Sprintf("resize %d, crop %d", d.Preprocess.Resize, d.Preprocess.Crop)
	}
	s := d.Tiling
	return fmt.Sprintf("%d x %d images scaled to %d x %d, %d tiles of %d x %d (tile %d:%d, scale %s)",
		s.ImageW, s.ImageH, l.W, l.H, l.Tiles(), l.Size, l.Size, s.Size, s.Overlap, s.ScaleName())
}
