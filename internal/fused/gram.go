package fused

import (
	"fmt"
	"runtime"
	"sync"
)

// GN is the number of features per panel of GramPanels' layout.
const GN = 24

// PanelLen is the length of the panel buffer for d features and k inner
// indices (patches): d rounded up to a multiple of GN, times k.
func PanelLen(d, k int) int { return (d + GN - 1) / GN * GN * k }

// PanelIndex is where feature i of patch j goes in a panel buffer of k
// patches: panel i/GN holds k rows of GN features.
func PanelIndex(i, j, k int) int { return (i/GN)*k*GN + j*GN + i%GN }

// GramUpper adds Y Y^T to the d x d row-major float64 matrix g, on and
// above the diagonal (some entries just below it are overwritten with their
// true values too; read only the upper triangle). Y is d x k, given in
// buf in the panel layout of PanelIndex, with every padding entry zero.
// It computes in float64 with AVX-512 on all cores and panics unless
// Available.
func GramUpper(buf []float64, d, k int, g []float64) {
	if !Available {
		panic("fused: no AVX-512 kernel in this build or on this CPU")
	}
	if len(buf) < PanelLen(d, k) || len(g) != d*d {
		panic(fmt.Sprintf("fused: GramUpper: %d panel values, %d Gram values for d = %d, k = %d", len(buf), len(g), d, k))
	}
	if d == 0 || k == 0 {
		return
	}
	// Column panel q costs about q + 1 tiles: dealing the panels out in
	// turn balances the cores.
	parts := min(runtime.GOMAXPROCS(0), (d+GN-1)/GN)
	if d*d*k < 1<<20 {
		parts = 1
	}
	var wg sync.WaitGroup
	for w := 1; w < parts; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gramKernel(buf, d, k, g, w, parts)
		}()
	}
	gramKernel(buf, d, k, g, 0, parts)
	wg.Wait()
}
