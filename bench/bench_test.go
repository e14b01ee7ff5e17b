package bench

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}}
	for _, c := range cases {
		in := append([]float64(nil), c.in...)
		if got := median(in); got != c.want {
			t.Errorf("median(%v) = %g, want %g", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("median reordered its input: %v", in)
			}
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.7: 1, 1.2: 2, 3: 5, 7: 10, 2088: 5000, 518: 1000} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%g) = %g, want %g", in, got, want)
		}
	}
}

func TestPlotSVG(t *testing.T) {
	pts := []GrowthPoint{
		{Method: "crd", Images: 10, DistanceMs: 15, ModelBytes: 4e6},
		{Method: "knn <full>", Images: 10, DistanceMs: 250, ModelBytes: 5e7},
		{Method: "crd", Images: 100, DistanceMs: 16, ModelBytes: 4e6},
		{Method: "knn <full>", Images: 100, DistanceMs: 2500, ModelBytes: 5e8},
	}
	svg := PlotSVG(pts, "a & b")
	dec := xml.NewDecoder(strings.NewReader(svg))
	polylines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	// Two methods in two panels.
	if polylines != 4 {
		t.Fatalf("%d polylines, want 4", polylines)
	}
	if !strings.Contains(svg, "knn &lt;full&gt;") || !strings.Contains(svg, "a &amp; b") {
		t.Fatal("labels are not escaped")
	}
}
