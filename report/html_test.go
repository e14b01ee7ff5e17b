package report

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/metrics"
)

func sampleReport(t *testing.T, dir string) *Report {
	t.Helper()
	g := NewGallery(dir, GalleryOptions{Max: 2})
	for _, it := range worstFirstItems {
		if err := g.Add(Item{Outcome: Outcome{Name: it.name + ".png", Defect: it.defect, Score: it.score, NormScore: it.score / 10,
			Threshold: 10, Predicted: it.score > 10}, Image: flatImage(6, 6, 0.3), Map: anomalymap.NewMap(6, 6)}); err != nil {
			t.Fatal(err)
		}
	}
	all := detector.NewMetrics()
	all.NImages, all.NDefect = 8, 4
	all.ImageAUROC, all.PixelAUROC, all.AUPRO, all.F1Max = 0.96621, 0.974, 0.91234, 0.8
	all.Accuracy, all.Precision, all.Recall = 0.625, 0.5, 0.5
	crack := detector.NewMetrics()
	crack.NImages, crack.NDefect, crack.ImageAUROC = 6, 2, 1
	// Many ROC points: the plot must thin them.
	n := 100000
	fx, fy := make([]float64, n), make([]float64, n)
	for i := range fx {
		fx[i] = float64(i) / float64(n-1)
		fy[i] = math.Sqrt(fx[i])
	}
	return &Report{
		Title:    `Evaluation <script>alert("x")</script>`,
		Subtitle: "bottle & friends",
		Model: Model{Method: "CRD", Backbone: "wide_resnet50_2", Dim: 1536, Lambda: 5, Threshold: 10, TrainImages: 209,
			Timings: []Timing{{Name: "train", Total: 90 * time.Second, Items: 209}},
			Extra:   []KV{{"lambda scaling", "relative to trace(G)/d"}}},
		Evaluation: &detector.Evaluation{
			Overall:   all,
			PerDefect: map[string]detector.Metrics{"crack <&>": crack},
			ImageROC:  metrics.Curve{X: []float64{0, 0, 0.5, 1}, Y: []float64{0, 0.5, 1, 1}},
			PixelROC:  metrics.Curve{X: fx, Y: fy},
			PRO:       metrics.Curve{X: []float64{0, 0.1, 0.3}, Y: []float64{0, 0.8, 0.95}},
		},
		Gallery: g,
		Notes:   []string{"<b>raw</b>"},
	}
}

func TestWriteHTML(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport(t, dir)
	if err := WriteHTML(dir, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	mustContain := []string{
		"<title>Evaluation &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</title>",
		"bottle &amp; friends",
		"crack &lt;&amp;&gt;",
		"&lt;b&gt;raw&lt;/b&gt;",
		// Table values, percent with two decimals.
		"<td>96.62</td>", "<td>97.40</td>", "<td>91.23</td>", "<td>80.00</td>", "<td>62.50</td>", "<td>100.00</td>",
		"<td>1536</td>", "<td>209</td>", "relative to trace(G)/d", "1m 30.0s (209, 430.6 ms each)",
		// Legends with AUCs.
		"image, AUC 96.62%", "pixel, AUC 97.40%", "PRO, AUPRO 91.23%", "threshold 10",
		// Confusion counts: TP 1 (tp_near, tp_high: 2), FN 2, FP 2, TN 2.
		"<td>2 (TP)</td>", "<td>2 (FN)</td>", "<td>2 (FP)</td>", "<td>2 (TN)</td>",
		"Showing 2 of 8 test images",
	}
	for _, s := range mustContain {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	for _, s := range []string{"<script>", "<b>raw", "Pixel F1-max"} { // unescaped text; an all-NaN column
		if strings.Contains(page, s) {
			t.Errorf("page contains %q", s)
		}
	}
	// The crack row shows dashes for metrics it lacks.
	if !regexp.MustCompile(`crack &lt;&amp;&gt;</td><td>6</td><td>2</td><td>100.00</td><td>—</td>`).MatchString(page) {
		t.Error("crack row not as expected")
	}
	// Gallery: the two worst pictures, in order, and the files exist.
	imgs := regexp.MustCompile(`<img src="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(imgs) != 2 || !strings.Contains(imgs[0][1], "fp_far") || !strings.Contains(imgs[1][1], "fn_far") {
		t.Fatalf("gallery pictures %v", imgs)
	}
	for _, m := range imgs {
		if _, err := os.Stat(filepath.Join(dir, m[1])); err != nil {
			t.Error(err)
		}
	}
	// Every inline SVG is well-formed XML, and the 100000-point curve was thinned.
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1)
	if len(svgs) != 4 { // ROC, PRO, histogram, colour bar
		t.Fatalf("%d SVGs", len(svgs))
	}
	for _, s := range svgs {
		d := xml.NewDecoder(strings.NewReader(s))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("SVG not well-formed: %v\n%.300s", err, s)
			}
		}
	}
	if len(page) > 200000 {
		t.Errorf("page is %d bytes: curves not thinned", len(page))
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestWriteHTMLMinimal(t *testing.T) {
	// No gallery, no curves, no pixel metrics: still a valid page.
	dir := filepath.Join(t.TempDir(), "new")
	all := detector.NewMetrics()
	all.ImageAUROC = 0.5
	ev := &detector.Evaluation{Overall: all}
	if err := WriteHTML(dir, &Report{Title: "t", Evaluation: ev, Model: Model{Lambda: math.NaN()}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	if !strings.Contains(page, "<td>50.00</td>") || strings.Contains(page, "<svg") || strings.Contains(page, "Pixel AUROC") ||
		strings.Contains(page, "&lambda;") {
		t.Error("minimal page content wrong")
	}
}

func TestNiceTicks(t *testing.T) {
	cases := []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 1, 5, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{0, 0.3, 6, []float64{0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3}},
		{0.37, 1.73, 6, []float64{0.4, 0.6, 0.8, 1, 1.2, 1.4, 1.6}},
		{0, 14.5, 5, []float64{0, 2, 4, 6, 8, 10, 12, 14}},
	}
	for _, c := range cases {
		got := niceTicks(c.lo, c.hi, c.n)
		if len(got) != len(c.want) {
			t.Errorf("niceTicks(%v,%v,%d) = %v, want %v", c.lo, c.hi, c.n, got, c.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-12 {
				t.Errorf("niceTicks(%v,%v,%d) = %v, want %v", c.lo, c.hi, c.n, got, c.want)
				break
			}
		}
	}
	if s := tickLabel(0.15, []float64{0, 0.05}); s != "0.15" {
		t.Errorf("tickLabel = %q", s)
	}
}
