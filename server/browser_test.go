package server

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crd-ad/crd/internal/testenv"
)

// findChromium returns Debian's chromium (scripts/setup.sh installs it),
// skipping the test when there is none, except in CI, where that fails.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Require(t, errors.New("no chromium, chromium-browser or google-chrome on the PATH"), "scripts/setup.sh installs chromium")
	return ""
}

// artifactDir is where the browser test keeps its screenshot: $CRD_ARTIFACTS,
// or crd-artifacts in the system's temporary folder.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("CRD_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "crd-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestWebPage drives a real headless chromium: it uploads an image through
// the page's file picker, waits for the verdict and the heat map, checks
// them against the detector, moves the opacity slider and saves a
// screenshot.
func TestWebPage(t *testing.T) {
	td := fixture(t)
	chrome := findChromium(t)
	s := New(Options{Logger: quiet()})
	if err := s.AddModel("ball_screw", td.model); err != nil {
		t.Fatal(err)
	}
	ts := start(t, s)
	score := directScores(t, td.model, td.defect)[0]
	wantVerdict := "ok"
	if score > s.Models()[0].Threshold {
		wantVerdict = "defect"
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelB()
	// The first call starts the browser and must not carry the timeout.
	if err := chromedp.Do(bctx, chromedp.Navigate(ts.URL+"/")); err != nil {
		t.Fatalf("browser: %v", err)
	}
	ctx, cancelT := context.WithTimeout(bctx, 2*time.Minute)
	defer cancelT()
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("browser, %s: %v", what, err)
		}
	}
	poll := chromedp.WithPollingTimeout(time.Minute)
	step("model panel", chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#model-info dd`))))
	modelText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#model-info`)))
	step("model text", err)
	step("upload", chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`#files`), []string{td.defect})))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const h = document.querySelector(".result img.heatmap");
		const r = document.querySelector(".result"); return (h && h.complete && h.naturalWidth > 0) || (r && r.dataset.verdict === "error"); })()`, poll))
	step("verdict and heat map", err)
	verdict, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.result .verdict`)))
	step("verdict", err)
	meta, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.result .meta`)))
	step("result text", err)
	heatW, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelector(".result img.heatmap").naturalWidth`))
	step("heat map width", err)
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`.result .meta a`), "href"))
	step("download link", err)
	download, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`.result .meta a`), "download"))
	step("download name", err)
	opacity, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const r = document.getElementById("opacity");
		r.value = 80; r.dispatchEvent(new Event("input")); return document.querySelector("img.heatmap").style.opacity; })()`))
	step("opacity slider", err)
	liveItems, err := chromedp.Run(ctx, chromedp.Poll[int](`document.querySelectorAll("#live li").length`, poll))
	step("live view", err)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	step("screenshot", err)
	path := filepath.Join(artifactDir(t), "web-page.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	if verdict != wantVerdict {
		t.Errorf("the page says %q, the detector %q (score %g)", verdict, wantVerdict, score)
	}
	if !strings.Contains(meta, "score ") || !strings.Contains(meta, "threshold") {
		t.Errorf("result text %q", meta)
	}
	if heatW != td.imgSize || !strings.HasPrefix(href.Value, "data:image/png;base64,") || download.Value != "000_heatmap.png" {
		t.Errorf("heat map %d px wide, link %.40q, download %q", heatW, href.Value, download.Value)
	}
	if opacity != "0.8" {
		t.Errorf("heat map opacity %q after moving the slider to 80", opacity)
	}
	if liveItems < 1 || !strings.Contains(modelText, "inception_v3") {
		t.Errorf("live view has %d items; model panel %q", liveItems, modelText)
	}
}
