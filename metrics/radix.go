package metrics

import "math"

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
// using an LSD radix sort (one counting pass for all digits, then one scatter
// pass per digit) with the scratch buffer buf (len(buf) >= len(a)). With
// T = uint64 and shift = 32 it sorts packed (key<<32 | payload) values by key
// alone, which is all the curve sweeps need. The sort is stable and the
// result ends in a.
//
// Passes whose digit is the same for every element are skipped, which is
// common for the sign and exponent bits of anomaly scores. A version that
// split each pass over two goroutines was slower on the shared 2-core
// machine this was measured on (the passes are bound by memory bandwidth).
func radixSort[T uint32 | uint64](a, buf []T, shift uint) {
	if len(a) < 2 {
		return
	}
	const nb = 1 << radixBits
	var counts [radixPasses][nb]int
	for _, x := range a {
		k := uint32(x >> shift)
		for p := range counts {
			counts[p][(k>>(p*radixBits))&(nb-1)]++
		}
	}
	src, dst := a, buf[:len(a)]
	for p := range counts {
		c := &counts[p]
		if c[(uint32(a[0]>>shift)>>(p*radixBits))&(nb-1)] == len(a) {
			continue // every element has the same digit: nothing moves
		}
		sum := 0
		for i := range c {
			c[i], sum = sum, sum+c[i]
		}
		s := uint(p*radixBits) + shift
		for _, x := range src {
			d := (x >> s) & (nb - 1)
			dst[c[d]] = x
			c[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}

// SortFloat32s sorts v in increasing order with the package's radix sort, in
// linear time (three passes over v), as slices.Sort does except that -0
// comes back as +0 and NaNs, placed first, as one NaN value.
func SortFloat32s(v []float32) {
	keys := make([]uint32, len(v))
	for i, x := range v {
		if x == x {
			keys[i] = floatKey(x) // NaN keeps key 0, below every number's
		}
	}
	radixSort(keys, make([]uint32, len(v)), 0)
	for i, k := range keys {
		v[i] = keyFloat(k) // key 0 gives a NaN back
	}
}
