package anomalymap

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// fixture is testdata/fixture.json, made by testdata/make_fixture.py with
// PyTorch.
type fixture struct {
	Resize []struct {
		GH, GW, H, W int
		Mode         string
		Grid, Out    []float32
	}
	Blur []struct {
		H, W             int
		Sigma            float64
		Border           string
		Img, Out, Kernel []float32
	}
	Map []struct {
		GH, GW, H, W int
		Sigma        float64
		Mode, Border string
		Grid, Out    []float32
	}
}

func loadFixture(t *testing.T) *fixture {
	t.Helper()
	b, err := os.ReadFile("testdata/fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Resize) == 0 || len(f.Blur) == 0 || len(f.Map) == 0 {
		t.Fatal("fixture is missing cases")
	}
	return &f
}

// closeRel checks got against want to a relative tolerance tol, measured
// against max(|want|, 1) (the values are O(1)).
func closeRel(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d > tol*math.Max(math.Abs(float64(want[i])), 1) {
			t.Errorf("%s[%d] = %v, PyTorch %v", what, i, got[i], want[i])
			return
		}
	}
}

func TestResizeFixture(t *testing.T) {
	for _, c := range loadFixture(t).Resize {
		grid := Map{Pix: c.Grid, W: c.GW, H: c.GH}
		if c.Mode == "nearest" {
			got := ResizeNearest(nil, grid, c.W, c.H)
			closeRel(t, "nearest", got.Pix, c.Out, 0) // a copy: exact
		} else {
			got := ResizeBilinear(nil, grid, c.W, c.H)
			closeRel(t, "bilinear", got.Pix, c.Out, 1e-5)
		}
	}
}

func TestBlurFixture(t *testing.T) {
	for _, c := range loadFixture(t).Blur {
		closeRel(t, "kernel", GaussianKernel(c.Sigma), c.Kernel, 1e-6)
		img := Map{Pix: c.Img, W: c.W, H: c.H}
		got := NewBlurBorder(c.Sigma, border(t, c.Border)).Apply(nil, img)
		closeRel(t, "blur "+c.Border, got.Pix, c.Out, 1e-5)
		if c.Border == "reflect" {
			closeRel(t, "GaussianBlur", GaussianBlur(img, c.Sigma).Pix, c.Out, 1e-5)
		}
	}
}

func TestMapFixture(t *testing.T) {
	for _, c := range loadFixture(t).Map {
		interp := Bilinear
		if c.Mode == "nearest" {
			interp = Nearest
		}
		grid := Map{Pix: c.Grid, W: c.GW, H: c.GH}
		g := NewGenerator(c.W, c.H, Options{Sigma: c.Sigma, Interp: interp, Border: border(t, c.Border)})
		got := g.Map(nil, grid)
		if got.W != c.W || got.H != c.H {
			t.Fatalf("map is %dx%d, want %dx%d", got.W, got.H, c.W, c.H)
		}
		closeRel(t, "map "+c.Mode, got.Pix, c.Out, 1e-5)
		// Reuse of the destination and the scratch gives the same map.
		again := g.Map(got.Pix, grid)
		closeRel(t, "map reused", again.Pix, c.Out, 1e-5)
		if interp == Bilinear && c.Border == "reflect" {
			closeRel(t, "FromGrid", FromGrid(grid, c.W, c.H, c.Sigma).Pix, c.Out, 1e-5)
		}
	}
}

func border(t *testing.T, name string) Border {
	t.Helper()
	switch name {
	case "reflect":
		return Reflect
	case "symmetric":
		return Symmetric
	}
	t.Fatalf("fixture border %q", name)
	return 0
}
