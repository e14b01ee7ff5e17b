package anomalymap

import (
	"runtime"
	"sync"
)

// parallelMinPixels is the image size from which the row loops run on
// several goroutines.
const parallelMinPixels = 1 << 16

// rows runs f over the row range [0, n) of an image of the given number of
// pixels: directly for small images, else split into one contiguous block of
// rows per CPU, concurrently.
func rows(n, pixels int, f func(y0, y1 int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if pixels < parallelMinPixels || workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for k := range workers {
		y0, y1 := k*n/workers, (k+1)*n/workers
		wg.Go(func() { f(y0, y1) })
	}
	wg.Wait()
}
