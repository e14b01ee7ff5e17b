// Package server puts crd models on the network: an http.Handler that scores
// images sent over HTTP (with dynamic batching, limits, Prometheus metrics,
// hot reload and an embedded web page), a watched folder that scores the
// files a line camera drops into it, and a webhook that announces defects.
// `crd serve` is a thin command over it; a Go program can embed the same
// Server.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crd-ad/crd/dataset"
)

// Options configure a Server. The zero value of each field means its
// default.
type Options struct {
	// MaxBatch is the largest backbone batch (default DefaultMaxBatch);
	// MaxWait how long a batch waits for more images after its first
	// (default 50ms). A batch waits only while more requests are expected
	// (as many as were about at once during the previous batch), so a lone
	// client never waits.
	MaxBatch int
	MaxWait  time.Duration
	// QueueSize is the number of images per model that may wait for a
	// batch (default 32); beyond it requests get 503 with Retry-After.
	QueueSize int
	// MaxBodyBytes is the largest request body (default 32 MiB, 413
	// beyond).
	MaxBodyBytes int64
	// Limits bound the decoded images (422 beyond); zero fields take the
	// dataset package's defaults.
	Limits dataset.Limits
	// RequestTimeout bounds the wait for a verdict once the image is read
	// (default 30s); the http.Server's timeouts bound the reading.
	RequestTimeout time.Duration
	// Token, when set, is the bearer token every endpoint but /healthz,
	// /readyz and the web page's static files requires.
	Token string
	// Webhook, when set, is the URL that gets a JSON POST for each defect.
	Webhook string
	// Logger receives the logs (default: slog.Default()).
	Logger *slog.Logger
}

// DefaultMaxBatch is the default Options.MaxBatch: one image a backbone
// call, as `crd predict` runs by default (detector.DefaultBatch). With 8
// closed-loop clients of the default backbone on 2 cores, batches of up to
// 8 (6.3 on average) served 0.82-0.83 of `crd predict`'s throughput in the
// same runs against 0.89-0.94 for batches of 1, took 10% more CPU an
// image and doubled the 99th percentile latency (435-462 ms against
// 221-263; `crd bench serve --max-batch`, docs/serving.md).
const DefaultMaxBatch = 1

func (o *Options) defaults() {
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 50 * time.Millisecond
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 32
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 32 << 20
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Server serves one or more models. Create it with New, add models with
// AddModel, and use it as an http.Handler.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	recent  *recent
	hook    *notifier
	handler http.Handler

	// loadModel reads a model file (a fake in some tests).
	loadModel func(path string) (model, ModelInfo, error)

	mu       sync.RWMutex
	stations map[string]*station
}

// station is one served model: the current version and the file it came
// from. Reloads replace cur atomically.
type station struct {
	name, path string
	cur        atomic.Pointer[loaded]
	slots      chan struct{} // admitted requests: queued or in a batch
	peak       atomic.Int32  // most admitted requests at once since the last batch began
	reloadMu   sync.Mutex
	stamp      fileStamp // of the file cur was loaded from
}

