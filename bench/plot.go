package bench

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// PlotSVG draws the growth curve: distance-step time (left panel) and model
// size (right panel) against the number of training images, one line per
// method, as a standalone SVG document.
func PlotSVG(points []GrowthPoint, title string) string {
	var methods []string
	for _, p := range points {
		if !contains(methods, p.Method) {
			methods = append(methods, p.Method)
		}
	}
	colors := []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd"}
	const W, H, panelW, panelH, left, top = 900, 380, 360, 260, 70, 50
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`, W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="24" font-size="15">%s</text>`, left, html.EscapeString(title))
	panels := []struct {
		label string
		val   func(GrowthPoint) float64
	}{
		{"distance step per image (ms)", func(p GrowthPoint) float64 { return p.DistanceMs }},
		{"model size (MB)", func(p GrowthPoint) float64 { return float64(p.ModelBytes) / 1e6 }},
	}
	maxX := 0.0
	for _, p := range points {
		maxX = math.Max(maxX, float64(p.Images))
	}
	for pi, panel := range panels {
		x0 := left + pi*(panelW+100)
		maxY := 0.0
		for _, p := range points {
			maxY = math.Max(maxY, panel.val(p))
		}
		maxY = niceCeil(maxY)
		fmt.Fprintf(&b, `<g transform="translate(%d,%d)">`, x0, top)
		fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="none" stroke="#888"/>`, panelW, panelH)
		for k := 0; k <= 4; k++ {
			y := panelH - k*panelH/4
			x := k * panelW / 4
			fmt.Fprintf(&b, `<line x1="0" x2="%d" y1="%d" y2="%d" stroke="#eee"/>`, panelW, y, y)
			fmt.Fprintf(&b, `<text x="-6" y="%d" text-anchor="end">%s</text>`, y+4, trim(maxY*float64(k)/4))
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, x, panelH+16, trim(maxX*float64(k)/4))
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">training images</text>`, panelW/2, panelH+34)
		fmt.Fprintf(&b, `<text x="0" y="-8">%s</text>`, html.EscapeString(panel.label))
		for mi, m := range methods {
			var pts []string
			for _, p := range points {
				if p.Method != m {
					continue
				}
				x := float64(p.Images) / maxX * panelW
				y := panelH - panel.val(p)/maxY*panelH
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, x, y, colors[mi%len(colors)])
			}
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(pts, " "), colors[mi%len(colors)])
			if pi == 0 {
				fmt.Fprintf(&b, `<rect x="10" y="%d" width="12" height="3" fill="%s"/><text x="28" y="%d">%s</text>`, 12+mi*16, colors[mi%len(colors)], 16+mi*16, html.EscapeString(m))
			}
		}
		b.WriteString(`</g>`)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func contains(s []string, v string) bool { return slices.Contains(s, v) }

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func trim(v float64) string { return fmt.Sprintf("%.4g", v) }
