package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image/png"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crd-ad/crd/dataset"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(filepath.Dir(shared.dir))
	}
	os.Exit(code)
}

// quiet is a logger for tests that only shows errors.
func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// start serves s on a loopback test server.
func start(t *testing.T, s *Server) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts
}

// call sends a request and decodes the JSON answer.
func call(t *testing.T, method, url, ct string, body []byte, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, url, err, raw)
		}
	}
	return resp.StatusCode, out, resp.Header
}

func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func multipartBody(t *testing.T, field, name string, data []byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("note", "ignored")
	fw, err := mw.CreateFormFile(field, name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

func TestPredict(t *testing.T) {
	td := fixture(t)
	s := New(Options{Logger: quiet()})
	if err := s.AddModel("screws", td.model); err != nil {
		t.Fatal(err)
	}
	ts := start(t, s)
	want := directScores(t, td.model, td.good, td.defect)
	sum, err := fileChecksum(td.model)
	if err != nil {
		t.Fatal(err)
	}
	for i, path := range []string{td.good, td.defect} {
		raw := read(t, path)
		mp, mpType := multipartBody(t, "image", filepath.Base(path), raw)
		for _, c := range []struct {
			url, ct string
			body    []byte
		}{
			{ts.URL + "/v1/predict?heatmap=1", "image/png", raw},
			{ts.URL + "/v1/models/screws/predict", "application/octet-stream", raw},
			{ts.URL + "/v1/predict", mpType, mp},
		} {
			code, p, _ := call(t, "POST", c.url, c.ct, c.body)
			if code != 200 {
				t.Fatalf("%s: %d %v", c.url, code, p)
			}
			score := p["score"].(float64)
			if math.Abs(score-want[i]) > 1e-4*math.Abs(want[i]) {
				t.Errorf("%s %s: score %g, the detector gives %g", c.url, path, score, want[i])
			}
			thr := p["threshold"].(float64)
			if p["defect"].(bool) != (score > thr) || p["label"] != map[bool]string{true: "defect", false: "ok"}[score > thr] {
				t.Errorf("verdict %v / %v for score %g and threshold %g", p["defect"], p["label"], score, thr)
			}
			m := p["model"].(map[string]any)
			if m["name"] != "screws" || m["checksum"] != sum {
				t.Errorf("model %v, want screws and %s", m, sum)
			}
			if p["latency_ms"].(float64) <= 0 || p["width"].(float64) != float64(td.imgSize) {
				t.Errorf("latency %v, width %v", p["latency_ms"], p["width"])
			}
			hm, has := p["heatmap"].(string)
			if has != strings.Contains(c.url, "heatmap=1") {
				t.Fatalf("%s: heat map present %v", c.url, has)
			}
			if has {
				img, err := png.Decode(base64.NewDecoder(base64.StdEncoding, strings.NewReader(strings.TrimPrefix(hm, "data:image/png;base64,"))))
				if err != nil || img.Bounds().Dx() != td.imgSize || img.Bounds().Dy() != td.imgSize {
					t.Fatalf("heat map: %v %v", err, img)
				}
			}
		}
	}
	if code, out, _ := call(t, "GET", ts.URL+"/v1/models", "", nil); code != 200 || len(out["models"].([]any)) != 1 {
		t.Fatalf("/v1/models: %d %v", code, out)
	}
	code, out, _ := call(t, "GET", ts.URL+"/v1/recent?after=2", "", nil)
	if code != 200 || len(out["predictions"].([]any)) != 4 || out["stats"].(map[string]any)["predictions"].(float64) != 6 {
		t.Fatalf("/v1/recent: %d %v", code, out)
	}
}

func TestBadRequests(t *testing.T) {
	td := fixture(t)
	s := New(Options{Logger: quiet(), MaxBodyBytes: 1 << 16})
	if err := s.AddModel("m", td.model); err != nil {
		t.Fatal(err)
	}
	ts := start(t, s)
	img := read(t, td.good)
	noField, noFieldType := multipartBody(t, "picture", "x.png", img)
	var big bytes.Buffer
	big.Write(img)
	big.Write(make([]byte, 1<<16))
	cases := []struct {
		name, method, url, ct string
		body                  []byte
		code                  int
		msg                   string
	}{
		{"empty", "POST", "/v1/predict", "image/png", nil, 400, "no image"},
		{"random bytes", "POST", "/v1/predict", "image/png", []byte("definitely not an image, just text"), 415, "unknown image format"},
		{"truncated", "POST", "/v1/predict", "image/png", img[:len(img)/2], 422, "image"},
		{"form", "POST", "/v1/predict", "application/x-www-form-urlencoded", img, 415, "multipart/form-data"},
		{"bad type", "POST", "/v1/predict", "image/png; ===", img, 415, "Content-Type"},
		{"no field", "POST", "/v1/predict", noFieldType, noField, 400, `no field "image"`},
		{"bad multipart", "POST", "/v1/predict", "multipart/form-data; boundary=xyz", []byte("--nope"), 400, "multipart"},
		{"too big", "POST", "/v1/predict", "image/png", big.Bytes(), 413, "larger than 65536 bytes"},
		{"unknown model", "POST", "/v1/models/nope/predict", "image/png", img, 404, `no model named "nope"`},
		{"wrong method", "GET", "/v1/predict", "", nil, 405, ""},
		{"no such page", "GET", "/etc/passwd", "", nil, 404, "not found"},
	}
	for _, c := range cases {
		code, out, _ := call(t, c.method, ts.URL+c.url, c.ct, c.body)
		msg, _ := out["error"].(string)
		if code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: %d %q, want %d and %q", c.name, code, msg, c.code, c.msg)
		}
	}
	code, out, _ := call(t, "POST", ts.URL+"/v1/predict", "image/png", hugePNGHeader(20000, 20000))
	if want := fmt.Sprintf("20000x20000, 400000000 pixels, more than the limit of %d", dataset.DefaultMaxPixels); code != 422 || !strings.Contains(out["error"].(string), want) {
		t.Errorf("too many pixels: %d %v", code, out)
	}
	// A server with a lower limit.
	small := New(Options{Logger: quiet(), Limits: dataset.Limits{MaxPixels: 100}})
	if err := small.addFake("m", &fakeModel{}); err != nil {
		t.Fatal(err)
	}
	ts2 := start(t, small)
	if code, out, _ := call(t, "POST", ts2.URL+"/v1/predict", "image/png", pngBytes(t, 11, 10)); code != 422 || !strings.Contains(out["error"].(string), "more than the limit of 100") {
		t.Errorf("over a 100-pixel limit: %d %v", code, out)
	}
	// The server still works.
	if code, out, _ := call(t, "POST", ts.URL+"/v1/predict", "image/png", img); code != 200 {
		t.Fatalf("after junk: %d %v", code, out)
	}
}

// hugePNGHeader is the start of a w x h RGB PNG: the signature and a valid
// IHDR chunk, enough for image.DecodeConfig.
func hugePNGHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0) // 8-bit RGB, deflate, no filter, no interlace
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

