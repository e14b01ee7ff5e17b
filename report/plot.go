package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Inline SVG plots for the HTML report: line plots (ROC, PRO) and a score histogram. All text is HTML-escaped.

const (
	plotW, plotH                       = 440, 340
	marginL, marginR, marginT, marginB = 58, 16, 30, 48
	areaW, areaH                       = plotW - marginL - marginR, plotH - marginT - marginB
)

// axis is one plot axis: its range, tick positions and label.
type axis struct {
	min, max float64
	ticks    []float64
	label    string
}

// line is one data series of a line plot.
type line struct {
	label string
	x, y  []float64
	color string
	dash  bool
}

func (a axis) frac(v float64) float64 { return (v - a.min) / (a.max - a.min) }

type svgBuilder struct{ strings.Builder }

func (b *svgBuilder) f(format string, args ...any) { fmt.Fprintf(&b.Builder, format, args...) }

func esc(s string) string { return html.EscapeString(s) }

// frame draws the title, the plot area's border, the grid, the ticks and the axis labels.
func (b *svgBuilder) frame(title string, xa, ya axis) {
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		plotW, plotH, plotW, plotH, esc(title))
	b.f(`<rect x="0" y="0" width="%d" height="%d" fill="#fff"/>`, plotW, plotH)
	b.f(`<text x="%d" y="18" class="title" text-anchor="middle">%s</text>`, marginL+areaW/2, esc(title))
	for _, t := range xa.ticks {
		x := float64(marginL) + xa.frac(t)*areaW
		b.f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="grid"/>`, x, marginT, x, marginT+areaH)
		b.f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="tick"/>`, x, marginT+areaH, x, marginT+areaH+5)
		b.f(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x, marginT+areaH+18, tickLabel(t, xa.ticks))
	}
	for _, t := range ya.ticks {
		y := float64(marginT) + (1-ya.frac(t))*areaH
		b.f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/>`, marginL, y, marginL+areaW, y)
		b.f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="tick"/>`, marginL-5, y, marginL, y)
		b.f(`<text x="%d" y="%.1f" text-anchor="end">%s</text>`, marginL-8, y+4, tickLabel(t, ya.ticks))
	}
	b.f(`<rect x="%d" y="%d" width="%d" height="%d" class="frame"/>`, marginL, marginT, areaW, areaH)
	b.f(`<text x="%d" y="%d" text-anchor="middle">%s</text>`, marginL+areaW/2, plotH-8, esc(xa.label))
	b.f(`<text x="14" y="%d" text-anchor="middle" transform="rotate(-90 14 %d)">%s</text>`,
		marginT+areaH/2, marginT+areaH/2, esc(ya.label))
}

// legend draws a legend box in the lower (or upper) right corner of the plot area.
func (b *svgBuilder) legend(items []line, top bool) {
	if len(items) == 0 {
		return
	}
	const rowH, boxW = 18, 200
	h := rowH*len(items) + 8
	x0, y0 := marginL+areaW-boxW-8, marginT+areaH-h-8
	if top {
		y0 = marginT + 8
	}
	b.f(`<rect x="%d" y="%d" width="%d" height="%d" class="legend"/>`, x0, y0, boxW, h)
	for i, it := range items {
		y := y0 + 4 + rowH*i + rowH/2
		b.f(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2.5"%s/>`,
			x0+8, y, x0+30, y, it.color, dashAttr(it.dash))
		b.f(`<text x="%d" y="%d">%s</text>`, x0+36, y+4, esc(it.label))
	}
}

func dashAttr(d bool) string {
	if d {
		return ` stroke-dasharray="5 4"`
	}
	return ""
}

// linePlot draws the series as polylines over the axes, with an optional dashed y = x diagonal.
func linePlot(title string, xa, ya axis, lines []line, diagonal bool) string {
	var b svgBuilder
	b.frame(title, xa, ya)
	px := func(x float64) float64 { return float64(marginL) + min(max(xa.frac(x), 0), 1)*areaW }
	py := func(y float64) float64 { return float64(marginT) + (1-min(max(ya.frac(y), 0), 1))*areaH }
	if diagonal {
		lo, hi := max(xa.min, ya.min), min(xa.max, ya.max)
		b.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" stroke-width="1" stroke-dasharray="4 4"/>`,
			px(lo), py(lo), px(hi), py(hi))
	}
	var shown []line
	for _, l := range lines {
		pts := thin(l.x, l.y, px, py)
		if len(pts) == 0 {
			continue
		}
		b.f(`<polyline fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round"%s points="%s"/>`,
			l.color, dashAttr(l.dash), strings.Join(pts, " "))
		shown = append(shown, l)
	}
	b.legend(shown, false)
	b.f(`</svg>`)
	return b.String()
}

