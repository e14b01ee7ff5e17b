// Package bench compares CRD with the nearest-neighbour (PatchCore) baseline
// on one MVTec-layout category: features are extracted once, then every
// method is trained and evaluated on the same features, and timed.
package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/crd-ad/crd/crd"
	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/detector"
	"github.com/crd-ad/crd/internal/blas"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/knn"
	"github.com/crd-ad/crd/preprocess"
)

// Options configure Run.
type Options struct {
	// Backbone and Preprocess select the features (Preprocess.Crop = 0
	// keeps the backbone's default).
	Backbone   string
	Preprocess preprocess.Params
	// Solve are the CRD settings.
	Solve crd.SolveOptions
	// Coresets are the kNN coreset ratios to compare (1 = full bank).
	Coresets []float64
	// MaxTrain, when positive, uses a seeded random subset of that many
	// training images (the same for every method).
	MaxTrain int
	// Holdout is the fraction of the category's training images held out,
	// before MaxTrain, to calibrate every method as `crd train` does (the
	// per-position normalisation and the thresholds). 0 scores raw.
	Holdout float64
	// Lambdas, when set, adds a CRD lambda sensitivity sweep (same mode).
	Lambdas []float64
	// Fractions, when set, measures distance-step time and model size as
	// the training set grows (fractions of the training images).
	Fractions []float64
	// TimingImages bounds the test images the growth curve times per point.
	TimingImages int
	Seed         uint64
	Batch        int
	Progress     detector.Stage
	Log          func(format string, args ...any)
}

// Row is one method's line of the comparison table.
type Row struct {
	Method string `json:"method"`
	// TrainSeconds is the time to build the model from extracted features
	// (Gram matrix + solve, or memory bank + coreset).
	TrainSeconds float64 `json:"train_s"`
	// ModelBytes is the scorer's payload as deployed.
	ModelBytes int64 `json:"model_bytes"`
	// DistanceMs is the median per-image distance-step time; EndToEndMs the
	// median per-image time from decoded image to score and map (feature
	// extraction share + distance step + map).
	DistanceMs float64 `json:"distance_ms"`
	EndToEndMs float64 `json:"end_to_end_ms"`
	ImageAUROC float64 `json:"image_auroc"`
	PixelAUROC float64 `json:"pixel_auroc"`
	AUPRO      float64 `json:"aupro"`
	// Raw are the accuracy columns on raw patch scores, without the
	// per-position normalisation (equal to the above when Holdout is 0).
	Raw Accuracy `json:"raw"`
	// SpeedupVsCRD is this row's distance time over CRD's (how many times
	// slower than CRD); MemoryVsCRD its model size over CRD's.
	SpeedupVsCRD float64 `json:"distance_ratio_vs_crd"`
	MemoryVsCRD  float64 `json:"memory_ratio_vs_crd"`
}

// Accuracy is one evaluation's headline metrics.
type Accuracy struct {
	ImageAUROC float64 `json:"image_auroc"`
	PixelAUROC float64 `json:"pixel_auroc"`
	AUPRO      float64 `json:"aupro"`
}

// LambdaRow is one line of the lambda sensitivity sweep.
type LambdaRow struct {
	Lambda     float64 `json:"lambda"`
	Mode       string  `json:"lambda_mode"`
	LambdaAbs  float64 `json:"lambda_abs"`
	ImageAUROC float64 `json:"image_auroc"`
	PixelAUROC float64 `json:"pixel_auroc"`
	AUPRO      float64 `json:"aupro"`
	// Raw: the same without the per-position normalisation.
	Raw Accuracy `json:"raw"`
}

// GrowthPoint is one point of the growth curve.
type GrowthPoint struct {
	Method     string  `json:"method"`
	Images     int     `json:"images"`
	DistanceMs float64 `json:"distance_ms"`
	ModelBytes int64   `json:"model_bytes"`
}

