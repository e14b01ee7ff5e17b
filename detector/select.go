package detector

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/internal/parallel"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/selection"
	"github.com/crd-ad/crd/synth"
)

// NormMode is a per-position normalisation of patch scores (see
// CalibrateGrids).
type NormMode string

const (
	// NormOff keeps raw patch scores.
	NormOff NormMode = "off"
	// NormOn divides every patch score by the held-out normal mean at its
	// grid position.
	NormOn NormMode = "on"
	// NormShrunk divides by that mean shrunk halfway toward the mean over
	// all positions (see Shrink).
	NormShrunk NormMode = "shrunk"
)

// NormModes are the normalisations training chooses among, the default
// (used without held-out images) first.
func NormModes() []NormMode { return []NormMode{NormOn, NormOff, NormShrunk} }

// ParseNormMode reads "off", "on" or "shrunk".
func ParseNormMode(s string) (NormMode, error) {
	for _, m := range NormModes() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("normalisation %q: want off, on or shrunk", s)
}

// DefaultLambdaFactors is the relative grid of CRD regularisers training
// chooses among: multiples of the lambda given, that lambda first.
func DefaultLambdaFactors() []float64 { return []float64{1, 0.3, 3} }

// SelectZ is the confidence with which a candidate must beat the current
// pick on the synthetic set to displace it (see selection.Better): its
// paired per-image differences must average more than SelectZ standard
// errors above zero. The synthetic set has a few dozen images, and a
// smaller lead is noise; one-sided, 2 standard errors is about 98%.
const SelectZ = 2.0

// MinSelectImages is the fewest held-out images training chooses settings
// on; with fewer, the figures are noise and the default candidate is kept.
const MinSelectImages = 10

// Candidate is one setting that training scores on synthetic defects.
type Candidate struct {
	Norm NormMode
	// LambdaFactor multiplies the lambda given (0 for kNN).
	LambdaFactor float64
	// Scorer indexes the scorers of the validation grids.
	Scorer int
}

// String names the candidate, for example "norm=on lambda=1x".
func (c Candidate) String() string {
	if c.LambdaFactor == 0 {
		return "norm=" + string(c.Norm)
	}
	return fmt.Sprintf("norm=%s lambda=%gx", c.Norm, c.LambdaFactor)
}

// DefaultSyntheticStrength is the range of the strength a of synthetic defects:
// a painted pixel becomes original + a (painted - original), a drawn
// uniformly in the range. At full strength (contrast 0.15 to 0.3) every
// candidate finds the defects alike, and the figures cannot tell the
// candidates apart: on ball_screw the synthetic pixel AUROC of raw and
// normalised scores differed by 0.1 where the real test set's differs by 9
// points. Faded to a quarter to a half, the defects sit near the detection
// limit, where the candidates differ (docs/accuracy.md).
func DefaultSyntheticStrength() [2]float64 { return [2]float64{0.25, 0.5} }

// DefaultSyntheticPerImage is how many synthetic defects training paints
// on each held-out image, each on its own copy. With one, a screw category
// of 32 held-out images gave 32 defects, too few to tell a 1.3-point AUPRO
// lead from noise (docs/accuracy.md); four halve the standard error at the
// cost of three more backbone passes per held-out image.
const DefaultSyntheticPerImage = 4

// SyntheticSet paints per defects onto copies of each image: copy k of
// image i is out[i*per+k], of the kind synth.PaintKinds()[(i*per+k) mod
// the number of kinds] (a cutpaste patch comes from another image), with an
// area drawn log-uniformly between 0.1% and 1% of the image (130 to 1300
// pixels on a 565 x 230 image). Each copy is fully determined by seed, i
// and k. The masks are brought to the network's input space with pre.
func SyntheticSet(imgs []*dataset.RGB, pre preprocess.Params, seed uint64, strength [2]float64, per int) ([]*dataset.RGB, [][]bool, error) {
	return syntheticSet(imgs, func(m *dataset.Mask) []bool { return preprocess.Mask(m, pre).Pix }, seed, strength, per)
}

