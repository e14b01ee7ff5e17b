package anomalymap

import "github.com/crd-ad/crd/internal/parallel"

// parallelMinPixels is the image size from which the row loops run on
// several goroutines.
const parallelMinPixels = 1 << 16

// rows runs f over the row range [0, n) of an image of the given number of
// pixels: directly for small images, else cut into blocks of rows that all
// CPUs take one at a time (parallel.For).
func rows(n, pixels int, f func(y0, y1 int)) {
	limit := 0 // every CPU
	if pixels < parallelMinPixels {
		limit = 1
	}
	parallel.For(n, limit, f)
}