// Report is the result of Run.
type Report struct {
	Category     string        `json:"category"`
	Backbone     string        `json:"backbone"`
	D            int           `json:"d"`
	Patches      int           `json:"patches_per_image"`
	TrainImages  int           `json:"train_images"`
	HeldOut      int           `json:"held_out_images"`
	TestImages   int           `json:"test_images"`
	ExtractMsMed float64       `json:"extract_ms_per_image"`
	Rows         []Row         `json:"methods"`
	Lambdas      []LambdaRow   `json:"lambdas,omitempty"`
	Growth       []GrowthPoint `json:"growth,omitempty"`
	BLAS         string        `json:"blas"`
	// FusedAVX512 reports whether crd's own AVX-512 kernels ran (the
	// convolutions, the Gram update, CRD scoring, and kNN where OpenBLAS
	// has no AVX-512 kernels).
	FusedAVX512   bool    `json:"fused_avx512"`
	ExtractSecond float64 `json:"extract_s"`
}

// features holds every image's d x P features in memory.
type features struct {
	train [][]float32
	held  [][]float32
	test  [][]float32
	dims  [][2]int // test images' original sizes
	gh    int
	gw    int
	perMs []float64 // extraction time per image
}

func extract(ctx context.Context, ext *detector.Extractor, paths []string, stage string, o *Options, keep func(i int, f []float32, w, h int)) ([]float64, int, int, error) {
	var per []float64
	gh, gw := 0, 0
	last := time.Now()
	n := 0
	err := ext.Run(ctx, paths, func(it *detector.Item) error {
		f := it.Features
		keep(it.Index, slices.Clone(f.Data), it.Image.W, it.Image.H)
		gh, gw = f.H, f.W
		n++
		now := time.Now()
		// Images of one batch arrive together: spread the batch's time.
		if k := n % ext.Batch; k == 0 || n == len(paths) {
			b := ext.Batch
			if k != 0 {
				b = k
			}
			for j := 0; j < b; j++ {
				per = append(per, float64(now.Sub(last).Microseconds())/1000/float64(b))
			}
			last = now
		}
		if o.Progress != nil {
			o.Progress(stage, n, len(paths))
		}
		return nil
	})
	return per, gh, gw, err
}