func TestTokenAndHealth(t *testing.T) {
	s := New(Options{Logger: quiet(), Token: "s3cret"})
	ts := start(t, s)
	if code, _, _ := call(t, "GET", ts.URL+"/healthz", "", nil); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	if code, _, _ := call(t, "GET", ts.URL+"/readyz", "", nil); code != 503 {
		t.Fatalf("readyz without models: %d", code)
	}
	if err := s.addFake("m", &fakeModel{}); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := call(t, "GET", ts.URL+"/readyz", "", nil); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	for _, path := range []string{"/v1/models", "/metrics", "/v1/recent"} {
		if code, _, h := call(t, "GET", ts.URL+path, "", nil); code != 401 || h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s without token: %d", path, code)
		}
		if code, _, _ := call(t, "GET", ts.URL+path, "", nil, "Authorization", "Bearer wrong"); code != 401 {
			t.Errorf("%s with a wrong token: %d", path, code)
		}
		if code, _, _ := call(t, "GET", ts.URL+path, "", nil, "Authorization", "Bearer s3cret"); code != 200 {
			t.Errorf("%s with the token: %d", path, code)
		}
	}
	if code, _, _ := call(t, "POST", ts.URL+"/v1/predict", "image/png", pngBytes(t, 8, 8)); code != 401 {
		t.Errorf("predict without token: %d", code)
	}
	if code, out, _ := call(t, "POST", ts.URL+"/v1/predict", "image/png", pngBytes(t, 8, 8), "Authorization", "Bearer s3cret"); code != 200 {
		t.Errorf("predict with token: %d %v", code, out)
	}
}

