// Package synth generates the built-in demo data set: a category in the MVTec AD layout, made of brushed-metal
// surfaces with three kinds of defect, fully determined by a seed.
//
// A surface is a stationary random texture: horizontal brushing streaks (smoothed 1-D noise along slightly tilted
// lines, modulated along their length), a sum of random-phase sinusoids of random orientation, fine per-pixel noise,
// a slight linear illumination gradient and a fixed steel tint. The defects are
//
//	scratch  a thin curved line (quadratic Bezier, 1.5 to 3.5 px wide), brighter or darker than the surface
//	spot     a blob with a wavy outline whose inside is a different, streak-free texture (rust-like or bright)
//	missing  an irregular polygon where the texture is replaced by a flat dark background
//
// Defect edges are anti-aliased by 4x4 supersampling; the ground-truth mask is exactly the set of pixels whose
// coverage is nonzero, which are the only pixels that differ from the defect-free surface. Defects lie in the
// central 70% of the image so that a centre crop keeps them.
//
// Each image has its own random streams, rand.NewPCG(Seed, stream), so an image does not depend on how many images
// come before it, and the output is byte-identical for a given Options on every platform.
package synth

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/crd-ad/crd/internal/parallel"
)

// defectTypes lists the defect types that Generate writes, in order.
var defectTypes = [...]string{"scratch", "spot", "missing"}

// DefectTypes returns the defect types that Generate writes, in order (a new
// slice on each call).
func DefectTypes() []string { return slices.Clone(defectTypes[:]) }

// Options sets the size and content of the generated category. Zero Size and counts mean the defaults; Seed is used
// as given (0 is a valid seed).
type Options struct {
	Seed         uint64
	Size         int // image width and height in pixels; default 256, at least 64
	NumTrain     int // train/good images; default 40
	NumTestGood  int // test/good images; default 10
	NumPerDefect int // test images per defect type; default 8
}

// DefaultOptions returns the default demo settings: seed 1, 256x256 images, 40 train, 10 test good and 8 of each
// defect type.
func DefaultOptions() Options {
	return Options{Seed: 1, Size: 256, NumTrain: 40, NumTestGood: 10, NumPerDefect: 8}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Size == 0 {
		o.Size = d.Size
	}
	if o.NumTrain == 0 {
		o.NumTrain = d.NumTrain
	}
	if o.NumTestGood == 0 {
		o.NumTestGood = d.NumTestGood
	}
	if o.NumPerDefect == 0 {
		o.NumPerDefect = d.NumPerDefect
	}
	return o
}

