package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/internal/atomicfile"
)

// Report is the content of the HTML evaluation report (EvalReport fills it from a detector and its evaluation).
type Report struct {
	Title    string
	Subtitle string // free text under the title, for example the data set and the date
	Model    Model
	// Evaluation gives the metric table (a row for all test images, then one per defect type in name order) and
	// the curves: image and pixel ROC, and PRO up to FPR 0.3, whose legends show the overall image AUROC, pixel
	// AUROC and AUPRO. Metrics that were not computed are NaN (detector.NewMetrics); they show as a dash, and a
	// column that is NaN in every row is left out. Nil shows no metrics.
	Evaluation *detector.Evaluation
	Gallery    *Gallery // test images, worst first; may be nil
	Notes      []string // free remarks shown at the end
}

// Model summarises the model and the run.
type Model struct {
	Method      string  // for example "CRD"
	Backbone    string  // for example "wide_resnet50_2 layer2+layer3"
	Dim         int     // feature dimension d
	Lambda      float64 // ridge parameter; NaN hides it (say in Extra how it is scaled)
	Threshold   float64 // image-score decision threshold
	TrainImages int
	Timings     []Timing
	Extra       []KV // further facts, shown in order
}

// Timing is one measured stage of the run.
type Timing struct {
	Name  string
	Total time.Duration
	Items int // when > 0, the time per item is shown too
}

// KV is a labelled value.
type KV struct{ Key, Value string }

//go:embed report.html.tmpl
var pageTemplate string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":   fmtPct,
	"num":   fmtNum,
	"dur":   fmtDur,
	"isnan": math.IsNaN,
	"inc":   func(i int) int { return i + 1 },
	"verdict": func(e Entry) string {
		switch {
		case e.Anomalous() && e.Predicted:
			return "TP"
		case e.Anomalous():
			return "FN"
		case e.Predicted:
			return "FP"
		}
		return "TN"
	},
}).Parse(pageTemplate))

// column is one metric column of the table.
type column struct {
	Head, Title string
	get         func(*detector.Metrics) float64
}

var columns = []column{
	{"Image AUROC", "area under the image-level ROC curve", func(m *detector.Metrics) float64 { return m.ImageAUROC }},
	{"Pixel AUROC", "area under the pixel-level ROC curve", func(m *detector.Metrics) float64 { return m.PixelAUROC }},
	{"AUPRO", "area under the per-region-overlap curve up to FPR 0.3, divided by 0.3", func(m *detector.Metrics) float64 { return m.AUPRO }},
	{"Image F1-max", "best F1 over all image-score thresholds", func(m *detector.Metrics) float64 { return m.F1Max }},
	{"Pixel F1-max", "best F1 over all pixel-score thresholds", func(m *detector.Metrics) float64 { return m.PixelF1Max }},
	{"Accuracy", "image level, at the model threshold", func(m *detector.Metrics) float64 { return m.Accuracy }},
	{"Precision", "image level, at the model threshold", func(m *detector.Metrics) float64 { return m.Precision }},
	{"Recall", "image level, at the model threshold", func(m *detector.Metrics) float64 { return m.Recall }},
}

// view is what the template renders.
type view struct {
	*Report
	Heads     []column
	Rows      []row
	Plots     []template.HTML
	Entries   []Entry
	Pictures  []Entry
	Counts    counts
	ColourBar template.HTML
	MapRange  string
}

type row struct {
	Name             string
	NImages, NDefect int
	Values           []float64
	Overall          bool
}

type counts struct{ TP, TN, FP, FN int }

