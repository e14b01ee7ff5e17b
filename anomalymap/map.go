package anomalymap

import "fmt"

// Interpolation selects how a patch-score grid is brought to the image size.
type Interpolation int

const (
	// Bilinear is F.interpolate(mode="bilinear", align_corners=False), as in
	// the PatchCore paper's code and docs/method.md.
	Bilinear Interpolation = iota
	// Nearest is F.interpolate(mode="nearest"), the default mode that
	// anomalib's PatchCore AnomalyMapGenerator uses.
	Nearest
)

// String returns "bilinear" or "nearest".
func (i Interpolation) String() string {
	switch i {
	case Bilinear:
		return "bilinear"
	case Nearest:
		return "nearest"
	}
	return fmt.Sprintf("Interpolation(%d)", int(i))
}

// Options say how a patch-score grid becomes an anomaly map.
type Options struct {
	// Sigma is the standard deviation of the Gaussian blur in pixels of the
	// map; 0 disables the blur.
	Sigma float64
	// Interp is the resizing of the grid to the map size.
	Interp Interpolation
	// Border is the blur's padding.
	Border Border
}

// DefaultOptions returns the convention of docs/method.md: bilinear
// upsampling, then a Gaussian blur with sigma 4 and PyTorch reflect padding.
// (anomalib's PatchCore upsamples with Nearest instead; the PatchCore paper's
// code blurs with Symmetric borders.)
func DefaultOptions() Options {
	return Options{Sigma: 4, Interp: Bilinear, Border: Reflect}
}

// Map is a single-channel float32 image, row-major: the value at column x
// and row y is Pix[y*W+x]. Patch-score grids and anomaly maps are Maps.
type Map struct {
	Pix  []float32
	W, H int
}

// NewMap returns a zeroed w x h map.
func NewMap(w, h int) Map { return Map{Pix: make([]float32, w*h), W: w, H: h} }

// At returns the value at column x and row y.
func (m Map) At(x, y int) float32 { return m.Pix[y*m.W+x] }

// FromGrid returns the w x h anomaly map of a patch-score grid with
// DefaultOptions, except for the given sigma: bilinear upsampling followed by
// a Gaussian blur with reflect padding (sigma 4 in PatchCore and anomalib; 0
// disables the blur).
func FromGrid(grid Map, w, h int, sigma float64) Map {
	opt := DefaultOptions()
	opt.Sigma = sigma
	return NewGenerator(w, h, opt).Map(nil, grid)
}

// Generator makes anomaly maps of a fixed size from patch-score grids, reusing
// its buffers between calls. It is not safe for concurrent use; use one per
// goroutine.
type Generator struct {
	h, w int
	opt  Options
	blur *Blur
	up   []float32
}

// NewGenerator returns a Generator of w x h maps made with opt. It panics on
// a non-positive size or invalid options.
func NewGenerator(w, h int, opt Options) *Generator {
	if h <= 0 || w <= 0 || (opt.Interp != Bilinear && opt.Interp != Nearest) {
		panic(fmt.Sprintf("anomalymap.NewGenerator: size %dx%d, interpolation %v", w, h, opt.Interp))
	}
	return &Generator{h: h, w: w, opt: opt, blur: NewBlurBorder(opt.Sigma, opt.Border)}
}

// Size returns the width and height of the maps.
func (g *Generator) Size() (w, h int) { return g.w, g.h }

// Options returns the options the Generator was made with.
func (g *Generator) Options() Options { return g.opt }

// Map returns the anomaly map of the patch-score grid, its values written to
// dst (reallocated if its capacity is below w*h). dst must not overlap
// grid.Pix.
func (g *Generator) Map(dst []float32, grid Map) Map {
	var up Map
	switch g.opt.Interp {
	case Nearest:
		up = ResizeNearest(g.up, grid, g.w, g.h)
	default:
		up = ResizeBilinear(g.up, grid, g.w, g.h)
	}
	g.up = up.Pix
	if len(g.blur.kernel) == 1 {
		return Map{Pix: append(grow(dst, 0), g.up...), W: g.w, H: g.h}
	}
	return g.blur.Apply(dst, up)
}
