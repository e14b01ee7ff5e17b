package anomalymap

import "fmt"

// Interpolation selects how a patch-score grid is brought to the image size.
type Interpolation int

const (
	// Bilinear is F.interpolate(mode="bilinear", align_corners=False), as in
	// the PatchCore paper's code and METHOD.md.
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

// Map returns the anomaly map of a gh x gw patch-score grid at size h x w:
// bilinear upsampling followed by a Gaussian blur of the given sigma (4 in
// PatchCore and anomalib; 0 disables the blur).
func Map(grid []float32, gh, gw, h, w int, sigma float64) []float32 {
	return NewGenerator(h, w, sigma, Bilinear).Map(nil, grid, gh, gw)
}

// Generator makes anomaly maps of a fixed size from patch-score grids, reusing
// its buffers between calls. It is not safe for concurrent use.
type Generator struct {
	h, w   int
	interp Interpolation
	blur   *Blur
	up     []float32
}

// NewGenerator returns a Generator of h x w maps that resizes grids with
// interp and blurs them with a Gaussian of the given sigma (0: no blur).
func NewGenerator(h, w int, sigma float64, interp Interpolation) *Generator {
	if h <= 0 || w <= 0 || (interp != Bilinear && interp != Nearest) {
		panic(fmt.Sprintf("anomalymap.NewGenerator: size %dx%d, interpolation %v", h, w, interp))
	}
	return &Generator{h: h, w: w, interp: interp, blur: NewBlur(sigma)}
}

// Size returns the height and width of the maps.
func (g *Generator) Size() (h, w int) { return g.h, g.w }

// Map writes the anomaly map of the gh x gw grid to dst (reallocated if its
// capacity is below h*w) and returns it. dst must not overlap grid.
func (g *Generator) Map(dst, grid []float32, gh, gw int) []float32 {
	switch g.interp {
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
