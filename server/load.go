package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"
)

// LoadOptions configure Load, a load generator for a crd server on the
// loopback interface.
type LoadOptions struct {
	// URL is the predict endpoint; its host must be a loopback address.
	URL string
	// Token is sent as a bearer token when set.
	Token string
	// Images are the encoded images the clients send, in turn.
	Images [][]byte
	// Clients is the number of concurrent clients, each sending one
	// request after the other.
	Clients int
	// Requests bounds the total number of requests and Duration the time;
	// the run stops at the first bound reached (both must be set).
	Requests int
	Duration time.Duration
	// Junk is the fraction of requests (0 to 1) whose body is not an
	// image: random bytes, a truncated image, or an empty body.
	Junk float64
	// Seed fixes which requests are junk.
	Seed uint64
	// Sample, when set, is called about every 100ms during the run (for
	// example to record the server's memory).
	Sample func()
}

// LoadReport is what Load measured.
type LoadReport struct {
	Requests int     `json:"requests"`
	Seconds  float64 `json:"seconds"`
	// Throughput is the number of 200 answers per second.
	Throughput float64 `json:"throughput_per_s"`
	// P50Ms, P95Ms and P99Ms are the latencies of the 200 answers.
	P50Ms float64 `json:"p50_ms"`
	P95Ms float64 `json:"p95_ms"`
	P99Ms float64 `json:"p99_ms"`
	// Codes counts the answers by status code; TransportErrors the
	// requests that got no answer.
	Codes           map[int]int `json:"codes"`
	TransportErrors int         `json:"transport_errors"`
	// JunkSent is the number of junk bodies sent.
	JunkSent int `json:"junk_sent"`
	// Latencies are those of the 200 answers, sorted.
	Latencies []float64 `json:"-"`
}

// Load runs opts.Clients concurrent clients against opts.URL until
// opts.Requests requests have been sent or opts.Duration has passed.
func Load(ctx context.Context, opts LoadOptions) (*LoadReport, error) {
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("load: %s is not a loopback address", u.Host)
	}
	if opts.Clients <= 0 || opts.Requests <= 0 || opts.Duration <= 0 || len(opts.Images) == 0 {
		return nil, fmt.Errorf("load: need clients, a request count, a duration and images")
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: opts.Clients, MaxConnsPerHost: opts.Clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var (
		mu    sync.Mutex
		rep   = &LoadReport{Codes: map[int]int{}}
		lat   []float64
		next  int
		wg    sync.WaitGroup
		start = time.Now()
	)
	rng := rand.New(rand.NewPCG(opts.Seed, 1))
	// take hands out request numbers and decides junk under the lock.
	take := func() (int, bool, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= opts.Requests || ctx.Err() != nil {
			return 0, false, false
		}
		next++
		return next - 1, rng.Float64() < opts.Junk, true
	}
	if opts.Sample != nil {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					opts.Sample()
				}
			}
		}()
	}
	for c := 0; c < opts.Clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, junk, ok := take()
				if !ok {
					return
				}
				body, ct := opts.Images[i%len(opts.Images)], "application/octet-stream"
				if junk {
					body, ct = junkBody(i, body), "application/octet-stream"
				}
				t0 := time.Now()
				code, err := post(ctx, client, opts.URL, opts.Token, ct, body)
				ms := float64(time.Since(t0).Microseconds()) / 1000
				mu.Lock()
				rep.Requests++
				if junk {
					rep.JunkSent++
				}
				switch {
				case err != nil && ctx.Err() != nil: // cut short by the time bound
					rep.Requests--
				case err != nil:
					rep.TransportErrors++
				default:
					rep.Codes[code]++
					if code == 200 {
						lat = append(lat, ms)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	slices.Sort(lat)
	rep.Latencies = lat
	rep.Throughput = float64(len(lat)) / rep.Seconds
	rep.P50Ms, rep.P95Ms, rep.P99Ms = Percentile(lat, .5), Percentile(lat, .95), Percentile(lat, .99)
	return rep, nil
}

// junkBody is request i's junk: random bytes, the image cut in half, or
// nothing.
func junkBody(i int, img []byte) []byte {
	switch i % 3 {
	case 0:
		b := make([]byte, 4096)
		r := rand.New(rand.NewPCG(uint64(i), 2))
		for k := range b {
			b[k] = byte(r.Uint32())
		}
		return b
	case 1:
		return img[:len(img)/2]
	}
	return nil
}

func post(ctx context.Context, c *http.Client, url, token, ct string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", ct)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