// Generate writes a category to dir:
//
//	dir/train/good/000.png ...
//	dir/test/good/000.png ...
//	dir/test/<defect>/000.png ...                 for each of DefectTypes()
//	dir/ground_truth/<defect>/000_mask.png ...    0 = normal, 255 = defect
//
// Images are 8-bit RGB PNGs. dir must not exist or be empty. The category is written to a temporary sibling folder
// and renamed into place, so dir never holds a partial data set.
func Generate(dir string, opts Options) error {
	o := opts.withDefaults()
	if o.Size < 64 || o.NumTrain < 0 || o.NumTestGood < 0 || o.NumPerDefect < 0 {
		return fmt.Errorf("synth: invalid options %+v (size must be at least 64, counts not negative)", opts)
	}
	if entries, err := os.ReadDir(dir); err == nil {
		if len(entries) > 0 {
			return fmt.Errorf("synth: %s already exists and is not empty", dir)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("synth: %w", err)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(dir)+".tmp-*")
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	if err := writeAll(tmp, o); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("synth: %w", err)
	}
	os.Remove(dir) // an empty folder in the way
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

func writeAll(root string, o Options) error {
	splits := []struct {
		folder string
		kind   kind
		n      int
	}{
		{"train/good", kindTrain, o.NumTrain},
		{"test/good", kindTestGood, o.NumTestGood},
	}
	for i, d := range defectTypes {
		splits = append(splits, struct {
			folder string
			kind   kind
			n      int
		}{"test/" + d, kindScratch + kind(i), o.NumPerDefect})
	}
	for _, s := range splits {
		if s.n == 0 {
			continue
		}
		imgDir := filepath.Join(root, filepath.FromSlash(s.folder))
		if err := os.MkdirAll(imgDir, 0o755); err != nil {
			return fmt.Errorf("synth: %w", err)
		}
		var gtDir string
		if s.kind.defective() {
			gtDir = filepath.Join(root, "ground_truth", s.kind.String())
			if err := os.MkdirAll(gtDir, 0o755); err != nil {
				return fmt.Errorf("synth: %w", err)
			}
		}
		job := func(i int) error {
			_, img, mask := render(o, s.kind, i)
			name := fmt.Sprintf("%03d", i)
			if err := writePNG(filepath.Join(imgDir, name+".png"), img); err != nil {
				return err
			}
			if gtDir != "" {
				return writePNG(filepath.Join(gtDir, name+"_mask.png"), mask)
			}
			return nil
		}
		// The images on all cores; the errors joined in index order.
		errs := make([]error, s.n)
		parallel.For(s.n, 0, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				errs[i] = job(i)
			}
		})
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

func writePNG(path string, m image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed} // noisy textures barely compress anyway
	if err := enc.Encode(f, m); err != nil {
		f.Close()
		return fmt.Errorf("synth: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("synth: writing %s: %w", path, err)
	}
	return nil
}

// kind says what an image is; it selects the random streams together with the image index.
type kind int

const (
	kindTrain kind = iota
	kindTestGood
	kindScratch
	kindSpot
	kindMissing
)

func (k kind) defective() bool { return k >= kindScratch }

func (k kind) String() string {
	switch k {
	case kindTrain:
		return "train"
	case kindTestGood:
		return "good"
	}
	return defectTypes[k-kindScratch]
}

// streams returns the two random generators of image idx of kind k: one for the surface, one for the defect.
func streams(seed uint64, k kind, idx int) (surface, defect *rand.Rand) {
	id := uint64(k)<<40 | uint64(idx)
	return rand.New(rand.NewPCG(seed, 2*id)), rand.New(rand.NewPCG(seed, 2*id+1))
}

// render draws image idx of kind k. It returns the defect-free surface, the image (the same as the surface for
// normal kinds) and the mask (nil for normal kinds).
func render(o Options, k kind, idx int) (clean, img *image.NRGBA, mask *image.Gray) {
	rs, rd := streams(o.Seed, k, idx)
	n := o.Size
	s := surface(rs, n)
	clean = s.toNRGBA()
	if !k.defective() {
		return clean, clean, nil
	}
	var cov []float64
	switch k {
	case kindScratch:
		cov = scratch(rd, s)
	case kindSpot:
		cov = spot(rd, s)
	case kindMissing:
		cov = missing(rd, s)
	}
	mask = image.NewGray(image.Rect(0, 0, n, n))
	for i, c := range cov {
		if c > 0 {
			mask.Pix[i] = 255
		}
	}
	return clean, s.toNRGBA(), mask
}

// field is a planar RGB float64 image in [0,1] (before clamping), n x n.
type field struct {
	n       int
	r, g, b []float64
}

// tint is the steel colour: a slightly bluish grey.
var tint = [3]float64{0.96, 1.0, 1.05}

func (f *field) toNRGBA() *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, f.n, f.n))
	for i := range f.r {
		m.Pix[4*i] = quant(f.r[i])
		m.Pix[4*i+1] = quant(f.g[i])
		m.Pix[4*i+2] = quant(f.b[i])
		m.Pix[4*i+3] = 255
	}
	return m
}

func quant(v float64) uint8 {
	return uint8(math.Round(255 * min(max(v, 0), 1)))
}