// Run extracts the features of cat once and compares the methods. It stops
// when ctx is done, with ctx's error.
func Run(ctx context.Context, cat *dataset.Category, o Options) (*Report, error) {
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	ext, err := detector.NewExtractor(o.Backbone, o.Preprocess)
	if err != nil {
		return nil, err
	}
	if o.Batch > 0 {
		ext.Batch = o.Batch
	}
	info := ext.Net.Info()
	trainPaths, heldPaths := detector.SplitHoldout(cat.Train, o.Holdout, o.Seed)
	if o.MaxTrain > 0 && o.MaxTrain < len(trainPaths) {
		r := rand.New(rand.NewPCG(o.Seed, 17))
		r.Shuffle(len(trainPaths), func(i, j int) { trainPaths[i], trainPaths[j] = trainPaths[j], trainPaths[i] })
		trainPaths = trainPaths[:o.MaxTrain]
		slices.Sort(trainPaths)
	}
	testPaths := make([]string, len(cat.Test))
	for i, s := range cat.Test {
		testPaths[i] = s.Path
	}
	t0 := time.Now()
	var fs features
	fs.train = make([][]float32, len(trainPaths))
	fs.test = make([][]float32, len(testPaths))
	fs.dims = make([][2]int, len(testPaths))
	per1, _, _, err := extract(ctx, ext, trainPaths, "extract train", &o, func(i int, f []float32, w, h int) { fs.train[i] = f })
	if err != nil {
		return nil, err
	}
	fs.held = make([][]float32, len(heldPaths))
	if _, _, _, err := extract(ctx, ext, heldPaths, "extract held-out", &o, func(i int, f []float32, w, h int) { fs.held[i] = f }); err != nil {
		return nil, err
	}
	per2, gh, gw, err := extract(ctx, ext, testPaths, "extract test", &o, func(i int, f []float32, w, h int) {
		fs.test[i] = f
		fs.dims[i] = [2]int{w, h}
	})
	if err != nil {
		return nil, err
	}
	fs.gh, fs.gw = gh, gw
	fs.perMs = append(per1, per2...)
	d := info.Dim()
	rep := &Report{Category: cat.Name, Backbone: info.Name, D: d, Patches: gh * gw, TrainImages: len(trainPaths),
		TestImages: len(testPaths), HeldOut: len(heldPaths), ExtractMsMed: median(fs.perMs), ExtractSecond: time.Since(t0).Seconds(), BLAS: blas.Backend + " (" + blas.CoreName() + ")", FusedAVX512: kernels.AVX512Supported()}
	logf("extracted features of %d training, %d held-out and %d test images in %s (%.0f ms per image)", len(trainPaths), len(heldPaths), len(testPaths),
		time.Since(t0).Round(time.Millisecond), rep.ExtractMsMed)
	// A detector of each method, uncalibrated, for the same features.
	assemble := func(m detector.Method) (*detector.Detector, error) {
		return detector.New(m, info.Name, ext.Preprocess)
	}

	// CRD.
	t1 := time.Now()
	acc := crd.NewAccumulator(d)
	for _, f := range fs.train {
		acc.Add(f, gh*gw)
	}
	cm, err := acc.Solve(o.Solve)
	if err != nil {
		return nil, err
	}
	crdRow := Row{Method: "crd", TrainSeconds: time.Since(t1).Seconds(), ModelBytes: cm.Bytes()}
	dc, err := assemble(cm)
	if err != nil {
		return nil, err
	}
	if err := evalRow(&crdRow, dc, cat, &fs, &o); err != nil {
		return nil, err
	}
	logf("crd: %s", rowSummary(crdRow))
	rep.Rows = append(rep.Rows, crdRow)

	// Lambda sweep on the same accumulator and features.
	for _, l := range o.Lambdas {
		so := o.Solve
		so.Lambda = l
		m, err := acc.Solve(so)
		if err != nil {
			return nil, err
		}
		var row Row
		dl, err := assemble(m)
		if err != nil {
			return nil, err
		}
		if err := evalRow(&row, dl, cat, &fs, &o); err != nil {
			return nil, err
		}
		rep.Lambdas = append(rep.Lambdas, LambdaRow{Lambda: l, Mode: string(so.Mode), LambdaAbs: m.Lambda,
			ImageAUROC: row.ImageAUROC, PixelAUROC: row.PixelAUROC, AUPRO: row.AUPRO, Raw: row.Raw})
		logf("lambda %g (%s): image AUROC %.4f, pixel AUROC %.4f, AUPRO %.4f", l, so.Mode, row.ImageAUROC, row.PixelAUROC, row.AUPRO)
	}

	// kNN.
	for _, ratio := range o.Coresets {
		t2 := time.Now()
		b := knn.NewBankBuilder(d, len(fs.train)*gh*gw)
		for _, f := range fs.train {
			b.Add(f, gh*gw)
		}
		km, err := b.Build(ctx, knn.CoresetOptions{Ratio: ratio, Seed: o.Seed,
			Progress: func(done, total int) {
				if o.Progress != nil {
					o.Progress(fmt.Sprintf("coreset %g", ratio), done, total)
				}
			}})
		if err != nil {
			return nil, err
		}
		row := Row{Method: fmt.Sprintf("knn %g%%", 100*ratio), TrainSeconds: time.Since(t2).Seconds(),
			ModelBytes: km.Bytes()}
		if ratio == 1 {
			row.Method = "knn full bank"
		}
		dk, err := assemble(km)
		if err != nil {
			return nil, err
		}
		if err := evalRow(&row, dk, cat, &fs, &o); err != nil {
			return nil, err
		}
		row.SpeedupVsCRD = row.DistanceMs / crdRow.DistanceMs
		row.MemoryVsCRD = float64(row.ModelBytes) / float64(crdRow.ModelBytes)
		logf("%s: %s", row.Method, rowSummary(row))
		rep.Rows = append(rep.Rows, row)
	}
	rep.Rows[0].SpeedupVsCRD, rep.Rows[0].MemoryVsCRD = 1, 1

	if len(o.Fractions) > 0 {
		g, err := growth(ctx, &fs, d, o)
		if err != nil {
			return nil, err
		}
		rep.Growth = g
	}
	return rep, nil
}

func rowSummary(r Row) string {
	return fmt.Sprintf("train %.1fs, %d bytes, distance %.2f ms/image, end-to-end %.1f ms/image, image AUROC %.4f, pixel AUROC %.4f, AUPRO %.4f",
		r.TrainSeconds, r.ModelBytes, r.DistanceMs, r.EndToEndMs, r.ImageAUROC, r.PixelAUROC, r.AUPRO)
}

