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

// Map returns the anomaly map of a gh x gw patch-score grid at size h x w
// with DefaultOptions, except for the given sigma: bilinear upsampling
// followed by a Gaussian blur with reflect padding (sigma 4 in PatchCore and
// anomalib; 0 disables the blur).
func Map(grid []float32, gh, gw, h, w int, sigma float64) []float32 {
	opt := DefaultOptions()
	opt.Sigma = sigma
	return NewGenerator(h, w, opt).Map(nil, grid, gh, gw)
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

// NewGenerator returns a Generator of h x w maps made with opt. It panics on
// a non-positive size or invalid options.
func NewGenerator(h, w int, opt Options) *Generator {
	if h <= 0 || w <= 0 || (opt.Interp != Bilinear && opt.Interp != Nearest) {
		panic(fmt.Sprintf("anomalymap.NewGenerator: size %dx%d, interpolation %v", h, w, opt.Interp))
	}
	return &Generator{h: h, w: w, opt: opt, blur: NewBlurBorder(opt.Sigma, opt.Border)}
}

// Size returns the height and width of the maps.
func (g *Generator) Size() (h, w int) { return g.h, g.w }

// Options returns the options the Generator was made with.
func (g *Generator) Options() Options { return g.opt }

// Map writes the anomaly map of the gh x gw grid to dst (reallocated if its
// capacity is below h*w) and returns it. dst must not overlap grid.
func (g *Generator) Map(dst, grid []float32, gh, gw int) []float32 {
	switch g.opt.Interp {
	case Nearest:
		g.up = ResizeNearest(g.up, grid, gh, gw, g.h, g.w)
	default:
		g.up = ResizeBilinear(g.up, grid, gh, gw, g.h, g.w)
	}
	if len(g.blur.kernel) == 1 {
		return append(grow(dst, 0), g.up...)
	}
	return g.blur.Apply(dst, g.up, g.h, g.w)
}