// surface draws a brushed-metal texture. All its random draws come from r.
func surface(r *rand.Rand, n int) *field {
	grey := make([]float64, n*n)

	// Brushing streaks: 1-D noise across the lines, sampled at 4 per pixel and smoothed, read along lines tilted by
	// a small slope, with a slow modulation of their strength along their length.
	const sub = 4
	slope := 0.03 * (2*r.Float64() - 1)
	pad := int(math.Ceil(math.Abs(slope)*float64(n))) + 4
	line := smooth1D(gaussNoise(r, (n+2*pad)*sub), 0.8*sub)
	line2 := smooth1D(gaussNoise(r, (n+2*pad)*sub), 6*sub)
	norm(line, 0.055)
	norm(line2, 0.03)
	modPhase, modFreq := 2*math.Pi*r.Float64(), (1+2*r.Float64())/float64(n)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			t := (float64(y) + slope*float64(x) + float64(pad)) * sub
			i := int(t)
			a := 1 + 0.35*math.Sin(2*math.Pi*modFreq*float64(x)+modPhase)
			grey[y*n+x] = a*line[i] + line2[i]
		}
	}

	// Random-phase sinusoids of random orientation, 1/64 to 1/10 cycles per pixel. Separable evaluation:
	// sin(u x + v y + p) = sin(u x) cos(v y + p) + cos(u x) sin(v y + p).
	sx, cx, sy, cy := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for k := 0; k < 10; k++ {
		f := (1.0 / 64) * math.Pow(64.0/10, r.Float64()) * 2 * math.Pi
		th := math.Pi * r.Float64()
		u, v, p := f*math.Cos(th), f*math.Sin(th), 2*math.Pi*r.Float64()
		amp := 0.012 + 0.01*r.Float64()
		for i := 0; i < n; i++ {
			sx[i], cx[i] = math.Sincos(u * float64(i))
			sy[i], cy[i] = math.Sincos(v*float64(i) + p)
		}
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				grey[y*n+x] += amp * (sx[x]*cy[y] + cx[x]*sy[y])
			}
		}
	}

	// Base level, illumination gradient, fine noise, tint.
	base := 0.52 + 0.04*(2*r.Float64()-1)
	gth := 2 * math.Pi * r.Float64()
	gs := 0.12 * r.Float64()
	gx, gy := gs*math.Cos(gth)/float64(n), gs*math.Sin(gth)/float64(n)
	f := &field{n: n, r: make([]float64, n*n), g: make([]float64, n*n), b: make([]float64, n*n)}
	c := float64(n-1) / 2
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			i := y*n + x
			light := 1 + gx*(float64(x)-c) + gy*(float64(y)-c)
			v := (base + grey[i] + 0.012*r.NormFloat64()) * light
			f.r[i] = v*tint[0] + 0.004*r.NormFloat64()
			f.g[i] = v*tint[1] + 0.004*r.NormFloat64()
			f.b[i] = v*tint[2] + 0.004*r.NormFloat64()
		}
	}
	return f
}

func gaussNoise(r *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	return v
}

// smooth1D convolves v with a Gaussian of the given sigma (in samples), clamping at the ends.
func smooth1D(v []float64, sigma float64) []float64 {
	rad := int(math.Ceil(3 * sigma))
	k := make([]float64, 2*rad+1)
	sum := 0.0
	for i := range k {
		d := float64(i - rad)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	out := make([]float64, len(v))
	for i := range v {
		acc := 0.0
		for j, w := range k {
			p := min(max(i+j-rad, 0), len(v)-1)
			acc += w * v[p]
		}
		out[i] = acc / sum
	}
	return out
}

// norm scales v to zero mean and the given standard deviation.
func norm(v []float64, std float64) {
	mean, sq := 0.0, 0.0
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		sq += (x - mean) * (x - mean)
	}
	s := std / math.Sqrt(sq/float64(len(v)))
	for i := range v {
		v[i] = (v[i] - mean) * s
	}
}

// coverage supersamples inside(x, y) (continuous pixel coordinates, pixel centres at +0.5) 4x4 per pixel over the
// box [x0,x1) x [y0,y1), clipped to the w x h image, and returns the w*h coverage in [0,1].
func coverage(w, h, x0, y0, x1, y1 int, inside func(x, y float64) bool) []float64 {
	cov := make([]float64, w*h)
	x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			hits := 0
			for sy := 0; sy < 4; sy++ {
				for sx := 0; sx < 4; sx++ {
					if inside(float64(x)+(float64(sx)+0.5)/4, float64(y)+(float64(sy)+0.5)/4) {
						hits++
					}
				}
			}
			cov[y*w+x] = float64(hits) / 16
		}
	}
	return cov
}

// centre draws a defect centre in the central 70% of the image, at least margin pixels inside.
func centre(r *rand.Rand, n int, margin float64) (float64, float64) {
	lo := max(0.15*float64(n), margin)
	hi := float64(n) - lo
	return lo + (hi-lo)*r.Float64(), lo + (hi-lo)*r.Float64()
}