// syntheticSet is SyntheticSet with the masks brought to the input space
// by toInput.
func syntheticSet(imgs []*dataset.RGB, toInput func(*dataset.Mask) []bool, seed uint64, strength [2]float64, per int) ([]*dataset.RGB, [][]bool, error) {
	kinds := synth.PaintKinds()
	per = max(per, 1)
	out := make([]*dataset.RGB, len(imgs)*per)
	masks := make([][]bool, len(imgs)*per)
	errs := make([]error, len(imgs)*per)
	// Each defect draws from its own generator, so they are painted on all
	// cores in any order.
	parallel.For(len(out), 0, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			out[q], masks[q], errs[q] = paintOne(imgs, q/per, q%per, per, kinds, toInput, seed, strength)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return out, masks, nil
}

// paintOne is syntheticSet's k-th defect (of per) on imgs[i], drawn from
// its own generator.
func paintOne(imgs []*dataset.RGB, i, k, per int, kinds []string, toInput func(*dataset.Mask) []bool, seed uint64, strength [2]float64) (*dataset.RGB, []bool, error) {
	src := imgs[i]
	r := rand.New(rand.NewPCG(seed, 0x73796e74<<16|uint64(i)|uint64(k)<<48))
	img := &dataset.RGB{W: src.W, H: src.H, Pix: slices.Clone(src.Pix)}
	d := imgs[(i+1+k)%len(imgs)]
	var donor *synth.Image
	if d.W == src.W && d.H == src.H && d != src {
		donor = &synth.Image{W: d.W, H: d.H, Pix: d.Pix}
	}
	area := float64(src.W*src.H) * 1e-3 * math.Pow(10, r.Float64())
	kind := kinds[(i*per+k)%len(kinds)]
	m, err := synth.Paint(r, kind, synth.Image{W: img.W, H: img.H, Pix: img.Pix}, donor, area)
	if err != nil {
		return nil, nil, err
	}
	// Fade the defect toward the original image.
	a := float32(strength[0] + (strength[1]-strength[0])*r.Float64())
	n := img.W * img.H
	for j, in := range m {
		if in {
			for c := 0; c < 3; c++ {
				q := c*n + j
				img.Pix[q] = src.Pix[q] + a*(img.Pix[q]-src.Pix[q])
			}
		}
	}
	return img, toInput(&dataset.Mask{W: img.W, H: img.H, Pix: m}), nil
}

// ValidationGrids are patch-score grids of held-out normal images and of
// synthetic defects painted on them: Normal[s][i] is normal image i's gh x
// gw grid under scorer s, and Defect[s][i*PerImage+k] that of the k-th
// defect painted on it, with mask Masks[i*PerImage+k] in the network's
// input space.
type ValidationGrids struct {
	Normal, Defect [][][]float32
	Masks          [][]bool
	GH, GW         int
	PerImage       int
}

// per is the number of defects per normal image (1 in grids that predate
// PerImage).
func (v *ValidationGrids) per() int { return max(v.PerImage, 1) }

// ScoreValidation computes the validation grids of held-out normal images
// (decoded) under each scorer: the images and their synthetic defects
// (SyntheticSet with seed, strength and per) go through the backbone once,
// and every scorer scores the same features. It stops when ctx is done.
func (d *Detector) ScoreValidation(ctx context.Context, imgs []*dataset.RGB, scorers []Method, seed uint64, strength [2]float64, per int, progress Stage) (*ValidationGrids, error) {
	e, err := d.extractor()
	if err != nil {
		return nil, err
	}
	painted, masks, err := syntheticSet(imgs, d.InputMask, seed, strength, per)
	if err != nil {
		return nil, err
	}
	n := len(imgs)
	v := &ValidationGrids{Masks: masks, Normal: make([][][]float32, len(scorers)), Defect: make([][][]float32, len(scorers)), PerImage: max(per, 1)}
	for s := range scorers {
		v.Normal[s], v.Defect[s] = make([][]float32, n), make([][]float32, len(painted))
	}
	all := append(slices.Clone(imgs), painted...)
	// Two stages, as prediction's pipeline: the backbone runs the next
	// batch while the scorers score the last one.
	type batchOut struct {
		bf       batchFeatures
		from, to int
	}
	ch := make(chan batchOut, 1)
	scored := make(chan struct{})
	go func() {
		defer close(scored)
		for b := range ch {
			for k := 0; k < b.to-b.from; k++ {
				it := b.bf.item(k, e.tiles())
				i := b.from + k
				for s, sc := range scorers {
					var g []float32
					g, v.GH, v.GW = scoreTiles(sc, it)
					if i < n {
						v.Normal[s][i] = g
					} else {
						v.Defect[s][i-n] = g
					}
				}
			}
			e.recycle(b.bf)
			if progress != nil {
				progress("validate", b.to, len(all))
			}
		}
	}()
	err = e.validationFeatures(ctx, all, func(bf batchFeatures, from, to int) { ch <- batchOut{bf, from, to} }, scoreLayers(scorers...))
	close(ch)
	<-scored
	if err != nil {
		return nil, err
	}
	return v, nil
}

// validationFeatures runs the backbone on imgs, batch by batch, and hands
// each batch's features (to be recycled by the receiver) to out. It stops
// at the first error or when ctx is done.
func (e *Extractor) validationFeatures(ctx context.Context, imgs []*dataset.RGB, out func(bf batchFeatures, from, to int), layered bool) error {
	batch := e.imagesPerBatch()
	for from := 0; from < len(imgs); from += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		to := min(from+batch, len(imgs))
		_, errs, x := e.prepare(to-from, func(k int) (*dataset.RGB, error) {
			return imgs[from+k], e.fits(imgs[from+k], fmt.Sprintf("validation image %d", from+k+1))
		})
		if err := errors.Join(errs...); err != nil {
			return err
		}
		bf, err := e.features(x, layered)
		if err != nil {
			return err
		}
		out(bf, from, to)
	}
	return nil
}

