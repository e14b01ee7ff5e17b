package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/internal/cputime"
	"github.com/crd-ad/crd/server"
)

// serveBench is the report of `crd bench serve`.
type serveBench struct {
	Images int `json:"images"`
	// Rounds alternate a `crd predict` pass (its default batch, in this process)
	// and a pass of Clients concurrent clients through the server over the
	// same images, so that both see the same machine load.
	Rounds  int `json:"rounds"`
	Clients int `json:"clients"`
	// MaxBatch is the server's --max-batch.
	MaxBatch    int       `json:"max_batch"`
	PredictPerS []float64 `json:"predict_per_s_by_round"`
	ServePerS   []float64 `json:"serve_per_s_by_round"`
	// Ratio is the serve throughput over the predict throughput, all
	// rounds together; the percentiles are over all served requests.
	Ratio float64 `json:"serve_over_predict"`
	// PredictCPUms and ServeCPUms are the process's CPU time per image in
	// each mode (user and system, all rounds): unlike throughput, it hardly
	// depends on what else the machine runs.
	PredictCPUms float64 `json:"predict_cpu_ms_per_image"`
	ServeCPUms   float64 `json:"serve_cpu_ms_per_image"`
	// MeanBatch is the server's mean backbone batch over the rounds.
	MeanBatch float64     `json:"mean_batch"`
	P50Ms     float64     `json:"p50_ms"`
	P95Ms     float64     `json:"p95_ms"`
	P99Ms     float64     `json:"p99_ms"`
	Codes     map[int]int `json:"codes"`
	// Overload is the run at 4x the server's capacity (queue plus batch).
	Overload        *server.LoadReport `json:"overload"`
	OverloadClients int                `json:"overload_clients"`
	OverloadOK      bool               `json:"overload_only_200_503"`
	HealthyAfter    bool               `json:"healthy_after"`
	// Soak is the run with 10% junk bodies after a warm-up of a tenth of
	// its requests. RSS figures are in MiB; "start" and "end" are taken
	// after a garbage collection that returns free memory to the system.
	Soak            *server.LoadReport `json:"soak"`
	SoakOK          bool               `json:"soak_only_200_4xx_503"`
	RSSOverloadMiB  float64            `json:"rss_peak_overload_mib"`
	RSSSoakStartMiB float64            `json:"rss_soak_start_mib"`
	RSSSoakPeakMiB  float64            `json:"rss_peak_soak_mib"`
	RSSSoakEndMiB   float64            `json:"rss_soak_end_mib"`
	PeakRSSMiB      float64            `json:"process_peak_rss_mib"`
}