func TestMetrics(t *testing.T) {
	s := New(Options{Logger: quiet()})
	fm := &fakeModel{score: 2}
	if err := s.addFake("line1", fm); err != nil {
		t.Fatal(err)
	}
	ts := start(t, s)
	for range 3 {
		if code, out, _ := call(t, "POST", ts.URL+"/v1/predict", "image/png", pngBytes(t, 8, 8)); code != 200 {
			t.Fatalf("%d %v", code, out)
		}
	}
	call(t, "POST", ts.URL+"/v1/predict", "image/png", []byte("junk"))
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`crd_http_requests_total{code="200",route="POST /v1/predict"} 3`,
		`crd_http_requests_total{code="415",route="POST /v1/predict"} 1`,
		`crd_http_request_duration_seconds_count{route="POST /v1/predict"} 4`,
		`crd_batch_size_count{model="line1"} 3`,
		`crd_images_scored_total{model="line1",source="http"} 3`,
		`crd_defects_total{model="line1",source="http"} 3`,
		`crd_normalized_score_count{model="line1"} 3`,
		`crd_model_info{backbone="fake",checksum="fake-1",method="crd",model="line1"} 1`,
		`crd_model_load_timestamp_seconds{model="line1"}`,
		`crd_model_reloads_total{model="line1",result="ok"} 1`,
		"crd_http_requests_in_flight 1",
		"crd_queue_length 0",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestSeveralModels(t *testing.T) {
	s := New(Options{Logger: quiet()})
	for i, name := range []string{"a", "b"} {
		if err := s.addFake(name, &fakeModel{score: float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.addFake("a", &fakeModel{}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate name: %v", err)
	}
	if err := s.AddModel("../x", "x.crd"); err == nil {
		t.Errorf("a name with a slash was taken")
	}
	ts := start(t, s)
	if code, out, _ := call(t, "POST", ts.URL+"/v1/predict", "image/png", pngBytes(t, 8, 8)); code != 404 || !strings.Contains(out["error"].(string), "2 models") {
		t.Errorf("/v1/predict with two models: %d %v", code, out)
	}
	for i, name := range []string{"a", "b"} {
		code, out, _ := call(t, "POST", ts.URL+"/v1/models/"+name+"/predict", "image/png", pngBytes(t, 8, 8))
		if code != 200 || out["score"].(float64) != float64(i) || out["model"].(map[string]any)["name"] != name {
			t.Errorf("model %s: %d %v", name, code, out)
		}
	}
}

func TestReload(t *testing.T) {
	td := fixture(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "m.crd")
	copyFile(t, td.model, path)
	s := New(Options{Logger: quiet()})
	if err := s.AddModel("m", path); err != nil {
		t.Fatal(err)
	}
	ts := start(t, s)
	img := read(t, td.defect)
	checksum := func() string {
		code, out, _ := call(t, "POST", ts.URL+"/v1/predict", "image/png", img)
		if code != 200 {
			t.Fatalf("predict: %d %v", code, out)
		}
		return out["model"].(map[string]any)["checksum"].(string)
	}
	sumA, _ := fileChecksum(td.model)
	sumB, _ := fileChecksum(td.model2)
	if sumA == sumB {
		t.Fatal("the two test models are the same")
	}
	// A bad file keeps the old model serving.
	if err := os.WriteFile(path, []byte("CRDMODEL garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("reload of a bad file: %v", err)
	}
	if got := checksum(); got != sumA {
		t.Fatalf("after a bad reload the checksum is %s, want the old %s", got, sumA)
	}
	// A good file is swapped in on Reload (what SIGHUP does).
	copyFile(t, td.model2, path)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := checksum(); got != sumB {
		t.Fatalf("after reload: %s, want %s", got, sumB)
	}
	// And when the file changes, with the watcher on.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.WatchModelFiles(ctx, 20*time.Millisecond)
	time.Sleep(50 * time.Millisecond) // let the watcher see the current file first
	copyFile(t, td.model, path)
	future := time.Now().Add(time.Minute)
	os.Chtimes(path, future, future) // a distinct modification time even on coarse clocks
	for deadline := time.Now().Add(time.Minute); s.Models()[0].Checksum != sumA; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the changed model file was not picked up within a minute")
		}
	}
	if got := checksum(); got != sumA {
		t.Fatalf("after the file changed: %s, want %s", got, sumA)
	}
	// A bad file written while the watcher runs is tried once, not at
	// every interval, and the good version keeps serving.
	writeAtomic(t, path, []byte("CRDMODEL garbage again"))
	errors := func() string {
		for _, l := range strings.Split(scrape(t, ts.URL), "\n") {
			if strings.HasPrefix(l, `crd_model_reloads_total{model="m",result="error"}`) {
				return l
			}
		}
		return ""
	}
	for deadline := time.Now().Add(time.Minute); !strings.HasSuffix(errors(), " 2"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the bad file was not tried within a minute: %q", errors())
		}
	}
	time.Sleep(200 * time.Millisecond) // ten intervals
	if got := errors(); !strings.HasSuffix(got, " 2") {
		t.Errorf("the bad file was retried: %q", got)
	}
	if got := checksum(); got != sumA {
		t.Fatalf("after a bad file: %s, want %s", got, sumA)
	}
	text := scrape(t, ts.URL)
	for _, want := range []string{`crd_model_reloads_total{model="m",result="ok"} 3`} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	writeAtomic(t, dst, read(t, src))
}

// writeAtomic writes data to dst through a temporary file and a rename, so
// that a watcher never sees it half-written.
func writeAtomic(t *testing.T, dst string, data []byte) {
	t.Helper()
	if err := os.WriteFile(dst+".tmp", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		t.Fatal(err)
	}
}

// TestReloadDrains swaps the model while requests wait in the old one's
// queue: they are all answered, by the old version.
func TestReloadDrains(t *testing.T) {
	s := New(Options{Logger: quiet(), MaxBatch: 1})
	gate := make(chan struct{})
	old := &fakeModel{score: 1, gate: gate}
	if err := s.addFake("m", old); err != nil {
		t.Fatal(err)
	}
	ts := start(t, s)
	var wg sync.WaitGroup
	codes := make([]int, 4)
	scores := make([]float64, 4)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out, _ := call(t, "POST", ts.URL+"/v1/predict", "image/png", pngBytes(t, 8, 8))
			codes[i] = code
			scores[i], _ = out["score"].(float64)
		}()
	}
	for old.waiting() == 0 || s.queueLengths()["m"] < 3 {
		time.Sleep(time.Millisecond)
	}
	swapped := make(chan error)
	s.loadModel = func(string) (model, ModelInfo, error) {
		return &fakeModel{score: 2}, ModelInfo{Checksum: "fake-2"}, nil
	}
	go func() { swapped <- s.Reload() }()
	for s.Models()[0].Checksum != "fake-2" {
		time.Sleep(time.Millisecond)
	}
	close(gate) // the old version drains its queue
	if err := <-swapped; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := range codes {
		if codes[i] != 200 || scores[i] != 1 {
			t.Errorf("request %d: %d, score %g; want 200 from the old model", i, codes[i], scores[i])
		}
	}
	if code, out, _ := call(t, "POST", ts.URL+"/v1/predict", "image/png", pngBytes(t, 8, 8)); code != 200 || out["score"].(float64) != 2 {
		t.Errorf("after the swap: %d %v", code, out)
	}
}

