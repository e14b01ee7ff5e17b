package tile

import (
	"math"
	"strings"
	"testing"

	"github.com/crd-ad/crd/anomalymap"
)

// TestAxisCovers: the tiles start at 0, end at the last pixel, overlap by
// at least the overlap asked for, and one tile fewer could not do so.
func TestAxisCovers(t *testing.T) {
	for n := 1; n <= 700; n += 7 {
		for _, size := range []int{1, 5, 32, 299} {
			for _, ov := range []int{0, 1, size / 4, size - 1} {
				if size > n || ov >= size || ov < 0 {
					continue
				}
				xs := Axis(n, size, ov)
				covered := make([]int, n)
				for _, x := range xs {
					for i := x; i < x+size; i++ {
						covered[i]++
					}
				}
				for i, c := range covered {
					if c == 0 {
						t.Fatalf("n %d size %d overlap %d: pixel %d not covered by %v", n, size, ov, i, xs)
					}
				}
				if xs[0] != 0 || xs[len(xs)-1]+size != n {
					t.Fatalf("n %d size %d overlap %d: tiles %v do not span [0, %d)", n, size, ov, xs, n)
				}
				for i := 1; i < len(xs); i++ {
					if got := xs[i-1] + size - xs[i]; got < ov {
						t.Fatalf("n %d size %d overlap %d: tiles %v overlap by %d", n, size, ov, xs, got)
					}
				}
				// k-1 tiles with the least overlap span at most
				// size + (k-2)(size-ov) < n.
				if k := len(xs); k > 1 && size+(k-2)*(size-ov) >= n {
					t.Fatalf("n %d size %d overlap %d: %d tiles where %d suffice", n, size, ov, k, k-1)
				}
			}
		}
	}
}

func TestLayout(t *testing.T) {
	// ball_screw: 565 x 230, short side to 299.
	l, err := Spec{Size: 299, Overlap: 32, ImageW: 565, ImageH: 230}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	if l.H != 299 || l.W != int(math.Round(565*299.0/230)) || len(l.Y) != 1 || len(l.X) != 3 {
		t.Fatalf("layout %+v", l)
	}
	if x, y := l.Origin(2); x != l.W-299 || y != 0 {
		t.Fatalf("tile 2 at %d, %d", x, y)
	}
	// screw at half size: 512 x 512 in 2 x 2 tiles.
	l, err = Spec{Size: 299, Overlap: 64, Scale: 0.5, ImageW: 1024, ImageH: 1024}.Layout()
	if err != nil || l.W != 512 || l.Tiles() != 4 {
		t.Fatalf("layout %+v, %v", l, err)
	}
	for _, bad := range []Spec{
		{Size: 299, Scale: 0.25, ImageW: 1024, ImageH: 1024}, // 256 < 299
		{Size: 32, Scale: 16, ImageW: 1024, ImageH: 1024},    // too large
		{Size: 8, Scale: 1, ImageW: 1024, ImageH: 1024},      // too many tiles
		{Size: 299, Overlap: 299, ImageW: 400, ImageH: 400},
		{Size: 299},
	} {
		if _, err := bad.Layout(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestParse(t *testing.T) {
	s, err := Parse("299:32", "0.5")
	if err != nil || s != (Spec{Size: 299, Overlap: 32, Scale: 0.5}) {
		t.Fatalf("%+v, %v", s, err)
	}
	if s, err = Parse("224", "auto"); err != nil || s != (Spec{Size: 224}) {
		t.Fatalf("%+v, %v", s, err)
	}
	for _, bad := range [][2]string{{"x", ""}, {"299:", ""}, {"299:299", ""}, {"0", ""}, {"299", "-1"}, {"299", "NaN"}, {"299", "Inf"}, {"299", "big"}} {
		if _, err := Parse(bad[0], bad[1]); err == nil {
			t.Errorf("--tile %q --scale %q: no error", bad[0], bad[1])
		}
	}
	if got := (Spec{Size: 299, Overlap: 32, ImageW: 565, ImageH: 230}).String(); !strings.Contains(got, "scale auto") || !strings.Contains(got, "565 x 230") {
		t.Errorf("String: %s", got)
	}
}

// TestStitchReference: tiles cut from a known map stitch back to it, and
// tiles with their own values stitch to the per-pixel mean computed
// directly.
func TestStitchReference(t *testing.T) {
	l, err := Spec{Size: 40, Overlap: 9, Scale: 1, ImageW: 101, ImageH: 67}.Layout()
	if err != nil {
		t.Fatal(err)
	}
	ref := anomalymap.NewMap(l.W, l.H)
	for i := range ref.Pix {
		ref.Pix[i] = float32(math.Sin(float64(i) * 0.37))
	}
	cut := make([]anomalymap.Map, l.Tiles())
	own := make([]anomalymap.Map, l.Tiles())
	for k := range cut {
		x0, y0 := l.Origin(k)
		cut[k], own[k] = anomalymap.NewMap(40, 40), anomalymap.NewMap(40, 40)
		for y := 0; y < 40; y++ {
			for x := 0; x < 40; x++ {
				cut[k].Pix[y*40+x] = ref.At(x0+x, y0+y)
				own[k].Pix[y*40+x] = float32(k+1) * ref.At(x0+x, y0+y)
			}
		}
	}
	got := l.Stitch(cut)
	for i := range ref.Pix {
		if math.Abs(float64(got.Pix[i]-ref.Pix[i])) > 1e-6 {
			t.Fatalf("pixel %d: %g, want %g", i, got.Pix[i], ref.Pix[i])
		}
	}
	got = l.Stitch(own)
	for y := 0; y < l.H; y++ {
		for x := 0; x < l.W; x++ {
			sum, n := 0.0, 0
			for k := range own {
				x0, y0 := l.Origin(k)
				if x >= x0 && x < x0+40 && y >= y0 && y < y0+40 {
					sum += float64(own[k].At(x-x0, y-y0))
					n++
				}
			}
			if want := sum / float64(n); math.Abs(float64(got.At(x, y))-want) > 1e-5 {
				t.Fatalf("(%d, %d): %g, want %g", x, y, got.At(x, y), want)
			}
		}
	}
}
