package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/nn"
)

// trunkBench is the result of `crd bench --trunk`: the backbone's forward
// pass alone on a random batch, timed over rounds.
type trunkBench struct {
	Backbone string `json:"backbone"`
	Weights  string `json:"weights"` // "random" or "cached"
	Size     int    `json:"size"`
	Batch    int    `json:"batch"`
	Threads  int    `json:"threads"`
	// Precision says how the convolutions ran (precisionRuns).
	Precision string `json:"precision"`
	// ImagesPerS is each round's rate; Median their median.
	ImagesPerS []float64 `json:"images_per_s"`
	Median     float64   `json:"median_images_per_s"`
	// GFLOPs is the convolutions' arithmetic rate at the median (2 flops per
	// multiply-accumulate).
	GFLOPs float64 `json:"gflops"`
	// Layers is the per-step profile (--profile-layers): each step's median
	// time over the rounds.
	Layers []backbone.LayerTime `json:"layers,omitempty"`
}

// median returns the median of v (NaN-free, not empty).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}

// runTrunkBench times the named backbone's trunk in precision prec: one
// warm-up pass, then rounds passes on the same random batch. With layers
// each pass is timed step by step.
func runTrunkBench(ctx context.Context, name string, size, batch, rounds int, random, layers bool, prec nn.Precision) (*trunkBench, error) {
	info, err := backbone.Lookup(name)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		size = info.Preprocess.Crop
	}
	res := &trunkBench{Backbone: info.Name, Weights: "random", Size: size, Batch: batch, Threads: runtime.GOMAXPROCS(0),
		Precision: precisionRuns(prec)}
	var net backbone.Backbone
	if random {
		net, err = backbone.NewRandom(info.Name, 1)
	} else {
		net, err = backbone.Load(info.Name)
		res.Weights = "cached"
	}
	if err == nil {
		err = backbone.SetPrecision(net, prec)
	}
	if err != nil {
		return nil, err
	}
	x := nn.NewTensor(batch, 3, size, size)
	r := rand.New(rand.NewPCG(2, 3))
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	prof, _ := net.(backbone.Profiler)
	var steps [][]backbone.LayerTime
	pass := func() error {
		if !layers || prof == nil {
			_, err := net.Forward(x)
			return err
		}
		var s []backbone.LayerTime
		_, err := prof.ForwardProfile(x, func(l backbone.LayerTime) { s = append(s, l) })
		steps = append(steps, s)
		return err
	}
	if err := pass(); err != nil {
		return nil, err
	}
	steps = nil
	var macs int64
	for range rounds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := pass(); err != nil {
			return nil, err
		}
		res.ImagesPerS = append(res.ImagesPerS, float64(batch)/time.Since(t0).Seconds())
	}
	res.Median = median(res.ImagesPerS)
	if m, ok := net.(interface{ MACs(h, w int) int64 }); ok {
		macs = m.MACs(size, size)
		res.GFLOPs = 2 * float64(macs) * res.Median / 1e9
	}
	if len(steps) > 0 {
		for i, l := range steps[0] {
			ts := make([]float64, len(steps))
			for k := range steps {
				ts[k] = float64(steps[k][i].Time)
			}
			l.Time = time.Duration(median(ts))
			res.Layers = append(res.Layers, l)
		}
	}
	return res, nil
}

// printLayers writes the per-step profile as a table: time, share of the
// pass and GFLOP/s per step, then the totals per kind.
func printLayers(w io.Writer, b *trunkBench) {
	var total time.Duration
	for _, l := range b.Layers {
		total += l.Time
	}
	fmt.Fprintf(w, "%s @%d, batch %d, %d threads, %s weights: per-step medians over %d rounds\n\n", b.Backbone, b.Size, b.Batch, b.Threads, b.Weights, len(b.ImagesPerS))
	fmt.Fprintf(w, "| step | kind | output NxHxWxC | ms | share | GFLOP/s |\n|---|---|---|---:|---:|---:|\n")
	kinds := map[string]time.Duration{}
	kindMACs := map[string]int64{}
	var order []string
	for _, l := range b.Layers {
		if _, ok := kinds[l.Kind]; !ok {
			order = append(order, l.Kind)
		}
		kinds[l.Kind] += l.Time
		kindMACs[l.Kind] += l.MACs
		fmt.Fprintf(w, "| %s | %s | %s | %.3f | %.1f%% | %s |\n", l.Name, l.Kind, l.Out, ms(l.Time), share(l.Time, total), gflops(l.MACs, l.Time))
	}
	fmt.Fprintf(w, "\n| kind | ms | share | GFLOP/s |\n|---|---:|---:|---:|\n")
	for _, k := range order {
		fmt.Fprintf(w, "| %s | %.3f | %.1f%% | %s |\n", k, ms(kinds[k]), share(kinds[k], total), gflops(kindMACs[k], kinds[k]))
	}
	fmt.Fprintf(w, "| total | %.3f | 100%% | %s |\n", ms(total), gflops(sumMACs(b.Layers), total))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func share(d, total time.Duration) float64 { return 100 * float64(d) / float64(max(total, 1)) }

func gflops(macs int64, d time.Duration) string {
	if macs == 0 || d <= 0 {
		return ""
	}
	return fmt.Sprintf("%.1f", 2*float64(macs)/d.Seconds()/1e9)
}

func sumMACs(ls []backbone.LayerTime) int64 {
	var s int64
	for _, l := range ls {
		s += l.MACs
	}
	return s
}

// writeTrunkBench prints the result: JSON, or a line (and the profile).
func writeTrunkBench(b *trunkBench, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(b)
	}
	fmt.Printf("%s @%d batch %d (%s weights, %d threads, %s): %.2f images/s median of %d rounds, %.1f GFLOP/s\n",
		b.Backbone, b.Size, b.Batch, b.Weights, b.Threads, b.Precision, b.Median, len(b.ImagesPerS), b.GFLOPs)
	if len(b.Layers) > 0 {
		fmt.Println()
		printLayers(os.Stdout, b)
	}
	return nil
}