// evalRow calibrates d on the held-out features, then scores every test
// image with d's scorer, timing the distance step and the map, and fills
// the accuracy columns, with and without the per-position normalisation.
func evalRow(row *Row, d *detector.Detector, cat *dataset.Category, fs *features, o *Options) error {
	sc := d.Method
	p := fs.gh * fs.gw
	if len(fs.held) > 0 {
		grids := make([][]float32, len(fs.held))
		for i, f := range fs.held {
			grids[i] = make([]float32, p)
			sc.Score(f, p, grids[i])
		}
		d.CalibrateGrids(grids, fs.gh, fs.gw, detector.ThresholdRule{Quantile: 1}, true)
	}
	raw := d.Raw()
	e, eRaw := d.NewEvaluator(cat), raw.NewEvaluator(cat)
	var dist, e2e []float64
	for i, f := range fs.test {
		grid := make([]float32, p)
		t0 := time.Now()
		sc.Score(f, p, grid)
		t1 := time.Now()
		rr := raw.FromGrid(slices.Clone(grid), fs.gh, fs.gw)
		t2 := time.Now()
		r := d.FromGrid(grid, fs.gh, fs.gw)
		t3 := time.Now()
		r.Index, r.Path = i, cat.Test[i].Path
		rr.Index, rr.Path = i, cat.Test[i].Path
		if _, err := e.Add(r, fs.dims[i][0], fs.dims[i][1]); err != nil {
			return err
		}
		if _, err := eRaw.Add(rr, fs.dims[i][0], fs.dims[i][1]); err != nil {
			return err
		}
		ms := float64(t1.Sub(t0).Microseconds()) / 1000
		dist = append(dist, ms)
		e2e = append(e2e, ms+float64(t3.Sub(t2).Microseconds())/1000+fs.perMs[len(fs.train)+i])
		if o.Progress != nil {
			o.Progress("score "+d.Method.Name(), i+1, len(fs.test))
		}
	}
	ev, evRaw := e.Finish(), eRaw.Finish()
	row.DistanceMs, row.EndToEndMs = median(dist), median(e2e)
	row.ImageAUROC, row.PixelAUROC, row.AUPRO = ev.Overall.ImageAUROC, ev.Overall.PixelAUROC, ev.Overall.AUPRO
	row.Raw = Accuracy{evRaw.Overall.ImageAUROC, evRaw.Overall.PixelAUROC, evRaw.Overall.AUPRO}
	return nil
}

// growth times the distance step and the model size of CRD and the full
// kNN bank on growing fractions of the training images.
func growth(ctx context.Context, fs *features, d int, o Options) ([]GrowthPoint, error) {
	p := fs.gh * fs.gw
	nt := min(max(o.TimingImages, 1), len(fs.test))
	var out []GrowthPoint
	grid := make([]float32, p)
	timeIt := func(sc detector.Method) float64 {
		var ts []float64
		for _, f := range fs.test[:nt] {
			t0 := time.Now()
			sc.Score(f, p, grid)
			ts = append(ts, float64(time.Since(t0).Microseconds())/1000)
		}
		return median(ts)
	}
	for _, frac := range o.Fractions {
		n := max(1, int(frac*float64(len(fs.train))+0.5))
		acc := crd.NewAccumulator(d)
		b := knn.NewBankBuilder(d, n*p)
		for _, f := range fs.train[:n] {
			acc.Add(f, p)
			b.Add(f, p)
		}
		cm, err := acc.Solve(o.Solve)
		if err != nil {
			return nil, err
		}
		km, err := b.Build(ctx, knn.CoresetOptions{Ratio: 1, Seed: o.Seed})
		if err != nil {
			return nil, err
		}
		out = append(out,
			GrowthPoint{Method: "crd", Images: n, DistanceMs: timeIt(cm), ModelBytes: cm.Bytes()},
			GrowthPoint{Method: "knn full bank", Images: n, DistanceMs: timeIt(km), ModelBytes: km.Bytes()})
		if o.Log != nil {
			o.Log("growth: %d images: crd %.2f ms, knn %.2f ms", n, out[len(out)-2].DistanceMs, out[len(out)-1].DistanceMs)
		}
	}
	return out, nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
