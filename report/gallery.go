package report

import (
	"cmp"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/crd-ad/crd/anomalymap"
	"github.com/crd-ad/crd/dataset"
)

// Outcome is what a gallery records of one scored test image: its name, true defect type, score and verdict.
type Outcome struct {
	Name      string  // display name, e.g. "scratch/003.png"; also used (sanitised) in the PNG file name
	Defect    string  // defect type; dataset.Good for normal images
	Score     float64 // image anomaly score
	NormScore float64 // score on the normalised scale that the report shows (for example Score/Threshold)
	Threshold float64 // the decision threshold the score was compared with
	Predicted bool    // predicted anomalous
}

// Item is one scored test image as the pipeline hands it to a Gallery: its outcome and, optionally, its pictures.
// When Image is set, Map and Mask (if set) must have its size.
type Item struct {
	Outcome

	Image *dataset.RGB   // the image as the model saw it (for example the centre crop), or nil
	Map   anomalymap.Map // anomaly map at the image's size; none when Map.Pix is nil
	Mask  *dataset.Mask  // ground-truth defect mask at the image's size, or nil
}

// Entry is what a Gallery keeps per image: the outcome, whether it is correct, and the picture's file.
type Entry struct {
	Outcome
	Correct bool   // Predicted equals the truth (Defect != Good)
	Image   string // gallery PNG, relative to the report folder ("images/0007_scratch_003.png"); "" when not kept
	seq     int
}

// Anomalous reports whether the image is a defective one.
func (e *Outcome) Anomalous() bool { return e.Defect != dataset.Good }

// Badness says how wrong the prediction is: the distance of the score from the threshold on the wrong side,
// relative to |Threshold| when it is not zero. Defects with low scores and normal images with high scores have high
// badness; it is positive for wrong predictions made by comparing Score with Threshold.
func (e *Outcome) Badness() float64 {
	d := e.Score - e.Threshold
	if e.Anomalous() {
		d = -d
	}
	if e.Threshold != 0 {
		d /= math.Abs(e.Threshold)
	}
	return d
}

