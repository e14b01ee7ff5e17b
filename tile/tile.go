// Package tile lays square tiles over an image and stitches per-tile maps
// back together: crd's aspect-preserving input mode. The image is first
// scaled as a whole (keeping its aspect ratio), overlapping Size x Size
// tiles then cover the scaled image exactly, each tile goes through the
// backbone at its input size, and the tiles' anomaly maps are averaged where
// they overlap into one map of the scaled image.
//
// All images a model sees share one size (the size of its training
// images), so the layout of a model is fixed: a Spec records the tiling
// and that size, and Layout computes the tiles.
package tile

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/crd-ad/crd/anomalymap"
)

// Limits on a layout: beyond them one image would take minutes in the
// backbone, and a model header asking for more is malformed.
const (
	// MaxTiles is the most tiles one image may be cut into.
	MaxTiles = 256
	// MaxSide is the longest side of a scaled image.
	MaxSide = 16384
)

// Spec is a tiling as a model file stores it (the header's "tiling"
// member): the tile side and least overlap, the scale applied to the image
// before tiling, and the image size the layout is for.
type Spec struct {
	// Size is the side of a tile in pixels of the scaled image: the
	// backbone's input side.
	Size int `json:"size"`
	// Overlap is the least overlap of neighbouring tiles in pixels; tiles
	// are spread evenly, so they may overlap more.
	Overlap int `json:"overlap"`
	// Scale multiplies the image's width and height before tiling; 0 (auto)
	// scales the short side to Size.
	Scale float64 `json:"scale"`
	// ImageW and ImageH are the size of the original images the layout is
	// for (training fixes them from its first image; 0 before that).
	ImageW int `json:"image_w"`
	ImageH int `json:"image_h"`
}

// Parse reads the --tile and --scale flag values: "SIZE" or
// "SIZE:OVERLAP", and "auto" (or "") or a positive factor.
func Parse(tileFlag, scaleFlag string) (Spec, error) {
	var s Spec
	size, overlap, hasOverlap := strings.Cut(tileFlag, ":")
	var err error
	if s.Size, err = strconv.Atoi(size); err != nil {
		return s, fmt.Errorf("tile %q: want SIZE or SIZE:OVERLAP in pixels", tileFlag)
	}
	if hasOverlap {
		if s.Overlap, err = strconv.Atoi(overlap); err != nil {
			return s, fmt.Errorf("tile %q: want SIZE or SIZE:OVERLAP in pixels", tileFlag)
		}
	}
	if scaleFlag != "" && scaleFlag != "auto" {
		if s.Scale, err = strconv.ParseFloat(scaleFlag, 64); err != nil || !(s.Scale > 0) || math.IsInf(s.Scale, 0) {
			return s, fmt.Errorf("scale %q: want auto or a positive factor", scaleFlag)
		}
	}
	return s, s.validate()
}

// String writes the spec as the flags read it, with the image size when
// set, for example "tile 299:32, scale auto, 565 x 230 images".
func (s Spec) String() string {
	out := fmt.Sprintf("tile %d:%d, scale %s", s.Size, s.Overlap, s.ScaleName())
	if s.ImageW > 0 {
		out += fmt.Sprintf(", %d x %d images", s.ImageW, s.ImageH)
	}
	return out
}

// validate checks the tiling without the image size.
func (s Spec) validate() error {
	if s.Size <= 0 || s.Overlap < 0 || s.Overlap >= s.Size {
		return fmt.Errorf("tile %d:%d: want a positive size and an overlap from 0 to size-1", s.Size, s.Overlap)
	}
	if s.Scale < 0 || s.Scale > MaxSide || math.IsNaN(s.Scale) {
		return fmt.Errorf("tile scale %g: want 0 (auto) or a positive factor", s.Scale)
	}
	return nil
}

// ForImage returns s laid out for w x h images, checking that the layout
// exists (see Layout).
func (s Spec) ForImage(w, h int) (Spec, error) {
	s.ImageW, s.ImageH = w, h
	_, err := s.Layout()
	return s, err
}

// Layout is the fixed tiling of one image size: the scaled image is W x H,
// and tile t (row-major, t = iy*len(X) + ix) covers columns X[ix] to
// X[ix]+Size-1 and rows Y[iy] to Y[iy]+Size-1.
type Layout struct {
	W, H, Size int
	X, Y       []int
}