// scratch draws a thin curved line, brighter or darker than the surface, and returns its coverage.
func scratch(r *rand.Rand, f *field) []float64 {
	n := f.n
	scale := float64(n) / 256
	length := scale * (45 + 60*r.Float64())
	cxp, cyp := centre(r, n, length/2+4)
	th := math.Pi * r.Float64()
	dx, dy := math.Cos(th)*length/2, math.Sin(th)*length/2
	bend := (2*r.Float64() - 1) * 0.25 * length // control point offset, perpendicular
	p0 := [2]float64{cxp - dx, cyp - dy}
	p2 := [2]float64{cxp + dx, cyp + dy}
	p1 := [2]float64{cxp - math.Sin(th)*bend, cyp + math.Cos(th)*bend}
	halfW := scale * (0.75 + r.Float64()) // width 1.5 to 3.5 px at 256
	const segs = 48
	pts := bezier(p0, p1, p2, segs)
	// along[i] is the position (0 to 1) along the scratch of the nearest centre-line point of pixel i, used to
	// fade the scratch towards its ends.
	along := make([]float64, n*n)
	inside := func(x, y float64) bool {
		best, bestT := math.Inf(1), 0.0
		for i := 0; i < segs; i++ {
			if d := segDist2(x, y, pts[i], pts[i+1]); d < best {
				best, bestT = d, (float64(i)+0.5)/segs
			}
		}
		if best <= halfW*halfW {
			along[int(y)*n+int(x)] = bestT
			return true
		}
		return false
	}
	bx0, by0, bx1, by1 := bbox(pts, halfW+1)
	cov := coverage(n, n, bx0, by0, bx1, by1, inside)
	delta := 0.22 + 0.12*r.Float64()
	if r.IntN(2) == 0 {
		delta = -delta
	}
	for i, c := range cov {
		if c > 0 {
			fade := 0.55 + 0.45*math.Sin(math.Pi*along[i])
			for _, ch := range [][]float64{f.r, f.g, f.b} {
				ch[i] += c * fade * delta
			}
		}
	}
	return cov
}

// spot draws a blob with a wavy outline filled with a different, streak-free texture.
func spot(r *rand.Rand, f *field) []float64 {
	n := f.n
	scale := float64(n) / 256
	r0 := scale * (7 + 9*r.Float64())
	cxp, cyp := centre(r, n, 1.6*r0+4)
	a2, a3 := 0.15+0.15*r.Float64(), 0.1*r.Float64()
	p2, p3 := 2*math.Pi*r.Float64(), 2*math.Pi*r.Float64()
	stretch := 1 + 0.4*r.Float64()
	inside := newBlob(cxp, cyp, r0, stretch, a2, a3, p2, p3, math.Pi*r.Float64()).inside
	ext := int(math.Ceil(1.6*r0*stretch)) + 2
	cov := coverage(n, n, int(cxp)-ext, int(cyp)-ext, int(cxp)+ext+1, int(cyp)+ext+1, inside)

	// Fill: rust (darker, reddish) or bright residue, with its own blotchy noise.
	var level [3]float64
	if r.IntN(2) == 0 {
		d := 0.28 + 0.1*r.Float64()
		level = [3]float64{-d + 0.08, -d, -d - 0.06}
	} else {
		d := 0.2 + 0.08*r.Float64()
		level = [3]float64{d, d, d - 0.03}
	}
	blot := smooth2D(r, n, 2.0)
	for i, c := range cov {
		if c == 0 {
			continue
		}
		y, x := i/n, i%n
		// The surface without its streak detail: a blend towards the local illumination level.
		for k, ch := range [][]float64{f.r, f.g, f.b} {
			fill := 0.52*tint[k] + level[k] + 0.05*blot[y*n+x]
			ch[i] = (1-c)*ch[i] + c*(0.3*ch[i]+0.7*fill)
		}
	}
	return cov
}

// missing replaces an irregular polygon by a flat dark background.
func missing(r *rand.Rand, f *field) []float64 {
	n := f.n
	scale := float64(n) / 256
	r0 := scale * (10 + 10*r.Float64())
	cxp, cyp := centre(r, n, 1.4*r0+4)
	const verts = 9
	poly := make([][2]float64, verts)
	for i := range poly {
		th := 2 * math.Pi * (float64(i) + 0.3*r.Float64()) / verts
		rad := r0 * (0.65 + 0.7*r.Float64())
		poly[i] = [2]float64{cxp + rad*math.Cos(th), cyp + rad*math.Sin(th)}
	}
	inside := func(x, y float64) bool { return inPolygon(poly, x, y) }
	bx0, by0, bx1, by1 := bbox(poly, 1)
	cov := coverage(n, n, bx0, by0, bx1, by1, inside)
	bg := 0.1 + 0.06*r.Float64()
	for i, c := range cov {
		if c == 0 {
			continue
		}
		for _, ch := range [][]float64{f.r, f.g, f.b} {
			ch[i] = (1-c)*ch[i] + c*(bg+0.006*r.NormFloat64())
		}
	}
	return cov
}