func runBenchServe(ctx context.Context, args []string) error {
	fs := newFlags("bench serve", "-m MODEL --data DIR [flags]", `  crd bench serve -m ball_screw.crd --data ../shared/data/ball_screw
  crd bench serve -m ball_screw.crd --data ../shared/data/ball_screw --images 32 --soak 500 --json
`)
	var model, data string
	var images, clients, rounds, queue, soak, maxBatch int
	var limit, maxWait time.Duration
	var asJSON bool
	fs.StringVar(&model, "m", "", "model file")
	fs.StringVar(&data, "data", "", "an MVTec AD layout category: its test images are sent")
	fs.IntVar(&images, "images", 32, "number of test images used (the first of each defect type in turn)")
	fs.IntVar(&clients, "clients", 8, "concurrent clients of the throughput run")
	fs.IntVar(&rounds, "rounds", 3, "predict/serve rounds of the throughput comparison")
	fs.IntVar(&queue, "queue", 32, "the server's queue size (the overload run uses 4 x (queue + 8) clients)")
	fs.IntVar(&soak, "soak", 2000, "requests of the soak run (10% junk bodies)")
	fs.IntVar(&maxBatch, "max-batch", server.DefaultMaxBatch, "the server's --max-batch")
	fs.DurationVar(&maxWait, "max-wait", 50*time.Millisecond, "the server's --max-wait")
	fs.DurationVar(&limit, "limit", 30*time.Minute, "time bound of each run")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if model == "" || data == "" {
		return usagef("-m MODEL and --data DIR are required")
	}
	if maxBatch < 1 {
		return usagef("--max-batch must be 1 or more, not %d", maxBatch)
	}
	paths, bodies, err := benchImages(data, images)
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	rep := &serveBench{Images: len(paths), Clients: clients, MaxBatch: maxBatch, Rounds: rounds, Codes: map[int]int{}}

	d, err := detector.Load(model)
	if err != nil {
		return err
	}
	if _, err := d.Predict(ctx, paths[0]); err != nil { // loads the backbone
		return err
	}
	s := server.New(server.Options{QueueSize: queue, MaxBatch: maxBatch, MaxWait: maxWait, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	defer s.Close()
	if err := s.AddModel("bench", model); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	base := "http://" + ln.Addr().String()
	load := func(o server.LoadOptions, peak *float64) (*server.LoadReport, error) {
		o.URL, o.Images, o.Duration = base+"/v1/predict", bodies, limit
		o.Sample = func() { *peak = max(*peak, rssMiB("VmRSS")) }
		r, err := server.Load(ctx, o)
		*peak = max(*peak, rssMiB("VmRSS"))
		return r, err
	}
	var unused float64
	if _, err := load(server.LoadOptions{Clients: clients, Requests: 2 * clients}, &unused); err != nil { // warm-up
		return err
	}

	var predSec, serveSec float64
	var predCPU, serveCPU time.Duration
	var served int
	var lat []float64
	for r := 0; r < rounds; r++ {
		t0, c0 := time.Now(), cputime.Process()
		if err := d.PredictFiles(ctx, paths, false, nil, func(*detector.Result) error { return nil }); err != nil {
			return err
		}
		sec := time.Since(t0).Seconds()
		predCPU += cputime.Process() - c0
		c0 = cputime.Process()
		predSec += sec
		rep.PredictPerS = append(rep.PredictPerS, float64(len(paths))/sec)
		lr, err := load(server.LoadOptions{Clients: clients, Requests: len(paths)}, &unused)
		if err != nil {
			return err
		}
		serveCPU += cputime.Process() - c0
		serveSec += lr.Seconds
		served += lr.Codes[200]
		lat = append(lat, lr.Latencies...)
		for c, n := range lr.Codes {
			rep.Codes[c] += n
		}
		rep.ServePerS = append(rep.ServePerS, lr.Throughput)
		logf("round %d: crd predict %.2f images/s, serve with %d clients %.2f images/s (p50 %.0f ms)",
			r+1, rep.PredictPerS[r], clients, lr.Throughput, lr.P50Ms)
	}
	rep.Ratio = (float64(served) / serveSec) / (float64(rounds*len(paths)) / predSec)
	rep.MeanBatch = meanBatch(s)
	rep.PredictCPUms = predCPU.Seconds() * 1000 / float64(rounds*len(paths))
	rep.ServeCPUms = serveCPU.Seconds() * 1000 / float64(max(served, 1))
	slices.Sort(lat)
	rep.P50Ms, rep.P95Ms, rep.P99Ms = server.Percentile(lat, .5), server.Percentile(lat, .95), server.Percentile(lat, .99)
	logf("serve/predict throughput %.2f; CPU per image: predict %.0f ms, serve %.0f ms; mean batch %.1f; serve latency p50 %.0f ms, p95 %.0f ms, p99 %.0f ms; codes %v",
		rep.Ratio, rep.PredictCPUms, rep.ServeCPUms, rep.MeanBatch, rep.P50Ms, rep.P95Ms, rep.P99Ms, rep.Codes)
	d = nil
	freeMemory()

	rep.OverloadClients = 4 * (queue + 8)
	if rep.Overload, err = load(server.LoadOptions{Clients: rep.OverloadClients, Requests: 2 * rep.OverloadClients}, &rep.RSSOverloadMiB); err != nil {
		return err
	}
	rep.OverloadOK = rep.Overload.TransportErrors == 0 && rep.Overload.Codes[200]+rep.Overload.Codes[503] == rep.Overload.Requests
	rep.HealthyAfter = healthy(base)
	logf("overload, %d clients: codes %v, transport errors %d, peak RSS %.0f MiB, healthy after: %v",
		rep.OverloadClients, rep.Overload.Codes, rep.Overload.TransportErrors, rep.RSSOverloadMiB, rep.HealthyAfter)

	warm := max(soak/10, 1)
	if _, err := load(server.LoadOptions{Clients: clients, Requests: warm, Junk: 0.1, Seed: 2}, &rep.RSSSoakPeakMiB); err != nil {
		return err
	}
	freeMemory()
	rep.RSSSoakStartMiB = rssMiB("VmRSS")
	if rep.Soak, err = load(server.LoadOptions{Clients: clients, Requests: soak - warm, Junk: 0.1, Seed: 1}, &rep.RSSSoakPeakMiB); err != nil {
		return err
	}
	freeMemory()
	rep.RSSSoakEndMiB = rssMiB("VmRSS")
	rep.SoakOK = rep.Soak.TransportErrors == 0
	for code := range rep.Soak.Codes {
		if code != 200 && code != 503 && (code < 400 || code >= 500) {
			rep.SoakOK = false
		}
	}
	rep.HealthyAfter = rep.HealthyAfter && healthy(base)
	rep.PeakRSSMiB = rssMiB("VmHWM")
	logf("soak, %d + %d requests (%d junk after the warm-up): codes %v, RSS %.0f MiB after the warm-up, peak %.0f MiB, %.0f MiB at the end",
		warm, rep.Soak.Requests, rep.Soak.JunkSent, rep.Soak.Codes, rep.RSSSoakStartMiB, rep.RSSSoakPeakMiB, rep.RSSSoakEndMiB)
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Printf("serve/predict throughput %.2f, overload only 200/503: %v, healthy after: %v, soak only 200/4xx/503: %v, process peak RSS %.0f MiB\n",
		rep.Ratio, rep.OverloadOK, rep.HealthyAfter, rep.SoakOK, rep.PeakRSSMiB)
	return nil
}

// meanBatch is the mean of the server's crd_batch_size histogram (the
// warm-up included).
func meanBatch(s *server.Server) float64 {
	mfs, err := s.Registry().Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() != "crd_batch_size" {
			continue
		}
		var sum float64
		var n uint64
		for _, m := range mf.GetMetric() {
			sum += m.GetHistogram().GetSampleSum()
			n += m.GetHistogram().GetSampleCount()
		}
		if n > 0 {
			return sum / float64(n)
		}
	}
	return 0
}

// freeMemory collects garbage and returns free memory to the system, so
// that RSS shows what is live.
func freeMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// benchImages takes n test images of the category, cycling through the
// defect types, and reads them.
func benchImages(dir string, n int) ([]string, [][]byte, error) {
	cat, err := dataset.OpenCategory(dir)
	if err != nil {
		return nil, nil, err
	}
	byType := map[string][]string{}
	var types []string
	for _, s := range cat.Test {
		if _, ok := byType[s.Defect]; !ok {
			types = append(types, s.Defect)
		}
		byType[s.Defect] = append(byType[s.Defect], s.Path)
	}
	var paths []string
	for i := 0; len(paths) < n; i++ {
		added := false
		for _, t := range types {
			if i < len(byType[t]) && len(paths) < n {
				paths = append(paths, byType[t][i])
				added = true
			}
		}
		if !added {
			break
		}
	}
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("%s has no test images", dir)
	}
	bodies := make([][]byte, len(paths))
	for i, p := range paths {
		if bodies[i], err = os.ReadFile(p); err != nil {
			return nil, nil, err
		}
	}
	return paths, bodies, nil
}

// healthy reports whether /healthz answers 200.
func healthy(base string) bool {
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

var rssOnce sync.Once

// rssMiB reads a memory line of /proc/self/status (VmRSS, VmHWM) in MiB;
// 0 where there is none.
func rssMiB(key string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		rssOnce.Do(func() { fmt.Fprintln(os.Stderr, "warning: no /proc/self/status: RSS is not reported") })
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == key {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}