// loaded is one version of a model with its batcher.
type loaded struct {
	info ModelInfo
	b    *batcher
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func stampOf(path string) (fileStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{st.Size(), st.ModTime()}, nil
}

// New returns a server without models.
func New(opts Options) *Server {
	opts.defaults()
	s := &Server{opts: opts, log: opts.Logger, stations: map[string]*station{}, recent: newRecent(100, 1000),
		loadModel: loadModel}
	s.metrics = newMetrics(s.queueLengths)
	if opts.Webhook != "" {
		s.hook = newNotifier(opts.Webhook, s.log, s.metrics.webhook)
	}
	s.handler = s.routes()
	return s
}

// Registry returns the server's Prometheus registry, for callers that add
// collectors of their own.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// AddModel loads the model file at path, warms it up and serves it under
// name. The name must be new and made of letters, digits, '-', '_' and '.'.
func (s *Server) AddModel(name, path string) error {
	if !validName(name) {
		return fmt.Errorf("model name %q: use letters, digits, '-', '_' and '.'", name)
	}
	s.mu.Lock()
	_, dup := s.stations[name]
	s.mu.Unlock()
	if dup {
		return fmt.Errorf("model name %q given twice", name)
	}
	st := &station{name: name, path: path, slots: make(chan struct{}, s.opts.QueueSize+s.opts.MaxBatch)}
	if err := s.load(st); err != nil {
		return err
	}
	s.mu.Lock()
	s.stations[name] = st
	s.mu.Unlock()
	return nil
}

func validName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// load loads st's file beside the current version, swaps it in and drains
// the old one. On error the current version keeps serving.
func (s *Server) load(st *station) error {
	st.reloadMu.Lock()
	defer st.reloadMu.Unlock()
	stamp, _ := stampOf(st.path) // before reading, so that a change while loading is seen next time
	m, info, err := s.loadModel(st.path)
	if err == nil {
		info.Name = st.name
		b := newBatcher(m, s.opts.MaxBatch, s.opts.QueueSize, s.opts.MaxWait, func(n int) {
			s.metrics.batchSize.WithLabelValues(st.name).Observe(float64(n))
		}, st.expect)
		old := st.cur.Swap(&loaded{info: info, b: b})
		st.stamp = stamp
		if old != nil {
			s.metrics.info.DeleteLabelValues(st.name, old.info.Checksum, old.info.Method, old.info.Backbone)
			old.b.close()
		}
		s.metrics.info.WithLabelValues(st.name, info.Checksum, info.Method, info.Backbone).Set(1)
		s.metrics.loadTime.WithLabelValues(st.name).Set(float64(info.LoadedAt.UnixNano()) / 1e9)
		s.metrics.reloads.WithLabelValues(st.name, "ok").Inc()
		s.log.Info("model loaded", "model", st.name, "path", st.path, "checksum", info.Checksum,
			"method", info.Method, "backbone", info.Backbone, "replaced", old != nil)
		if info.Warning != "" {
			s.log.Warn("model warning", "model", st.name, "path", st.path, "warning", info.Warning)
		}
		return nil
	}
	s.metrics.reloads.WithLabelValues(st.name, "error").Inc()
	err = fmt.Errorf("model %s: %w", st.name, err)
	if st.cur.Load() != nil {
		s.log.Error("reload failed, the previous version keeps serving", "model", st.name, "err", err)
	}
	return err
}

// Reload reloads every model from its file (what SIGHUP does). A model
// whose new file is bad keeps its previous version; the errors are joined.
func (s *Server) Reload() error {
	var errs []error
	for _, st := range s.stationList() {
		errs = append(errs, s.load(st))
	}
	return errors.Join(errs...)
}

// WatchModelFiles reloads a model when its file's size or modification time
// changes, checking every interval until ctx ends. A file being written is
// picked up once it has stayed the same for one interval.
func (s *Server) WatchModelFiles(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	seen := map[string]fileStamp{}
	failed := map[string]fileStamp{} // not tried again until the file changes
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, st := range s.stationList() {
			now, err := stampOf(st.path)
			st.reloadMu.Lock()
			cur := st.stamp
			st.reloadMu.Unlock()
			if err != nil || now == cur || now == failed[st.name] {
				continue
			}
			if seen[st.name] == now { // unchanged for one interval: complete
				if s.load(st) != nil { // logged and counted
					failed[st.name] = now
				}
			}
			seen[st.name] = now
		}
	}
}

func (s *Server) stationList() []*station {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*station, 0, len(s.stations))
	for _, st := range s.stations {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// station returns the named model, or the only one when name is empty.
func (s *Server) station(name string) (*station, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if name == "" {
		if len(s.stations) != 1 {
			return nil, &httpError{404, fmt.Sprintf("this server has %d models: use /v1/models/{name}/predict", len(s.stations))}
		}
		for _, st := range s.stations {
			return st, nil
		}
	}
	st, ok := s.stations[name]
	if !ok {
		return nil, &httpError{404, fmt.Sprintf("no model named %q", name)}
	}
	return st, nil
}

// Models describes the served models, sorted by name.
func (s *Server) Models() []ModelInfo {
	var out []ModelInfo
	for _, st := range s.stationList() {
		out = append(out, st.cur.Load().info)
	}
	return out
}

// Ready reports whether at least one model is loaded and warmed up.
func (s *Server) Ready() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.stations) > 0
}