// thin maps the points to plot coordinates and drops those closer than half a pixel to the last one kept (the
// last point is always kept), so that curves with millions of points stay light. Points with NaN are skipped.
func thin(xs, ys []float64, px, py func(float64) float64) []string {
	n := min(len(xs), len(ys))
	var out []string
	lastX, lastY := math.Inf(-1), math.Inf(-1)
	for i := 0; i < n; i++ {
		if math.IsNaN(xs[i]) || math.IsNaN(ys[i]) {
			continue
		}
		x, y := px(xs[i]), py(ys[i])
		if i != n-1 && math.Abs(x-lastX) < 0.5 && math.Abs(y-lastY) < 0.5 {
			continue
		}
		out = append(out, strconv.FormatFloat(x, 'f', 1, 64)+","+strconv.FormatFloat(y, 'f', 1, 64))
		lastX, lastY = x, y
	}
	return out
}

// histogramPlot draws the distributions of normal and defective image scores as overlaid bars, with the
// threshold as a dashed vertical line.
func histogramPlot(title string, good, bad []float64, threshold float64) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range [][]float64{good, bad, {threshold}} {
		for _, v := range s {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if lo > hi {
		return ""
	}
	if hi == lo {
		lo, hi = lo-0.5, hi+0.5
	}
	pad := 0.02 * (hi - lo)
	lo, hi = lo-pad, hi+pad
	const bins = 30
	count := func(vals []float64) []int {
		c := make([]int, bins)
		for _, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			c[min(int((v-lo)/(hi-lo)*bins), bins-1)]++
		}
		return c
	}
	cg, cb := count(good), count(bad)
	top := 1
	for i := range cg {
		top = max(top, cg[i], cb[i])
	}
	xa := axis{min: lo, max: hi, ticks: niceTicks(lo, hi, 6), label: "image score"}
	// Head room above the bars for the legend.
	ya := axis{min: 0, max: float64(top) * 1.45, ticks: niceTicks(0, float64(top)*1.45, 5), label: "images"}
	ya.ticks = intTicks(ya.ticks)
	var b svgBuilder
	b.frame(title, xa, ya)
	bw := float64(areaW) / bins
	for _, s := range []struct {
		c     []int
		color string
	}{{cg, "#1f77b4"}, {cb, "#d62728"}} {
		for i, n := range s.c {
			if n == 0 {
				continue
			}
			h := float64(n) / ya.max * areaH
			b.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.55"/>`,
				float64(marginL)+float64(i)*bw, float64(marginT+areaH)-h, bw, h, s.color)
		}
	}
	if !math.IsNaN(threshold) {
		x := float64(marginL) + xa.frac(threshold)*areaW
		b.f(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" stroke-width="1.5" stroke-dasharray="5 4"/>`,
			x, marginT, x, marginT+areaH)
	}
	legend := []line{
		{label: fmt.Sprintf("normal (%d)", len(good)), color: "#1f77b4"},
		{label: fmt.Sprintf("defective (%d)", len(bad)), color: "#d62728"},
	}
	if !math.IsNaN(threshold) {
		legend = append(legend, line{label: "threshold " + fmtNum(threshold), color: "#000", dash: true})
	}
	b.legend(legend, true)
	b.f(`</svg>`)
	return b.String()
}

// niceTicks returns about n round tick values within [lo, hi]: the step is the one of 1, 2 or 5 times a power of
// ten closest (in ratio) to (hi-lo)/n.
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || n < 1 {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	step, best := p, math.Inf(1)
	for _, m := range []float64{1, 2, 5, 10} {
		if d := math.Abs(math.Log(m * p / raw)); d < best {
			step, best = m*p, d
		}
	}
	var out []float64
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+1e-9*step; k++ {
		v := k * step
		if math.Abs(v) < 1e-12*step {
			v = 0
		}
		out = append(out, v)
	}
	return out
}

// intTicks drops non-integer ticks (for counts).
func intTicks(t []float64) []float64 {
	var out []float64
	for _, v := range t {
		if v == math.Trunc(v) {
			out = append(out, v)
		}
	}
	return out
}

// tickLabel formats v with as many decimals as the tick spacing needs.
func tickLabel(v float64, ticks []float64) string {
	dec := 0
	if len(ticks) > 1 {
		step := math.Abs(ticks[1] - ticks[0])
		if step > 0 && step < 1 {
			dec = int(math.Ceil(-math.Log10(step) - 1e-9))
		}
	}
	if math.Abs(v) >= 1e5 || (v != 0 && math.Abs(v) < 1e-4) {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// colourBar draws the inferno colour map as a horizontal bar with its value range.
func colourBar(lo, hi string) string {
	var b svgBuilder
	const w, h = 260, 36
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" class="cbar">`, w, h, w, h)
	b.f(`<defs><linearGradient id="inferno" x1="0" x2="1" y1="0" y2="0">`)
	for i := 0; i <= 16; i++ {
		c := Colormap(float64(i) / 16)
		b.f(`<stop offset="%.4f" stop-color="#%02x%02x%02x"/>`, float64(i)/16, c.R, c.G, c.B)
	}
	b.f(`</linearGradient></defs>`)
	b.f(`<rect x="10" y="2" width="%d" height="14" fill="url(#inferno)" stroke="#444" stroke-width="0.5"/>`, w-20)
	b.f(`<text x="10" y="31" text-anchor="start">%s</text>`, esc(lo))
	b.f(`<text x="%d" y="31" text-anchor="end">%s</text>`, w-10, esc(hi))
	b.f(`</svg>`)
	return b.String()
}
