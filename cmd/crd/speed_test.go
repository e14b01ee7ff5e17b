package main

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
)

var (
	speedData   = flag.String("speed-data", "../../../shared/data/ball_screw", "MVTec-layout category for BenchmarkPredictShare")
	speedImages = flag.Int("speed-images", 100, "test images per round of BenchmarkPredictShare")
)

// BenchmarkPredictShare measures in one run, in interleaved rounds (one per
// iteration: run it with -benchtime 5x or more), the default backbone's trunk
// alone and `crd predict` end to end on the first -speed-images test images
// of -speed-data (default: the ball_screw development data), with and without
// --out, and reports the medians over the rounds: the trunk's images/s, the
// two predict rates, and the share of predict's time spent outside the trunk
// (1 - predict rate / trunk rate; the CLI's start, the model and backbone
// loading included). A model is trained on 24 of the training images first.
//
//	go test -run '^$' -bench PredictShare -benchtime 5x ./cmd/crd
func BenchmarkPredictShare(b *testing.B) {
	// Absolute, for the symlinks below (a relative target would be taken
	// relative to the link's folder).
	data, err := filepath.Abs(*speedData)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "test")); err != nil {
		b.Skipf("no development data: %v", err)
	}
	net, err := backbone.Load("inception_v3")
	if err != nil {
		b.Skipf("inception_v3 weights: %v", err)
	}
	train, err := dataset.ListImages(filepath.Join(data, "train", "good"))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	good := filepath.Join(dir, "good")
	if err := os.Mkdir(good, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, p := range train[:min(24, len(train))] {
		if err := os.Symlink(p, filepath.Join(good, filepath.Base(p))); err != nil {
			b.Fatal(err)
		}
	}
	model := filepath.Join(dir, "m.crd")
	if code, _, stderr := capture(b, "train", "--data", good, "-o", model, "--quiet"); code != 0 {
		b.Fatalf("train: %s", stderr)
	}
	var tests []string
	for _, sub := range []string{"good", "pitting"} {
		imgs, _ := dataset.ListImages(filepath.Join(data, "test", sub))
		tests = append(tests, imgs...)
	}
	if len(tests) == 0 {
		b.Skip("no test images")
	}
	tests = tests[:min(*speedImages, len(tests))]
	// The trunk's input batches, decoded and preprocessed once.
	pre := net.Info().Preprocess
	c := pre.Crop
	var batches []*nn.Tensor
	for i := 0; i < len(tests); i += 8 {
		x := nn.NewTensor(min(8, len(tests)-i), 3, c, c)
		for k := range x.N {
			img, err := dataset.LoadImage(tests[i+k])
			if err != nil {
				b.Fatal(err)
			}
			preprocess.Image(img, pre, x.Data[k*3*c*c:(k+1)*3*c*c])
		}
		batches = append(batches, x)
	}
	// rate runs f and returns its images/s; cpu collects its CPU seconds
	// (user and system, of the whole process), which a busy machine
	// disturbs less than the wall clock.
	rate := func(cpu *[]float64, f func()) float64 {
		c0 := cpuSeconds()
		t0 := time.Now()
		f()
		s := time.Since(t0).Seconds()
		*cpu = append(*cpu, cpuSeconds()-c0)
		return float64(len(tests)) / s
	}
	predict := func(args ...string) func() {
		return func() {
			if code, _, stderr := capture(b, append([]string{"predict", "-m", model, "--quiet"}, append(args, tests...)...)...); code != 0 {
				b.Fatalf("predict: %s", stderr)
			}
		}
	}
	var trunk, plain, withOut, trunkCPU, plainCPU, outCPU []float64
	b.ResetTimer()
	for i := range b.N {
		trunk = append(trunk, rate(&trunkCPU, func() {
			for _, x := range batches {
				if _, err := net.Forward(x); err != nil {
					b.Fatal(err)
				}
			}
		}))
		plain = append(plain, rate(&plainCPU, predict()))
		withOut = append(withOut, rate(&outCPU, predict("--out", filepath.Join(dir, "out", string(rune('a'+i%26))))))
	}
	med := func(v []float64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
	}
	b.ReportMetric(med(trunk), "trunk-images/s")
	b.ReportMetric(med(plain), "predict-images/s")
	b.ReportMetric(med(withOut), "out-images/s")
	// The shares are per round (same-round ratios), then their median.
	share := func(p []float64) float64 {
		s := make([]float64, len(p))
		for i := range p {
			s[i] = 1 - p[i]/trunk[i]
		}
		return med(s)
	}
	b.ReportMetric(100*share(plain), "%non-trunk")
	b.ReportMetric(100*share(withOut), "%non-trunk-out")
	cpuShare := func(p []float64) float64 {
		s := make([]float64, len(p))
		for i := range p {
			s[i] = 1 - trunkCPU[i]/p[i]
		}
		return med(s)
	}
	b.ReportMetric(100*cpuShare(plainCPU), "%non-trunk-cpu")
	b.ReportMetric(100*cpuShare(outCPU), "%non-trunk-out-cpu")
	b.ReportMetric(0, "ns/op")
}

// cpuSeconds is the CPU time the process has used so far.
func cpuSeconds() float64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()).Seconds()
}
