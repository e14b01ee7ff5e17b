package avx512

import (
	"fmt"
	"math"
	"testing"
)

// rowShapes are patch-major shapes (n values used per row, the row
// stride, a grid of hc x wc rows): inception_v3's coarse product, tails of
// 16, a grid one column wide, a row of one, a single position.
var rowShapes = [][4]int{{768, 1056, 17, 17}, {5, 7, 4, 5}, {17, 17, 3, 1}, {4, 9, 1, 6}, {2, 2, 1, 1}, {33, 40, 2, 3}}

// closeSums fails unless got and want, float64 sums, agree to 1e-12 of
// each (plus one).
func closeSums(t *testing.T, name string, got, want []float64) {
	t.Helper()
	for i, w := range want {
		if math.Abs(got[i]-w) > 1e-12*(1+math.Abs(w)) {
			t.Fatalf("%s: sum %d is %g, want %g", name, i, got[i], w)
		}
	}
}

// TestRowNorms checks RowNorms against the reference loop of avx512.h,
// in float64, adding to what acc held.
func TestRowNorms(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	for _, sz := range rowShapes {
		n, ld, p := sz[0], sz[1], sz[2]*sz[3]
		z := randMat((p-1)*ld+n, uint64(n+p))
		got, want := make([]float64, p), make([]float64, p)
		for j := range p {
			got[j], want[j] = float64(j), float64(j)
			for i := 0; i < n; i++ {
				v := float64(z[j*ld+i])
				want[j] += v * v
			}
		}
		RowNorms(z, ld, n, p, got)
		closeSums(t, fmt.Sprint(sz), got, want)
	}
}

// TestNeighbourDots checks NeighbourDots against the reference loop of
// avx512.h in float64, on grids with and without the inner run, one column
// wide, and a row of one.
func TestNeighbourDots(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	for _, sz := range rowShapes {
		n, ld, hc, wc := sz[0], sz[1], sz[2], sz[3]
		pc := hc * wc
		z := randMat((pc-1)*ld+n, uint64(n+pc))
		want := make([]float64, 5*pc)
		for k := 0; k < pc; k++ {
			for o, off := range []int{0, 1, wc - 1, wc, wc + 1} {
				if k+off < pc {
					for i := 0; i < n; i++ {
						want[o*pc+k] += float64(z[k*ld+i]) * float64(z[(k+off)*ld+i])
					}
				}
			}
		}
		got := make([]float64, 5*pc)
		got[0] = 1 // added to, not overwritten
		want[0]++
		NeighbourDots(z, ld, n, pc, wc, got)
		closeSums(t, fmt.Sprint(sz), got, want)
	}
}

// TestResizeRows: ResizeRows gives its doc's loop bit for bit, written and
// added, upsampling and downsampling, strides wider than the rows, and
// panics on taps outside the grid.
func TestResizeRows(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 here")
	}
	for _, sz := range [][7]int{{288, 1056, 288, 17, 17, 35, 35}, {17, 20, 19, 5, 4, 3, 9}, {3, 3, 3, 1, 1, 2, 2}, {40, 41, 40, 6, 2, 6, 2}} {
		n, lds, ldd, hc, wc, h, w := sz[0], sz[1], sz[2], sz[3], sz[4], sz[5], sz[6]
		src := randMat((hc*wc-1)*lds+n, uint64(n+hc))
		ty, tx := bilinearTaps(hc, h, 3), bilinearTaps(wc, w, 5)
		for _, add := range []bool{false, true} {
			dst := randMat((h*w-1)*ldd+n, 11)
			old := append([]float32(nil), dst...)
			ResizeRows(src, lds, hc, wc, n, ty, tx, h, w, dst, ldd, add)
			for oy := range h {
				for ox := range w {
					o := (oy*w + ox) * ldd
					for i := 0; i < n; i++ {
						s := func(y, x int32) float32 { return src[(int(y)*wc+int(x))*lds+i] }
						top := float32(tx.W0[ox]*s(ty.I0[oy], tx.I0[ox])) + float32(tx.W1[ox]*s(ty.I0[oy], tx.I1[ox]))
						bot := float32(tx.W0[ox]*s(ty.I1[oy], tx.I0[ox])) + float32(tx.W1[ox]*s(ty.I1[oy], tx.I1[ox]))
						want := float32(ty.W0[oy]*top) + float32(ty.W1[oy]*bot)
						if add {
							want += old[o+i]
						}
						if got := dst[o+i]; math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("%v add %v: (%d, %d) value %d = %v, want %v", sz, add, oy, ox, i, got, want)
						}
					}
					for i := n; i < ldd && o+i < len(dst); i++ {
						if dst[o+i] != old[o+i] {
							t.Fatalf("%v: (%d, %d) value %d past n changed", sz, oy, ox, i)
						}
					}
				}
			}
		}
	}
	bad := bilinearTaps(4, 3, 7)
	bad.I1[2] = 4
	defer func() {
		if recover() == nil {
			t.Error("no panic on a tap outside the grid")
		}
	}()
	ResizeRows(make([]float32, 16), 1, 4, 4, 1, bilinearTaps(4, 3, 1), bad, 3, 3, make([]float32, 9), 1, false)
}
