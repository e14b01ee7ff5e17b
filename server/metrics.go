package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors, on a registry of its own
// (so that several servers can live in one process).
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	batchSize *prometheus.HistogramVec
	scored    *prometheus.CounterVec
	defects   *prometheus.CounterVec
	scores    *prometheus.HistogramVec
	info      *prometheus.GaugeVec
	loadTime  *prometheus.GaugeVec
	reloads   *prometheus.CounterVec
	webhook   *prometheus.CounterVec
	watched   *prometheus.CounterVec
}

func newMetrics(queued func() map[string]int) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crd_http_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crd_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "crd_http_requests_in_flight",
			Help: "HTTP requests being served."}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crd_batch_size",
			Help: "Images per backbone batch.", Buckets: []float64{1, 2, 3, 4, 6, 8, 12, 16, 32}}, []string{"model"}),
		scored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crd_images_scored_total",
			Help: "Images scored, by model and source (http or watch)."}, []string{"model", "source"}),
		defects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crd_defects_total",
			Help: "Images flagged as defect, by model and source."}, []string{"model", "source"}),
		scores: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crd_normalized_score",
			Help:    "Normalised image scores (the threshold is at 0.5).",
			Buckets: []float64{.1, .2, .3, .4, .45, .5, .55, .6, .7, .8, .9, 1}}, []string{"model"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crd_model_info",
			Help: "The loaded model (always 1), with its checksum, method and backbone."},
			[]string{"model", "checksum", "method", "backbone"}),
		loadTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "crd_model_load_timestamp_seconds",
			Help: "When the serving model was loaded (Unix time)."}, []string{"model"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crd_model_reloads_total",
			Help: "Model reloads by result (ok or error)."}, []string{"model", "result"}),
		webhook: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crd_webhook_deliveries_total",
			Help: "Webhook notifications by result (ok, failed after retries, dropped when the buffer was full)."},
			[]string{"result"}),
		watched: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crd_watch_files_total",
			Help: "Files taken from the watched folder, by outcome (ok, defect, rejected)."}, []string{"outcome"}),
	}
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crd_queue_length",
		Help: "Images waiting for a batch, all models together."}, func() float64 {
		n := 0
		for _, q := range queued() {
			n += q
		}
		return float64(n)
	})
	m.reg.MustRegister(m.requests, m.latency, m.inFlight, m.batchSize, m.scored, m.defects, m.scores, m.info,
		m.loadTime, m.reloads, m.webhook, m.watched, queue,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