// worse orders entries worst first: wrong predictions (false negatives and false positives) first, then by
// Badness, highest first, then by name and insertion order.
func worse(a, b *Entry) int {
	if a.Correct != b.Correct {
		if !a.Correct {
			return -1
		}
		return 1
	}
	ba, bb := a.Badness(), b.Badness()
	if ba != bb && !(math.IsNaN(ba) && math.IsNaN(bb)) {
		switch {
		case math.IsNaN(bb) || ba > bb:
			return -1
		case math.IsNaN(ba) || ba < bb:
			return 1
		}
	}
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// GalleryOptions configures a Gallery. Zero values mean the defaults.
type GalleryOptions struct {
	// Max is the number of images kept in the gallery: the worst Max by the gallery order. Default 60; negative
	// keeps none (metadata only).
	Max int
	// MapLo and MapHi are the anomaly-map values shown as the first and last colour of the heat map, the same for
	// every image so that colours compare across images. When MapHi <= MapLo, MapThreshold decides; when that is
	// not set either, each image uses [0, 2*Threshold], with the item's (image) threshold in the middle.
	MapLo, MapHi float64
	// MapThreshold, when MapHi <= MapLo, is the anomaly-map threshold that reads the same on every card: each
	// picture's colours run from its lowest map value to MapThreshold over the lower half of the colour map, and
	// from MapThreshold to its highest value over the upper half. The middle colour is the threshold on every card,
	// and a card whose map stays below it still shows its structure instead of a uniformly dark map.
	MapThreshold float64
	// Alpha is the heat map's opacity over the image. Default 0.45.
	Alpha float64
	// MaxSide bounds the larger side of each half of a gallery picture; larger inputs are reduced by area
	// averaging. Default 320.
	MaxSide int
	// ContourWidth is the width of the ground-truth outline in pixels. Default 1.
	ContourWidth int
	// ContourColor is the colour of the ground-truth outline. The zero value means pure green, a colour that the
	// heat map's colour map never produces.
	ContourColor color.RGBA
}

// Gallery collects scored test images one at a time, keeps the metadata of all of them and a picture of the worst
// ones. Add writes a picture at once (and deletes pictures that fall out of the worst Max), so the pipeline can
// stream images without holding them. A Gallery is safe for concurrent use.
//
// Each picture is two panels side by side: the image with the ground-truth contour, and the heat map over the image
// with the same contour.
type Gallery struct {
	dir  string // report folder; pictures go to dir/images
	opts GalleryOptions

	mu      sync.Mutex
	entries []*Entry
	kept    []*Entry // entries with a picture, sorted worst first; len <= Max
	seq     int
	err     error // first write error
}

// NewGallery returns a gallery whose pictures go to dir/images (created on the first picture). dir is the folder
// that WriteHTML will write index.html to.
func NewGallery(dir string, opts GalleryOptions) *Gallery {
	if opts.Max == 0 {
		opts.Max = 60
	}
	if opts.Alpha == 0 {
		opts.Alpha = 0.45
	}
	if opts.MaxSide <= 0 {
		opts.MaxSide = 320
	}
	if opts.ContourWidth <= 0 {
		opts.ContourWidth = 1
	}
	if opts.ContourColor == (color.RGBA{}) {
		opts.ContourColor = defaultContourColor
	}
	return &Gallery{dir: dir, opts: opts}
}

// Add records it and, if it is among the worst Max so far and has an Image, writes its picture. It returns the
// error of writing the picture, naming the file.
func (g *Gallery) Add(it Item) error {
	if it.Image != nil {
		n := it.Image.W * it.Image.H
		badMap := it.Map.Pix != nil && (it.Map.W != it.Image.W || it.Map.H != it.Image.H || len(it.Map.Pix) != n)
		badMask := it.Mask != nil && (it.Mask.W != it.Image.W || it.Mask.H != it.Image.H || len(it.Mask.Pix) != n)
		if badMap || badMask {
			panic(fmt.Sprintf("report: gallery item %q: map or mask size does not match the %dx%d image",
				it.Name, it.Image.W, it.Image.H))
		}
	}
	e := &Entry{Outcome: it.Outcome, Correct: it.Predicted == it.Anomalous()}
	g.mu.Lock()
	e.seq = g.seq
	g.seq++
	g.entries = append(g.entries, e)
	candidate := it.Image != nil && g.opts.Max > 0 &&
		(len(g.kept) < g.opts.Max || worse(e, g.kept[len(g.kept)-1]) < 0)
	g.mu.Unlock()
	if !candidate {
		return nil
	}

	rel := fmt.Sprintf("images/%04d_%s.png", e.seq, sanitize(strings.TrimSuffix(it.Name, path.Ext(it.Name))))
	file := filepath.Join(g.dir, filepath.FromSlash(rel))
	err := os.MkdirAll(filepath.Dir(file), 0o755)
	if err != nil {
		err = fmt.Errorf("report: gallery: %w", err)
	} else {
		err = WritePNG(file, g.picture(&it))
	}
	if err != nil {
		g.mu.Lock()
		if g.err == nil {
			g.err = err
		}
		g.mu.Unlock()
		return err
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	e.Image = rel
	i, _ := slices.BinarySearchFunc(g.kept, e, worse)
	g.kept = slices.Insert(g.kept, i, e)
	for len(g.kept) > g.opts.Max {
		last := g.kept[len(g.kept)-1]
		g.kept = g.kept[:len(g.kept)-1]
		os.Remove(filepath.Join(g.dir, filepath.FromSlash(last.Image)))
		last.Image = ""
	}
	return nil
}

// Entries returns the metadata of every added image, worst first (see Entry.Badness); the worst Max carry their
// picture path. The entries are copies.
func (g *Gallery) Entries() []Entry {
	g.mu.Lock()
	defer g.mu.Unlock()
	sorted := slices.Clone(g.entries)
	slices.SortFunc(sorted, worse)
	out := make([]Entry, len(sorted))
	for i, e := range sorted {
		out[i] = *e
	}
	return out
}

// Err returns the first error met while writing pictures, if any.
func (g *Gallery) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// picture draws the two-panel gallery picture of it.
func (g *Gallery) picture(it *Item) *image.RGBA {
	img, amap := it.Image, it.Map.Pix
	var mask []bool
	if it.Mask != nil {
		mask = it.Mask.Pix
	}
	if s := max(img.W, img.H); s > g.opts.MaxSide {
		img, amap, mask = shrink(img, amap, mask, g.opts.MaxSide)
	}
	w, h := img.W, img.H
	left := ToRGBA(img)
	var right *image.RGBA
	if amap != nil {
		var norm scale
		switch lo, hi := g.opts.MapLo, g.opts.MapHi; {
		case hi > lo:
			norm = linear(lo, hi)
		case g.opts.MapThreshold > 0:
			norm = aroundThreshold(amap, g.opts.MapThreshold)
		default:
			norm = linear(0, 2*it.Threshold)
		}
		right = overlay(img, anomalymap.Map{Pix: amap, W: w, H: h}, norm, g.opts.Alpha)
	} else {
		right = ToRGBA(img)
	}
	if mask != nil {
		m := &dataset.Mask{Pix: mask, W: w, H: h}
		DrawContour(left, m, g.opts.ContourWidth, g.opts.ContourColor)
		DrawContour(right, m, g.opts.ContourWidth, g.opts.ContourColor)
	}
	const gap = 4
	out := image.NewRGBA(image.Rect(0, 0, 2*w+gap, h))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(0, 0, w, h), left, image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(w+gap, 0, 2*w+gap, h), right, image.Point{}, draw.Src)
	return out
}

// shrink reduces img (and the map and mask, when present) so that the larger side is maxSide, by averaging the
// source pixels that each output pixel covers. A reduced mask pixel is set when any source pixel under it is set,
// so thin defects stay visible.
func shrink(img *dataset.RGB, amap []float32, mask []bool, maxSide int) (*dataset.RGB, []float32, []bool) {
	s := float64(maxSide) / float64(max(img.W, img.H))
	w, h := max(1, int(math.Round(float64(img.W)*s))), max(1, int(math.Round(float64(img.H)*s)))
	xs, ys := spans(img.W, w), spans(img.H, h)
	out := dataset.NewRGB(w, h)
	for c := 0; c < 3; c++ {
		boxMean(img.Plane(c), img.W, xs, ys, out.Plane(c))
	}
	var outMap []float32
	if amap != nil {
		outMap = make([]float32, w*h)
		boxMean(amap, img.W, xs, ys, outMap)
	}
	var outMask []bool
	if mask != nil {
		outMask = make([]bool, w*h)
		for oy, yr := range ys {
			for ox, xr := range xs {
			find:
				for y := yr[0]; y < yr[1]; y++ {
					for x := xr[0]; x < xr[1]; x++ {
						if mask[y*img.W+x] {
							outMask[oy*w+ox] = true
							break find
						}
					}
				}
			}
		}
	}
	return out, outMap, outMask
}

// spans splits n source pixels into m ranges [a,b), one per output pixel, covering every source pixel.
func spans(n, m int) [][2]int {
	out := make([][2]int, m)
	for i := range out {
		a := i * n / m
		b := max((i+1)*n/m, a+1)
		out[i] = [2]int{a, min(b, n)}
	}
	return out
}

func boxMean(src []float32, srcW int, xs, ys [][2]int, dst []float32) {
	w := len(xs)
	for oy, yr := range ys {
		for ox, xr := range xs {
			sum := 0.0
			for y := yr[0]; y < yr[1]; y++ {
				for x := xr[0]; x < xr[1]; x++ {
					sum += float64(src[y*srcW+x])
				}
			}
			dst[oy*w+ox] = float32(sum / float64((yr[1]-yr[0])*(xr[1]-xr[0])))
		}
	}
}

// sanitize turns name into a file-name fragment: letters, digits and '-' are kept, anything else becomes '_', and
// only the last 60 bytes are kept.
func sanitize(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 60 {
		s = s[len(s)-60:]
	}
	if s == "" {
		s = "image"
	}
	return s
}

// aroundThreshold maps a picture's values to colour-map positions in two linear pieces: its lowest value to 0, t to
// 0.5, its highest value to 1 (see GalleryOptions.MapThreshold).
func aroundThreshold(m []float32, t float64) scale {
	lo, hi := t, t
	if len(m) > 0 {
		lo, hi = min(lo, float64(slices.Min(m))), max(hi, float64(slices.Max(m)))
	}
	below, above := linear(lo, t), linear(t, hi)
	return scale{pos: func(v float64) float64 {
		if v <= t {
			if t <= lo {
				return 0.5
			}
			return 0.5 * below.at(v)
		}
		return 0.5 + 0.5*above.at(v)
	}}
}