// Validate scores candidate c on the validation grids: normal image i and
// the defects painted on it are all normalised leave-one-out, by the other
// normal images (as CalibrateGrids does), so that none sees itself. They
// are added to the validator in that order: normal image i, then its
// defects.
func (d *Detector) Validate(v *ValidationGrids, c Candidate) (*selection.Validator, selection.Figures, error) {
	loo, _ := divisors(v.Normal[c.Scorer], v.GH*v.GW, c.Norm)
	val := selection.NewValidator(FPRLimit)
	per := v.per()
	for i, g := range v.Normal[c.Scorer] {
		r := d.fromGrid(divided(g, loo[i]), v.GH, v.GW, nil)
		val.Add(r.Score, r.Map.Pix, nil)
		for k := i * per; k < (i+1)*per; k++ {
			r = d.fromGrid(divided(v.Defect[c.Scorer][k], loo[i]), v.GH, v.GW, nil)
			val.Add(r.Score, r.Map.Pix, v.Masks[k])
		}
	}
	f, err := val.Figures()
	return val, f, err
}

// selectAndCalibrate decodes the held-out images, scores them and
// synthetic defects painted on them with every candidate (each normalisation
// of opts.norms() under each scorer, scorers[k] being the model of
// factors[k] times the lambda given, or the one kNN model with factors
// nil), picks the map's and the image score's settings (see Choose),
// calibrates with them and records the choice. It returns the index of the
// picked scorer.
func (d *Detector) selectAndCalibrate(ctx context.Context, held []string, scorers []Method, factors []float64, opts TrainOptions) (int, error) {
	t0 := time.Now()
	var imgs []*dataset.RGB
	for _, p := range held {
		img, err := opts.Limits.LoadImage(p)
		if err == nil && d.ext != nil {
			err = d.ext.fits(img, p)
		}
		if err != nil {
			if !opts.SkipBad {
				return 0, err
			}
			if opts.Warn != nil {
				opts.Warn(err)
			}
			continue
		}
		imgs = append(imgs, img)
	}
	if len(imgs) == 0 {
		return 0, fmt.Errorf("calibrate: no readable held-out images")
	}
	norms, fixed := opts.norms(), opts.fixed()
	if len(imgs) < MinSelectImages {
		// Too few to choose: score the default candidate only.
		norms, scorers, fixed = norms[:1], scorers[:1], []string{"norm", "lambda"}
		opts.logf("only %d held-out images (fewer than %d): the settings are not chosen, the first candidate is kept", len(imgs), MinSelectImages)
	}
	per := opts.SyntheticPerImage
	if per <= 0 {
		per = DefaultSyntheticPerImage
	}
	v, err := d.ScoreValidation(ctx, imgs, scorers, opts.Seed, DefaultSyntheticStrength(), per, opts.Progress)
	if err != nil {
		return 0, err
	}
	t1 := time.Now()
	cands := Candidates(norms, factors, len(scorers))
	ch, err := d.Choose(v, cands)
	if err != nil {
		return 0, err
	}
	sel := &Selection{SyntheticImages: len(v.Masks), Fixed: fixed}
	for i, c := range cands {
		f := ch.Figures[i]
		sel.Candidates = append(sel.Candidates, CandidateFigures{Name: c.String(),
			ImageAUROC: f.ImageAUROC, AUPRO: f.AUPRO, Figure: f.Figure})
	}
	best, bestImg := ch.Map, ch.Image
	c, ci := cands[best], cands[bestImg]
	sel.Picked, sel.Norm, sel.LambdaFactor = c.String(), string(c.Norm), c.LambdaFactor
	sel.ImageNorm = string(ci.Norm)
	if ci.Norm != c.Norm {
		sel.Picked += ", image score norm=" + string(ci.Norm)
	}
	d.CalibrateModes(v.Normal[c.Scorer], v.GH, v.GW, opts.Threshold, c.Norm, ci.Norm)
	sel.CatchRate = ch.Validators[bestImg].CatchRate(d.Calibration.ImageThreshold)
	d.Selection = sel
	for i, cf := range sel.Candidates {
		mark := " "
		switch {
		case i == best && i == bestImg:
			mark = "*"
		case i == best:
			mark = "m" // the map's setting
		case i == bestImg:
			mark = "i" // the image score's
		}
		opts.logf("  %s %-24s image AUROC %.4f  AUPRO %.4f  figure %.4f", mark, cf.Name, cf.ImageAUROC, cf.AUPRO, cf.Figure)
	}
	opts.logf("selection on %d held-out images and %d synthetic defects: %s (features %s, %d candidates %s)",
		len(imgs), len(v.Masks), sel.Picked, since(t0), len(cands), since(t1))
	opts.logf("calibration: %s", d.CalibrationSummary())
	return c.Scorer, nil
}