// Layout computes the tiles of s for its image size. The scaled size is
// the image size times Scale rounded to whole pixels (auto: the short side
// becomes Size exactly); both sides must be at least Size.
func (s Spec) Layout() (Layout, error) {
	if err := s.validate(); err != nil {
		return Layout{}, err
	}
	if s.ImageW <= 0 || s.ImageH <= 0 || s.ImageW > MaxSide || s.ImageH > MaxSide {
		return Layout{}, fmt.Errorf("tiling: image size %d x %d is not from 1 to %d", s.ImageW, s.ImageH, MaxSide)
	}
	w, h := s.scaled()
	if w < s.Size || h < s.Size {
		return Layout{}, fmt.Errorf("tiling: %d x %d images scaled by %s are %d x %d, smaller than one %d x %d tile (raise the scale or lower the tile size)",
			s.ImageW, s.ImageH, s.ScaleName(), w, h, s.Size, s.Size)
	}
	if w > MaxSide || h > MaxSide {
		return Layout{}, fmt.Errorf("tiling: %d x %d images scaled by %s are %d x %d, more than %d pixels a side", s.ImageW, s.ImageH, s.ScaleName(), w, h, MaxSide)
	}
	l := Layout{W: w, H: h, Size: s.Size, X: Axis(w, s.Size, s.Overlap), Y: Axis(h, s.Size, s.Overlap)}
	if n := l.Tiles(); n > MaxTiles {
		return Layout{}, fmt.Errorf("tiling: %d x %d images scaled by %s need %d tiles of %d, more than %d (lower the scale or raise the tile size)",
			s.ImageW, s.ImageH, s.ScaleName(), n, s.Size, MaxTiles)
	}
	return l, nil
}

// scaled is the image size after scaling.
func (s Spec) scaled() (w, h int) {
	f := s.Scale
	if f == 0 {
		f = float64(s.Size) / float64(min(s.ImageW, s.ImageH))
	}
	w, h = int(math.Round(f*float64(s.ImageW))), int(math.Round(f*float64(s.ImageH)))
	if s.Scale == 0 { // exact short side, whatever the rounding
		if s.ImageW <= s.ImageH {
			w = s.Size
		} else {
			h = s.Size
		}
	}
	return w, h
}

// ScaleName is the scale as --scale reads it: "auto" or the factor.
func (s Spec) ScaleName() string {
	if s.Scale == 0 {
		return "auto"
	}
	return strconv.FormatFloat(s.Scale, 'g', -1, 64)
}

// Axis returns the start offsets of the tiles along a side of n pixels:
// the fewest tiles of size pixels whose neighbours overlap by at least
// overlap pixels, spread evenly from 0 to n-size so that they cover the
// side exactly. It needs size <= n and 0 <= overlap < size.
func Axis(n, size, overlap int) []int {
	if n <= size {
		return []int{0}
	}
	k := 1 + (n-size+size-overlap-1)/(size-overlap) // ceil((n-size)/(size-overlap)) steps
	out := make([]int, k)
	for i := range out {
		out[i] = int(math.Round(float64(i) * float64(n-size) / float64(k-1)))
	}
	return out
}

// Tiles is the number of tiles.
func (l Layout) Tiles() int { return len(l.X) * len(l.Y) }

// Origin returns the top-left pixel of tile t in the scaled image.
func (l Layout) Origin(t int) (x, y int) { return l.X[t%len(l.X)], l.Y[t/len(l.X)] }

// Stitch averages the Size x Size maps of the tiles (in tile order) into
// one W x H map of the scaled image: each pixel is the mean of the tiles
// that cover it. A tile's map is least reliable near its border (the
// backbone pads there, and the blur reflects), so the mean of the views
// is used rather than their maximum, which would keep every tile's border
// artefacts; the image score, the maximum of the patch grids, still sees
// each tile's strongest patch. Maps of another count or size panic.
func (l Layout) Stitch(maps []anomalymap.Map) anomalymap.Map {
	if len(maps) != l.Tiles() {
		panic(fmt.Sprintf("tile: Stitch got %d maps for %d tiles", len(maps), l.Tiles()))
	}
	out := anomalymap.NewMap(l.W, l.H)
	cover := make([]float32, l.W*l.H)
	s := l.Size
	for t, m := range maps {
		if m.W != s || m.H != s || len(m.Pix) != s*s {
			panic(fmt.Sprintf("tile: Stitch got a %d x %d map for a %d x %d tile", m.W, m.H, s, s))
		}
		x0, y0 := l.Origin(t)
		for y := 0; y < s; y++ {
			row := out.Pix[(y0+y)*l.W+x0 : (y0+y)*l.W+x0+s]
			cov := cover[(y0+y)*l.W+x0 : (y0+y)*l.W+x0+s]
			for x, v := range m.Pix[y*s : (y+1)*s] {
				row[x] += v
				cov[x]++
			}
		}
	}
	for i, c := range cover {
		out.Pix[i] /= c
	}
	return out
}