// WriteHTML writes dir/index.html (atomically), creating dir if needed. The page is self-contained: CSS is inline,
// plots are inline SVG, and gallery pictures are the PNG files that r.Gallery wrote to dir/images, referenced by
// relative paths. All text is HTML-escaped.
func WriteHTML(dir string, r *Report) error {
	v := view{Report: r}
	ev := r.Evaluation
	if ev == nil {
		ev = &detector.Evaluation{Overall: detector.NewMetrics()}
	}
	names := append([]string{"all"}, slices.Sorted(maps.Keys(ev.PerDefect))...)
	all := []detector.Metrics{ev.Overall}
	for _, k := range names[1:] {
		all = append(all, ev.PerDefect[k])
	}
	for _, c := range columns {
		for i := range all {
			if !math.IsNaN(c.get(&all[i])) {
				v.Heads = append(v.Heads, c)
				break
			}
		}
	}
	for i := range all {
		rw := row{Name: names[i], NImages: all[i].NImages, NDefect: all[i].NDefect, Overall: i == 0}
		for _, c := range v.Heads {
			rw.Values = append(rw.Values, c.get(&all[i]))
		}
		v.Rows = append(v.Rows, rw)
	}

	var rocLines []line
	if len(ev.ImageROC.X) > 0 {
		rocLines = append(rocLines, line{label: withAUC("image", ev.Overall.ImageAUROC), x: ev.ImageROC.X, y: ev.ImageROC.Y, color: "#1f77b4"})
	}
	if len(ev.PixelROC.X) > 0 {
		rocLines = append(rocLines, line{label: withAUC("pixel", ev.Overall.PixelAUROC), x: ev.PixelROC.X, y: ev.PixelROC.Y, color: "#d62728"})
	}
	unit := axis{min: 0, max: 1, ticks: niceTicks(0, 1, 5)}
	if len(rocLines) > 0 {
		xa, ya := unit, unit
		xa.label, ya.label = "false positive rate", "true positive rate"
		v.Plots = append(v.Plots, template.HTML(linePlot("ROC", xa, ya, rocLines, true)))
	}
	if len(ev.PRO.X) > 0 {
		xa := axis{min: 0, max: 0.3, ticks: niceTicks(0, 0.3, 6), label: "false positive rate (pixels)"}
		ya := unit
		ya.label = "per-region overlap"
		l := line{label: "PRO", x: ev.PRO.X, y: ev.PRO.Y, color: "#2ca02c"}
		if !math.IsNaN(ev.Overall.AUPRO) {
			l.label = "PRO, AUPRO " + pctOrDash(ev.Overall.AUPRO)
		}
		v.Plots = append(v.Plots, template.HTML(linePlot("PRO up to FPR 0.3", xa, ya, []line{l}, false)))
	}
	if r.Gallery != nil {
		v.Entries = r.Gallery.Entries()
		var good, bad []float64
		for i := range v.Entries {
			e := &v.Entries[i]
			if e.Anomalous() {
				bad = append(bad, e.Score)
			} else {
				good = append(good, e.Score)
			}
			switch {
			case e.Anomalous() && e.Predicted:
				v.Counts.TP++
			case e.Anomalous():
				v.Counts.FN++
			case e.Predicted:
				v.Counts.FP++
			default:
				v.Counts.TN++
			}
			if e.Image != "" {
				v.Pictures = append(v.Pictures, *e)
			}
		}
		if svg := histogramPlot("Image scores", good, bad, r.Model.Threshold); svg != "" {
			v.Plots = append(v.Plots, template.HTML(svg))
		}
		o := r.Gallery.opts
		if o.MapHi > o.MapLo {
			v.MapRange = fmt.Sprintf("map values from %s to %s", fmtNum(o.MapLo), fmtNum(o.MapHi))
			v.ColourBar = template.HTML(colourBar(fmtNum(o.MapLo), fmtNum(o.MapHi)))
		} else if o.MapThreshold > 0 {
			v.MapRange = fmt.Sprintf("each card's colours run from its lowest map value to the pixel threshold %s over the "+
				"lower half of the colour bar and from the threshold to its highest value over the upper half, so the middle "+
				"colour is the threshold on every card", fmtNum(o.MapThreshold))
			v.ColourBar = template.HTML(colourBar("card minimum", "card maximum"))
		} else {
			v.MapRange = "map values from 0 to twice the threshold; the threshold is the middle colour"
			v.ColourBar = template.HTML(colourBar("0", "2 × threshold"))
		}
	}

	var buf bytes.Buffer
	if err := page.Execute(&buf, &v); err != nil {
		return fmt.Errorf("report: rendering HTML: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, "index.html"), buf.Bytes())
}

func withAUC(name string, auc float64) string {
	if math.IsNaN(auc) {
		return name
	}
	return name + ", AUC " + pctOrDash(auc)
}

func pctOrDash(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return strconv.FormatFloat(100*v, 'f', 2, 64) + "%"
}

// fmtPct shows a fraction as a percentage with two decimals, or a dash for NaN.
func fmtPct(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return strconv.FormatFloat(100*v, 'f', 2, 64)
}

// fmtNum shows a number with 4 significant digits, or a dash for NaN.
func fmtNum(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func fmtDur(t Timing) string {
	s := fmtSeconds(t.Total.Seconds())
	if t.Items > 0 {
		s += fmt.Sprintf(" (%d, %s each)", t.Items, fmtSeconds(t.Total.Seconds()/float64(t.Items)))
	}
	return s
}

func fmtSeconds(s float64) string {
	switch {
	case s >= 60:
		return fmt.Sprintf("%.0fm %04.1fs", math.Floor(s/60), math.Mod(s, 60))
	case s >= 1:
		return fmt.Sprintf("%.2f s", s)
	default:
		return fmt.Sprintf("%.1f ms", s*1000)
	}
}

func writeFileAtomic(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	return nil
}