// Candidates lists the candidates of normalisations norms under scorers
// of lambda factors (nil for kNN, with one scorer), from the least to the
// most departure from the default: the lambda given with each
// normalisation, then the other lambdas.
func Candidates(norms []NormMode, factors []float64, scorers int) []Candidate {
	var cands []Candidate
	for k := 0; k < scorers; k++ {
		for _, m := range norms {
			c := Candidate{Norm: m, Scorer: k}
			if factors != nil {
				c.LambdaFactor = factors[k]
			}
			cands = append(cands, c)
		}
	}
	return cands
}

// Choice is what Choose found: every candidate's validator and figures,
// and the indices of the candidate whose lambda and normalisation the map
// uses (Map) and of the one whose normalisation, under the same lambda, the
// image score uses (Image).
type Choice struct {
	Validators []*selection.Validator
	Figures    []selection.Figures
	// ImageValues and MapValues are each candidate's per-item values
	// (see pairValues) that the picks compared.
	ImageValues, MapValues [][]float64
	Map, Image             int
}

// Choose scores the candidates (the first the default, see Candidates) on
// the validation grids and picks the map's setting by the candidates'
// per-image AUPRO values, then the image score's normalisation among the
// candidates of the picked lambda by their image AUROC values, each time
// keeping the earlier candidate unless a later one is better by SelectZ
// standard errors (selection.Pick). AUPRO decides the lambda: it rests on
// every pixel of every defect, the image AUROC on one score per image.
func (d *Detector) Choose(v *ValidationGrids, cands []Candidate) (*Choice, error) {
	ch := &Choice{Validators: make([]*selection.Validator, len(cands)), Figures: make([]selection.Figures, len(cands)),
		ImageValues: make([][]float64, len(cands)), MapValues: make([][]float64, len(cands))}
	imgVals, pixVals := ch.ImageValues, ch.MapValues
	// The candidates are independent (each its own validator; the grids
	// are only read): validated on all cores.
	errs := make([]error, len(cands))
	parallel.For(len(cands), 0, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if ch.Validators[i], ch.Figures[i], errs[i] = d.Validate(v, cands[i]); errs[i] == nil {
				imgVals[i], pixVals[i] = pairValues(ch.Validators[i], v.per())
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	ch.Map = selection.Pick(pixVals, SelectZ)
	var same []int
	for i, c := range cands {
		if c.Scorer == cands[ch.Map].Scorer {
			same = append(same, i)
		}
	}
	ch.Image = same[selection.Pick(pick(imgVals, same), SelectZ)]
	return ch, nil
}

// pairValues are a candidate's per-image validation values, in groups of
// a held-out normal image and the per defects painted on it (as Validate
// adds them): for each group, the mean of the normal image's image AUROC
// placement value and its defects' mean one, and the mean of the defects'
// region values (see selection.Validator). Paired by held-out image, they
// let Choose compare two candidates image by image.
func pairValues(v *selection.Validator, per int) (img, pix []float64) {
	iv, rv := v.ImageValues(), v.RegionValues()
	for i := 0; i+per < len(iv); i += per + 1 {
		var u, p float64
		for k := i + 1; k <= i+per; k++ {
			u += iv[k]
			p += rv[k]
		}
		img = append(img, (iv[i]+u/float64(per))/2)
		pix = append(pix, p/float64(per))
	}
	return img, pix
}

// pick returns the elements of s at the indices idx.
func pick[T any](s []T, idx []int) []T {
	out := make([]T, len(idx))
	for k, i := range idx {
		out[k] = s[i]
	}
	return out
}

// CalibrationSummary says in a line what the thresholds are and what they
// are expected to do.
func (d *Detector) CalibrationSummary() string {
	c := d.Calibration
	if !d.Calibrated() {
		return "no thresholds"
	}
	norm := "raw scores"
	if c.PositionMean != nil {
		norm = fmt.Sprintf("scores divided by %d x %d per-position normal means", c.GridH, c.GridW)
	}
	switch {
	case c.ImageNorm == NormOff:
		norm = "map: " + norm + "; image score: raw"
	case c.ImageNorm != "":
		norm = fmt.Sprintf("map: %s; image score: divided by %d x %d per-position normal means (%s)", norm, c.GridH, c.GridW, c.ImageNorm)
	}
	s := fmt.Sprintf("%s, image threshold %.6g (%s on %d held-out images), pixel threshold %.6g", norm, c.ImageThreshold, c.ImageMethod, c.HeldOut, c.PixelThreshold)
	if fr := c.FalseReject; fr != nil {
		s += fmt.Sprintf("; expected false-reject rate %s", FormatRate(fr))
	}
	if sel := d.Selection; sel != nil && !math.IsNaN(sel.CatchRate) {
		s += fmt.Sprintf("; catches %.0f%% of %d synthetic defects", 100*sel.CatchRate, sel.SyntheticImages)
	}
	return s
}

// FormatRate writes a false-reject estimate as "1.2% (90% interval 0.4% to
// 3.1%, log-normal fit ...)".
func FormatRate(r *RateEstimate) string {
	pct := func(v float64) string {
		if v < 1e-4 {
			return "<0.01%"
		}
		return fmt.Sprintf("%.2g%%", 100*v)
	}
	return fmt.Sprintf("%s (90%% interval %s to %s, %s)", pct(r.Expected), pct(r.Low), pct(r.High), r.Fit)
}

// norms is the normalisations training tries: all of NormModes unless the
// options fix one.
func (o *TrainOptions) norms() []NormMode {
	switch {
	case o.RawScores:
		return []NormMode{NormOff}
	case o.Norm != "":
		return []NormMode{o.Norm}
	}
	return NormModes()
}

// lambdaFactors is the CRD lambda grid training tries.
func (o *TrainOptions) lambdaFactors() []float64 {
	if o.LambdaFactors == nil {
		return DefaultLambdaFactors()
	}
	return o.LambdaFactors
}

// fixed lists the settings the options fix.
func (o *TrainOptions) fixed() []string {
	var f []string
	if len(o.norms()) == 1 {
		f = append(f, "norm")
	}
	if len(o.lambdaFactors()) == 1 {
		f = append(f, "lambda")
	}
	return f
}

// imageNormFor is the image score's normalisation Calibrate uses: the
// options' when they fix one, else the one the model's selection picked
// for the image score, else normFor's.
func (o *TrainOptions) imageNormFor(d *Detector) NormMode {
	if s := d.Selection; len(o.norms()) > 1 && s != nil {
		if m, err := ParseNormMode(s.ImageNorm); err == nil {
			return m
		}
	}
	return o.normFor(d)
}

// normFor is the normalisation Calibrate uses: the options' when they fix
// one, else the one the model's selection picked, else NormOn.
func (o *TrainOptions) normFor(d *Detector) NormMode {
	if n := o.norms(); len(n) == 1 {
		return n[0]
	}
	if s := d.Selection; s != nil {
		if m, err := ParseNormMode(s.Norm); err == nil {
			return m
		}
	}
	return NormOn
}
