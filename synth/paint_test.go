package synth

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// testImage is a w x h textured grey image: a sinusoidal pattern plus
// pixel noise, mid-grey.
func testImage(w, h int, seed uint64) Image {
	r := rand.New(rand.NewPCG(seed, 1))
	m := Image{W: w, H: h, Pix: make([]float32, 3*w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := 0.5 + 0.1*math.Sin(float64(x)/3+float64(y)/7) + 0.03*r.NormFloat64()
			for ch := 0; ch < 3; ch++ {
				m.Pix[ch*w*h+y*w+x] = float32(v)
			}
		}
	}
	return m
}

func TestPaintChangesOnlyTheMask(t *testing.T) {
	const w, h = 180, 90
	donor := testImage(w, h, 99)
	// A donor unlike the image, so that a pasted patch differs.
	for i := range donor.Pix {
		donor.Pix[i] = 1 - donor.Pix[i]*0.5
	}
	for _, kind := range PaintKinds() {
		for seed := uint64(0); seed < 4; seed++ {
			orig := testImage(w, h, seed)
			img := Image{W: w, H: h, Pix: slices.Clone(orig.Pix)}
			const area = 300.0
			mask, err := Paint(rand.New(rand.NewPCG(seed, 2)), kind, img, &donor, area)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			n := 0
			var change float64
			for i, in := range mask {
				d := 0.0
				for ch := 0; ch < 3; ch++ {
					d += math.Abs(float64(img.Pix[ch*w*h+i] - orig.Pix[ch*w*h+i]))
				}
				if !in && d != 0 {
					t.Fatalf("%s seed %d: pixel %d outside the mask changed by %g", kind, seed, i, d)
				}
				if in {
					n++
					change += d / 3
				}
			}
			if n < area/3 || n > 3*area {
				t.Errorf("%s seed %d: mask of %d pixels for a target area of %g", kind, seed, n, area)
			}
			if mean := change / float64(n); mean < 0.02 {
				t.Errorf("%s seed %d: mean change inside the mask %.4f, too faint to be a defect", kind, seed, mean)
			}
		}
	}
}

func TestPaintIsDeterministic(t *testing.T) {
	a, b := testImage(64, 64, 1), testImage(64, 64, 1)
	ma, _ := Paint(rand.New(rand.NewPCG(5, 5)), "spot", a, nil, 100)
	mb, _ := Paint(rand.New(rand.NewPCG(5, 5)), "spot", b, nil, 100)
	if !slices.Equal(ma, mb) || !slices.Equal(a.Pix, b.Pix) {
		t.Error("the same seed painted different defects")
	}
}

func TestPaintRejectsBadInput(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	img := testImage(64, 64, 1)
	if _, err := Paint(r, "dent", img, nil, 100); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := Paint(r, "spot", Image{W: 64, H: 64, Pix: img.Pix[:10]}, nil, 100); err == nil {
		t.Error("short pixel slice accepted")
	}
	small := testImage(32, 32, 1)
	if _, err := Paint(r, "cutpaste", img, &small, 100); err == nil {
		t.Error("donor of another size accepted")
	}
}
