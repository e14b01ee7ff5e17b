package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/report"
)

// httpError is an error with the HTTP status it is answered with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// ServeHTTP serves the API, the metrics and the web page.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.Ready() {
			writeJSON(w, 503, map[string]string{"status": "loading"})
			return
		}
		writeJSON(w, 200, map[string]string{"status": "ready"})
	})
	api := http.NewServeMux()
	api.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	api.HandleFunc("POST /v1/predict", func(w http.ResponseWriter, r *http.Request) { s.predict(w, r, "") })
	api.HandleFunc("POST /v1/models/{name}/predict", func(w http.ResponseWriter, r *http.Request) {
		s.predict(w, r, r.PathValue("name"))
	})
	api.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"models": s.Models()})
	})
	api.HandleFunc("GET /v1/recent", s.recentHandler)
	mux.Handle("/v1/", s.auth(api))
	mux.Handle("GET /metrics", s.auth(api))
	index, assets := webHandlers()
	mux.Handle("GET /{$}", index)
	mux.Handle("GET /assets/", assets)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &httpError{404, "not found: " + r.URL.Path})
	})
	return s.instrument(mux)
}

// auth requires the bearer token when one is set.
func (s *Server) auth(next http.Handler) http.Handler {
	if s.opts.Token == "" {
		return next
	}
	want := []byte("Bearer " + s.opts.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crd"`)
			writeError(w, &httpError{401, "missing or wrong bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status code.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts, times and logs every request.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		s.metrics.inFlight.Inc()
		defer s.metrics.inFlight.Dec()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "other"
		}
		code := sw.code
		if code == 0 {
			code = 200
		}
		d := time.Since(t0)
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		s.metrics.latency.WithLabelValues(route).Observe(d.Seconds())
		level := slog.LevelDebug
		if code >= 500 && code != 503 {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path, "route", route,
			"code", code, "ms", float64(d.Microseconds())/1000, "remote", r.RemoteAddr)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// writeError answers err as JSON: {"error": message, "status": code}.
func writeError(w http.ResponseWriter, err error) {
	he := asHTTPError(err)
	if he.code == 503 {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, he.code, map[string]any{"error": he.msg, "status": he.code})
}

func asHTTPError(err error) *httpError {
	var he *httpError
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &mb):
		return &httpError{413, fmt.Sprintf("the body is larger than %d bytes", mb.Limit)}
	case errors.Is(err, context.DeadlineExceeded):
		return &httpError{503, "the prediction took longer than the request timeout: retry later"}
	case errors.Is(err, context.Canceled):
		return &httpError{499, "the client went away"}
	}
	return &httpError{500, err.Error()}
}

// predict answers POST /v1/predict and /v1/models/{name}/predict.
func (s *Server) predict(w http.ResponseWriter, r *http.Request, name string) {
	t0 := time.Now()
	defer discard(r.Body)
	st, err := s.station(name)
	if err != nil {
		writeError(w, err)
		return
	}
	release, err := st.admit()
	if err != nil {
		writeError(w, err)
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
	defer cancel()
	if r.ContentLength > s.opts.MaxBodyBytes {
		writeError(w, &http.MaxBytesError{Limit: s.opts.MaxBodyBytes})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	data, err := readImageBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	img, err := decodeImage(data, s.opts.Limits)
	if err != nil {
		writeError(w, err)
		return
	}
	v, info, err := s.score(ctx, st, img)
	if err != nil {
		writeError(w, err)
		return
	}
	p := s.prediction(v, info, img, t0)
	if q := r.URL.Query().Get("heatmap"); q == "1" || q == "true" {
		if p.Heatmap, err = pngDataURL(v.heatmap()); err != nil {
			writeError(w, err)
			return
		}
	}
	s.record(p, thumbnail(img), "http", "")
	writeJSON(w, 200, p)
}

func (s *Server) prediction(v *verdict, info ModelInfo, img *dataset.RGB, t0 time.Time) *Prediction {
	p := &Prediction{Score: v.Score, Normalized: v.Normalized, Defect: v.Defect, Label: "ok", Threshold: info.Threshold,
		Model: ModelRef{info.Name, info.Checksum}, Width: img.W, Height: img.H, Time: time.Now().UTC()}
	if v.Defect {
		p.Label = "defect"
	}
	p.LatencyMs = float64(time.Since(t0).Microseconds()) / 1000
	return p
}

// readImageBody returns the image bytes of a raw or multipart body.
func readImageBody(r *http.Request) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct != "" && err != nil {
		return nil, &httpError{415, fmt.Sprintf("bad Content-Type %q: %v", ct, err)}
	}
	var body io.Reader = r.Body
	switch {
	case mt == "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, &httpError{400, "bad multipart body: " + err.Error()}
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return nil, &httpError{400, `the multipart body has no field "image"`}
			}
			if err != nil {
				return nil, badBody(err)
			}
			if part.FormName() == "image" {
				body = part
				break
			}
		}
	case ct == "" || mt == "application/octet-stream" || strings.HasPrefix(mt, "image/"):
	default:
		return nil, &httpError{415, fmt.Sprintf("Content-Type %q: send the image as image/*, application/octet-stream, or multipart/form-data with a field \"image\"", mt)}
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, badBody(err)
	}
	if len(data) == 0 {
		return nil, &httpError{400, "the body holds no image"}
	}
	return data, nil
}

func badBody(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return err
	}
	return &httpError{400, "cannot read the body: " + err.Error()}
}

// decodeImage decodes an image under lim, answering 415 for an unknown
// format and 422 for a corrupt one or one over the limits.
func decodeImage(data []byte, lim dataset.Limits) (*dataset.RGB, error) {
	img, err := lim.DecodeImage(bytes.NewReader(data))
	if err == nil {
		return img, nil
	}
	msg := strings.TrimPrefix(err.Error(), "dataset: ")
	if _, _, cerr := image.DecodeConfig(bytes.NewReader(data)); errors.Is(cerr, image.ErrFormat) {
		return nil, &httpError{415, msg}
	}
	return nil, &httpError{422, msg}
}

func pngDataURL(img image.Image) (string, error) {
	var b bytes.Buffer
	if err := report.EncodePNG(&b, img); err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()), nil
}