func (s *Server) queueLengths() map[string]int {
	out := map[string]int{}
	for _, st := range s.stationList() {
		out[st.name] = st.cur.Load().b.queued()
	}
	return out
}

// Prediction is the verdict on one image, as /v1/predict answers it.
type Prediction struct {
	// ID numbers the server's predictions from 1.
	ID uint64 `json:"id,omitempty"`
	// Score is the raw image score; Normalized maps it to [0, 1] with the
	// threshold at 0.5; Defect is Score > Threshold.
	Score      float64 `json:"score"`
	Normalized float64 `json:"normalized"`
	Defect     bool    `json:"defect"`
	Label      string  `json:"label"`
	Threshold  float64 `json:"threshold"`
	// Model names the model and its file's checksum.
	Model ModelRef `json:"model"`
	// Width and Height are the image's size in pixels.
	Width  int `json:"width"`
	Height int `json:"height"`
	// LatencyMs is the time from the request's arrival to the verdict.
	LatencyMs float64   `json:"latency_ms"`
	Time      time.Time `json:"time"`
	// Heatmap is the anomaly map as a PNG data URL on the image's pixel
	// grid, when asked for.
	Heatmap string `json:"heatmap,omitempty"`
}

// ModelRef names the model that made a prediction.
type ModelRef struct {
	Name     string `json:"name"`
	Checksum string `json:"checksum"`
}

var errNoSlot = &httpError{503, "the server is at capacity: retry later"}

// admit reserves a place for one image of st, or returns errNoSlot.
func (st *station) admit() (release func(), err error) {
	select {
	case st.slots <- struct{}{}:
	default:
		return nil, errNoSlot
	}
	for n := int32(len(st.slots)); ; {
		p := st.peak.Load()
		if n <= p || st.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return func() { <-st.slots }, nil
}

// expect is how many requests were admitted at once since the previous
// call (the start of the previous batch); it starts over from those still
// admitted.
func (st *station) expect() int {
	return int(st.peak.Swap(int32(len(st.slots))))
}

// score scores img with st's current model, waiting for its batch.
func (s *Server) score(ctx context.Context, st *station, img *dataset.RGB) (*verdict, ModelInfo, error) {
	for {
		l := st.cur.Load()
		if w, h := l.info.ImageWidth, l.info.ImageHeight; w > 0 && (img.W != w || img.H != h) {
			return nil, l.info, &httpError{422, fmt.Sprintf("image is %d x %d, but model %q is tiled for %d x %d images and takes that size only", img.W, img.H, l.info.Name, w, h)}
		}
		j := &job{ctx: ctx, img: img, done: make(chan result, 1)}
		err := l.b.submit(j)
		if errors.Is(err, errRetired) {
			if st.cur.Load() != l {
				continue // swapped under us: the new version is in place
			}
			return nil, l.info, &httpError{503, "the server is shutting down"}
		}
		if err != nil {
			return nil, l.info, &httpError{503, err.Error() + ": retry later"}
		}
		select {
		case r := <-j.done:
			return r.v, l.info, r.err
		case <-ctx.Done():
			return nil, l.info, ctx.Err()
		}
	}
}

// record counts a verdict, keeps it for the live view and notifies the
// webhook of a defect.
func (s *Server) record(p *Prediction, thumb, source, file string) {
	s.metrics.scored.WithLabelValues(p.Model.Name, source).Inc()
	s.metrics.scores.WithLabelValues(p.Model.Name).Observe(p.Normalized)
	if p.Defect {
		s.metrics.defects.WithLabelValues(p.Model.Name, source).Inc()
	}
	s.recent.add(p, thumb)
	if p.Defect && s.hook != nil {
		s.hook.notifyEvent(WebhookEvent{Event: "defect", Source: source, File: file, Prediction: p})
	}
}

// Close drains every model's queue and stops the webhook (waiting at most
// a few seconds for its pending deliveries). Call it after the HTTP server
// has shut down.
func (s *Server) Close() {
	for _, st := range s.stationList() {
		st.cur.Load().b.close()
	}
	if s.hook != nil {
		s.hook.close(5 * time.Second)
	}
}

// discard drains and closes a body so that the connection can be reused.
func discard(r io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(r, 1<<16))
	r.Close()
}
