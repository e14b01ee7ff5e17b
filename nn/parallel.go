package nn

import (
	"runtime"
	"sync"
)

// parallelFor splits [0, n) into contiguous ranges and runs f on them on up
// to GOMAXPROCS goroutines. Small n runs inline.
func parallelFor(n int, f func(lo, hi int)) {
	p := runtime.GOMAXPROCS(0)
	if p > n {
		p = n
	}
	if p <= 1 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	wg.Add(p - 1)
	for i := 1; i < p; i++ {
		lo, hi := i*n/p, (i+1)*n/p
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	f(0, n/p)
	wg.Wait()
}
