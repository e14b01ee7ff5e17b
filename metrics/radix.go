package metrics

import (
	"math"
	"runtime"
	"sync"
)

// floatKey maps a float32 to a uint32 whose unsigned order is the numeric order
// of the floats: negative numbers have all bits flipped, non-negative numbers
// have the sign bit set. -0 is mapped to the key of +0 so that equal floats get
// equal keys. NaN must be filtered out by the caller.
func floatKey(f float32) uint32 {
	if f == 0 {
		f = 0 // turns -0 into +0
	}
	b := math.Float32bits(f)
	if b&0x80000000 != 0 {
		return ^b
	}
	return b | 0x80000000
}

// keyFloat inverts floatKey.
func keyFloat(k uint32) float32 {
	if k&0x80000000 != 0 {
		return math.Float32frombits(k &^ 0x80000000)
	}
	return math.Float32frombits(^k)
}

// radixBits is the digit width of the LSD radix sort: 3 passes of 11 bits
// cover a 32-bit key (the last pass sees 10 bits).
const radixBits = 11

// radixPasses is the number of digits of a 32-bit key.
const radixPasses = (32 + radixBits - 1) / radixBits

// radixSort sorts a in ascending order of the 32-bit key uint32(x >> shift)
// using an LSD radix sort with the scratch buffer buf (len(buf) >= len(a)).
// With T = uint64 and shift = 32 it sorts packed (key<<32 | payload) values by
// key alone, which is all the curve sweeps need. The sort is stable and the
// result ends in a.
//
// Large inputs are split into contiguous chunks, one per worker goroutine.
// In every pass each worker counts the digits of its chunk of the current
// order, then scatters the chunk to offsets that place all of chunk 0's
// elements of a digit before chunk 1's, which keeps the sort stable. A first
// counting pass over all digits finds the passes whose digit is the same for
// every element; those are skipped, which is common for the sign and exponent
// bits of anomaly scores.
func radixSort[T uint32 | uint64](a, buf []T, shift uint) {
	if len(a) < 2 {
		return
	}
	const nb = 1 << radixBits
	workers := 1
	if len(a) >= radixParallelMin {
		workers = min(runtime.GOMAXPROCS(0), radixMaxWorkers)
	}
	chunk := (len(a) + workers - 1) / workers
	bounds := func(w int) (int, int) { return min(w*chunk, len(a)), min((w+1)*chunk, len(a)) }

	// Histograms of every digit, per worker, over the input order.
	all := make([][radixPasses][nb]int, workers)
	parallel(workers, func(w int) {
		lo, hi := bounds(w)
		c := &all[w]
		for _, x := range a[lo:hi] {
			k := uint32(x >> shift)
			for p := range c {
				c[p][(k>>(p*radixBits))&(nb-1)]++
			}
		}
	})
	counts := make([][nb]int, workers) // counts[w][d] of the current pass
	src, dst := a, buf[:len(a)]
	first := uint32(a[0] >> shift)
	moved := false
	for p := range radixPasses {
		d0 := (first >> (p * radixBits)) & (nb - 1)
		total := 0
		for w := range all {
			total += all[w][p][d0]
		}
		if total == len(a) {
			continue // every element has the same digit: nothing moves
		}
		s := uint(p*radixBits) + shift
		if !moved || workers == 1 {
			// The chunks still hold the elements that were counted.
			for w := range counts {
				counts[w] = all[w][p]
			}
		} else {
			parallel(workers, func(w int) {
				lo, hi := bounds(w)
				c := &counts[w]
				clear(c[:])
				for _, x := range src[lo:hi] {
					c[(x>>s)&(nb-1)]++
				}
			})
		}
		// Exclusive prefix sums over (digit, worker).
		sum := 0
		for d := range nb {
			for w := range counts {
				c := &counts[w][d]
				*c, sum = sum, sum+*c
			}
		}
		parallel(workers, func(w int) {
			lo, hi := bounds(w)
			c := &counts[w]
			for _, x := range src[lo:hi] {
				d := (x >> s) & (nb - 1)
				dst[c[d]] = x
				c[d]++
			}
		})
		src, dst = dst, src
		moved = true
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}

const (
	// radixParallelMin is the input length from which radixSort uses
	// several goroutines.
	radixParallelMin = 1 << 20
	// radixMaxWorkers caps radixSort's goroutines: the scatter passes are
	// bound by memory bandwidth.
	radixMaxWorkers = 4
)

// parallel runs f(0), ..., f(n-1) concurrently and waits for them.
func parallel(n int, f func(int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}
