package server

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/jpeg"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/image/draw"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/report"
)

// recent keeps the last predictions of every client for the live view,
// and the latencies for its percentiles.
type recent struct {
	mu        sync.Mutex
	next      uint64
	items     []recentItem // oldest first, at most keep
	keep      int
	latencies []float64 // ring of the last len(latencies) latencies
	nLat      int
	total     uint64
	defects   uint64
}

// recentItem is one prediction with a thumbnail (a JPEG data URL).
type recentItem struct {
	*Prediction
	Thumbnail string `json:"thumbnail"`
}

func newRecent(keep, latencies int) *recent {
	return &recent{keep: keep, latencies: make([]float64, latencies)}
}

// add numbers p and keeps it.
func (rc *recent) add(p *Prediction, thumb string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.next++
	p.ID = rc.next
	q := *p
	q.Heatmap = "" // too large to keep
	rc.items = append(rc.items, recentItem{&q, thumb})
	if len(rc.items) > rc.keep {
		rc.items = slices.Delete(rc.items, 0, len(rc.items)-rc.keep)
	}
	rc.latencies[rc.nLat%len(rc.latencies)] = p.LatencyMs
	rc.nLat++
	rc.total++
	if p.Defect {
		rc.defects++
	}
}

// Stats summarises the predictions since the server started.
type Stats struct {
	Predictions uint64  `json:"predictions"`
	Defects     uint64  `json:"defects"`
	DefectRate  float64 `json:"defect_rate"`
	// P50Ms, P95Ms and P99Ms are latency percentiles over the last
	// predictions (up to 1000).
	P50Ms float64 `json:"p50_ms"`
	P95Ms float64 `json:"p95_ms"`
	P99Ms float64 `json:"p99_ms"`
}

// since returns the kept predictions numbered above after, and the stats.
func (rc *recent) since(after uint64) ([]recentItem, Stats) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []recentItem
	for _, it := range rc.items {
		if it.ID > after {
			out = append(out, it)
		}
	}
	st := Stats{Predictions: rc.total, Defects: rc.defects}
	if rc.total > 0 {
		st.DefectRate = float64(rc.defects) / float64(rc.total)
	}
	lat := slices.Clone(rc.latencies[:min(rc.nLat, len(rc.latencies))])
	slices.Sort(lat)
	st.P50Ms, st.P95Ms, st.P99Ms = Percentile(lat, 0.50), Percentile(lat, 0.95), Percentile(lat, 0.99)
	return out, st
}

// Percentile returns the q-quantile (0 <= q <= 1) of sorted values by the
// nearest-rank method (0 for no values).
func Percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

// recentHandler answers GET /v1/recent?after=ID: the newer predictions, the
// stats and the models.
func (s *Server) recentHandler(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	items, st := s.recent.since(after)
	if items == nil {
		items = []recentItem{}
	}
	writeJSON(w, 200, map[string]any{"predictions": items, "stats": st, "models": s.Models()})
}

// thumbnail is img scaled to at most 96 pixels a side, as a JPEG data URL.
func thumbnail(img *dataset.RGB) string {
	src := report.ToRGBA(img)
	scale := 96 / float64(max(img.W, img.H))
	if scale > 1 {
		scale = 1
	}
	w, h := max(int(float64(img.W)*scale), 1), max(int(float64(img.H)*scale), 1)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, dst, &jpeg.Options{Quality: 75}); err != nil {
		return ""
	}
	return "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}
