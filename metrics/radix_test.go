package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestFloatKeyOrder(t *testing.T) {
	vals := []float32{float32(math.Inf(-1)), -math.MaxFloat32, -2, -1.5, -math.SmallestNonzeroFloat32, 0,
		math.SmallestNonzeroFloat32, 1e-30, 0.5, 1, 1.0000001, 3e38, float32(math.Inf(1))}
	for i := 1; i < len(vals); i++ {
		if floatKey(vals[i-1]) >= floatKey(vals[i]) {
			t.Errorf("key(%g) >= key(%g)", vals[i-1], vals[i])
		}
	}
	for _, v := range vals {
		if got := keyFloat(floatKey(v)); got != v {
			t.Errorf("keyFloat(floatKey(%g)) = %g", v, got)
		}
	}
	negZero := float32(math.Copysign(0, -1))
	if floatKey(negZero) != floatKey(0) {
		t.Errorf("-0 and +0 have different keys")
	}
}

func TestRadixSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 7, 1000, 100000} {
		a := make([]uint32, n)
		for i := range a {
			switch i % 3 {
			case 0:
				a[i] = rng.Uint32()
			case 1:
				a[i] = floatKey(float32(rng.NormFloat64()))
			default:
				a[i] = uint32(rng.IntN(5)) // many ties, high digits constant
			}
		}
		want := slices.Clone(a)
		slices.Sort(want)
		radixSort(a, make([]uint32, n), 0)
		if !slices.Equal(a, want) {
			t.Fatalf("n=%d: radix sort differs from slices.Sort", n)
		}

		// Packed 64-bit values sorted on the high 32 bits only.
		b := make([]uint64, n)
		for i := range b {
			b[i] = uint64(rng.IntN(50))<<32 | uint64(i)
		}
		radixSort(b, make([]uint64, n), 32)
		for i := 1; i < n; i++ {
			if b[i-1]>>32 > b[i]>>32 {
				t.Fatalf("n=%d: packed sort out of order at %d", n, i)
			}
			// LSD radix sort is stable: payloads (original indices) ascend within a key.
			if b[i-1]>>32 == b[i]>>32 && uint32(b[i-1]) > uint32(b[i]) {
				t.Fatalf("n=%d: packed sort not stable at %d", n, i)
			}
		}
	}
}

// TestSortFloat32s: SortFloat32s orders values as slices.Sort does, bit for
// bit, on random values of both signs and many magnitudes with duplicates,
// infinities, subnormals and the largest finite values; NaNs go first and
// -0 becomes +0.
func TestSortFloat32s(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 5, 1023, 1024, 5000, 300000} {
		v := make([]float32, n)
		for i := range v {
			switch rng.IntN(10) {
			case 0:
				v[i] = float32(rng.IntN(5)) // duplicates
			case 1:
				v[i] = []float32{float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, -math.MaxFloat32,
					math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32}[rng.IntN(6)]
			default:
				v[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(20)-10)))
			}
		}
		want := slices.Clone(v)
		slices.Sort(want)
		SortFloat32s(v)
		for i := range v {
			if math.Float32bits(v[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d: value %d is %g, slices.Sort's %g", n, i, v[i], want[i])
			}
		}
	}
	v := make([]float32, 2000)
	for i := range v {
		v[i] = float32(1000 - i)
	}
	v[7], v[70] = float32(math.NaN()), float32(math.Copysign(0, -1))
	SortFloat32s(v)
	if !math.IsNaN(float64(v[0])) || !slices.IsSorted(v[1:]) {
		t.Errorf("NaN first, then sorted: got %v ...", v[:4])
	}
	if i := slices.Index(v, 0); i < 0 || math.Signbit(float64(v[i])) {
		t.Errorf("-0 not turned into +0")
	}
}