// smooth2D returns n*n Gaussian noise blurred with sigma (separable), scaled to unit standard deviation.
func smooth2D(r *rand.Rand, n int, sigma float64) []float64 {
	v := gaussNoise(r, n*n)
	tmp := make([]float64, n*n)
	for y := 0; y < n; y++ {
		copy(tmp[y*n:], smooth1D(v[y*n:(y+1)*n], sigma))
	}
	col := make([]float64, n)
	for x := 0; x < n; x++ {
		for y := 0; y < n; y++ {
			col[y] = tmp[y*n+x]
		}
		s := smooth1D(col, sigma)
		for y := 0; y < n; y++ {
			v[y*n+x] = s[y]
		}
	}
	norm(v, 1)
	return v
}

func segDist2(x, y float64, a, b [2]float64) float64 {
	ux, uy := b[0]-a[0], b[1]-a[1]
	wx, wy := x-a[0], y-a[1]
	t := 0.0
	if l2 := ux*ux + uy*uy; l2 > 0 {
		t = min(max((wx*ux+wy*uy)/l2, 0), 1)
	}
	dx, dy := wx-t*ux, wy-t*uy
	return dx*dx + dy*dy
}

// inPolygon is the even-odd rule.
func inPolygon(poly [][2]float64, x, y float64) bool {
	in := false
	j := len(poly) - 1
	for i := range poly {
		a, b := poly[i], poly[j]
		if (a[1] > y) != (b[1] > y) && x < (b[0]-a[0])*(y-a[1])/(b[1]-a[1])+a[0] {
			in = !in
		}
		j = i
	}
	return in
}

func bbox(pts [][2]float64, pad float64) (x0, y0, x1, y1 int) {
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range pts {
		minX, maxX = min(minX, p[0]), max(maxX, p[0])
		minY, maxY = min(minY, p[1]), max(maxY, p[1])
	}
	return int(math.Floor(minX - pad)), int(math.Floor(minY - pad)), int(math.Ceil(maxX+pad)) + 1, int(math.Ceil(maxY+pad)) + 1
}

// blobShape is a blob outline: a circle of radius r0 around (cx, cy) whose
// radius wobbles with two and three lobes (amplitudes a2, a3, phases p2,
// p3), stretched by stretch along an axis rotated by the angle whose cosine
// and sine are cr and sr.
type blobShape struct{ cx, cy, r0, stretch, a2, a3, p2, p3, cr, sr float64 }

func newBlob(cx, cy, r0, stretch, a2, a3, p2, p3, rot float64) blobShape {
	return blobShape{cx, cy, r0, stretch, a2, a3, p2, p3, math.Cos(rot), math.Sin(rot)}
}

// inside reports whether the point (x, y) lies within the blob.
func (b blobShape) inside(x, y float64) bool {
	u, v := x-b.cx, y-b.cy
	u, v = (b.cr*u+b.sr*v)/b.stretch, -b.sr*u+b.cr*v
	t := math.Atan2(v, u)
	rad := b.r0 * (1 + b.a2*math.Sin(2*t+b.p2) + b.a3*math.Sin(3*t+b.p3))
	return u*u+v*v <= rad*rad
}

// bezier samples the quadratic Bézier curve from p0 to p2 with control
// point p1 at segs+1 evenly spaced parameter values.
func bezier(p0, p1, p2 [2]float64, segs int) [][2]float64 {
	pts := make([][2]float64, segs+1)
	for i := range pts {
		t := float64(i) / float64(segs)
		a, b, c := (1-t)*(1-t), 2*(1-t)*t, t*t
		pts[i] = [2]float64{a*p0[0] + b*p1[0] + c*p2[0], a*p0[1] + b*p1[1] + c*p2[1]}
	}
	return pts
}
