package nn

import (
	"math"
	"testing"
)

// TestBilinearTapsReproduceResize: ResizeBilinear of one plane is, value for
// value, the taps of BilinearTaps applied rows first (to float32 rounding:
// a compiler may fuse the multiply-adds differently), for
// enlarging, shrinking and equal sizes; and the taps are neighbours with
// weights summing to 1.
func TestBilinearTapsReproduceResize(t *testing.T) {
	for _, c := range [][4]int{{17, 17, 35, 35}, {4, 5, 9, 9}, {9, 11, 5, 6}, {3, 1, 6, 6}, {6, 7, 6, 7}} {
		ih, iw, oh, ow := c[0], c[1], c[2], c[3]
		x := NewTensor(1, 1, ih, iw)
		for i := range x.Data {
			x.Data[i] = float32(math.Sin(0.7*float64(i) + 0.2))
		}
		got := ResizeBilinear(x, oh, ow)
		y0, y1, wy0, wy1 := BilinearTaps(ih, oh)
		x0, x1, wx0, wx1 := BilinearTaps(iw, ow)
		for _, ax := range []struct {
			i0, i1 []int
			w0, w1 []float32
			in     int
		}{{y0, y1, wy0, wy1, ih}, {x0, x1, wx0, wx1, iw}} {
			for i := range ax.i0 {
				if ax.i0[i] < 0 || ax.i1[i] >= ax.in || ax.i1[i]-ax.i0[i] > 1 || ax.i1[i] < ax.i0[i] ||
					math.Abs(float64(ax.w0[i]+ax.w1[i])-1) > 1e-6 || ax.w0[i] < 0 || ax.w1[i] < 0 {
					t.Fatalf("%v: tap %d: %d %d, %g %g", c, i, ax.i0[i], ax.i1[i], ax.w0[i], ax.w1[i])
				}
			}
		}
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				h := func(r int) float32 { return wx0[j]*x.Data[r*iw+x0[j]] + wx1[j]*x.Data[r*iw+x1[j]] }
				want := wy0[i]*h(y0[i]) + wy1[i]*h(y1[i])
				if v := got.Data[i*ow+j]; math.Abs(float64(v-want)) > 1e-6 {
					t.Fatalf("%v: (%d, %d) is %g, the taps give %g", c, i, j, v, want)
				}
			}
		}
	}
}