func TestOverloadAndJunk(t *testing.T) {
	s := New(Options{Logger: quiet(), MaxBatch: 2, QueueSize: 2})
	if err := s.addFake("m", &fakeModel{score: 1, delay: 2 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	ts := start(t, s)
	imgs := [][]byte{pngBytes(t, 16, 16), pngBytes(t, 20, 12)}
	// 4x overload: 16 clients for 4 places.
	rep, err := Load(context.Background(), LoadOptions{URL: ts.URL + "/v1/predict", Images: imgs, Clients: 16,
		Requests: 300, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Codes[200] == 0 || rep.Codes[200]+rep.Codes[503] != rep.Requests || rep.TransportErrors != 0 {
		t.Errorf("overload: %+v; want only 200 and 503", rep)
	}
	// Junk mixed in: 200, 4xx and 503 only.
	rep, err = Load(context.Background(), LoadOptions{URL: ts.URL + "/v1/predict", Images: imgs, Clients: 4,
		Requests: 200, Duration: time.Minute, Junk: 0.3, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for code, n := range rep.Codes {
		switch {
		case code == 200, code == 503:
		case code >= 400 && code < 500:
			bad += n
		default:
			t.Errorf("junk soak: %d answers with %d", n, code)
		}
	}
	if bad != rep.JunkSent || rep.Requests != 200 {
		t.Errorf("junk soak: %+v; want one 4xx per junk body", rep)
	}
	if code, _, _ := call(t, "GET", ts.URL+"/healthz", "", nil); code != 200 {
		t.Errorf("healthz after the load: %d", code)
	}
	if _, err := Load(context.Background(), LoadOptions{URL: "http://192.0.2.1/v1/predict", Images: imgs, Clients: 1, Requests: 1, Duration: time.Second}); err == nil {
		t.Error("Load accepted a non-loopback address")
	}
}

func TestClosedServer(t *testing.T) {
	s := New(Options{Logger: quiet()})
	if err := s.addFake("m", &fakeModel{}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	s.Close()
	if code, out, _ := call(t, "POST", ts.URL+"/v1/predict", "image/png", pngBytes(t, 8, 8)); code != 503 || !strings.Contains(out["error"].(string), "shutting down") {
		t.Errorf("after Close: %d %v", code, out)
	}
}
