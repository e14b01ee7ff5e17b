package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// PaintKinds lists the defects Paint draws onto real images, for model
// selection without defect samples: the demo's three (a scratch, a spot of
// foreign texture, a missing piece), a CutPaste patch taken from another
// normal image, and a small local change of texture.
func PaintKinds() []string { return []string{"scratch", "spot", "missing", "cutpaste", "texture"} }

// Image is a planar RGB image with values in [0, 1]: the R plane, then G,
// then B, each H rows of W values (the layout of dataset.RGB).
type Image struct {
	W, H int
	Pix  []float32
}

// Paint draws one defect of the given kind (one of PaintKinds) onto img in
// place and returns its mask (w*h, true where a pixel was changed). area is
// the defect's size in pixels, roughly; the defect lies in the central 80%
// of the image, at the most textured of a few random places, so that on an
// object before a plain background it mostly lands on the object. donor, an
// image of the same size, is the source of a cutpaste patch; without one the
// patch comes from elsewhere in img.
func Paint(r *rand.Rand, kind string, img Image, donor *Image, area float64) ([]bool, error) {
	w, h := img.W, img.H
	if w < 16 || h < 16 || len(img.Pix) != 3*w*h {
		return nil, fmt.Errorf("synth: paint: %d values for a %d x %d image (want 3 planes, at least 16 x 16)", len(img.Pix), w, h)
	}
	if donor != nil && (donor.W != w || donor.H != h || len(donor.Pix) != len(img.Pix)) {
		return nil, fmt.Errorf("synth: paint: donor is %d x %d, image %d x %d", donor.W, donor.H, w, h)
	}
	area = min(max(area, 16), float64(w*h)/16)
	var cov []float64
	switch kind {
	case "scratch":
		cov = paintScratch(r, img, area)
	case "spot":
		cov = paintSpot(r, img, area)
	case "missing":
		cov = paintMissing(r, img, area)
	case "cutpaste":
		if donor == nil {
			donor = &img
		}
		cov = paintCutPaste(r, img, *donor, area)
	case "texture":
		cov = paintTexture(r, img, area)
	default:
		return nil, fmt.Errorf("synth: paint: unknown defect %q (want one of %v)", kind, PaintKinds())
	}
	mask := make([]bool, w*h)
	for i, c := range cov {
		mask[i] = c > 0
	}
	return mask, nil
}

// planes returns img's three colour planes.
func (m Image) planes() [3][]float32 {
	n := m.W * m.H
	return [3][]float32{m.Pix[:n], m.Pix[n : 2*n], m.Pix[2*n:]}
}

// luma is the mean of the three planes at pixel i.
func (m Image) luma(i int) float64 {
	p := m.planes()
	return (float64(p[0][i]) + float64(p[1][i]) + float64(p[2][i])) / 3
}

// boxStats is the mean and standard deviation of luma over the box of half
// side rad around (cx, cy), clipped to the image, sampled every few pixels.
func (m Image) boxStats(cx, cy, rad float64) (mean, std float64) {
	x0, x1 := max(0, int(cx-rad)), min(m.W, int(cx+rad)+1)
	y0, y1 := max(0, int(cy-rad)), min(m.H, int(cy+rad)+1)
	step := max(1, int(rad/8))
	var s, s2 float64
	k := 0
	for y := y0; y < y1; y += step {
		for x := x0; x < x1; x += step {
			v := m.luma(y*m.W + x)
			s += v
			s2 += v * v
			k++
		}
	}
	if k == 0 {
		return 0, 0
	}
	mean = s / float64(k)
	return mean, math.Sqrt(max(0, s2/float64(k)-mean*mean))
}

// place draws a centre at least margin pixels inside the central 80% of the
// image: of 8 random candidates, the first whose surroundings vary at least
// a quarter as much as those of the most varied one. Defects then fall
// anywhere on the part, not on a flat background, and are not drawn to the
// part's edges, where the normal residual is highest: taking the most
// varied candidate put them there and favoured raw scores in the choice of
// settings (docs/accuracy.md).
func (m Image) place(r *rand.Rand, margin float64) (float64, float64) {
	lo := func(n int) float64 { return min(max(0.1*float64(n), margin), float64(n)/2) }
	var xs, ys, sds [8]float64
	best := 0.0
	for k := range xs {
		xs[k] = lo(m.W) + (float64(m.W)-2*lo(m.W))*r.Float64()
		ys[k] = lo(m.H) + (float64(m.H)-2*lo(m.H))*r.Float64()
		_, sds[k] = m.boxStats(xs[k], ys[k], max(margin, 6))
		best = max(best, sds[k])
	}
	for k := range xs {
		if sds[k] >= best/4 {
			return xs[k], ys[k]
		}
	}
	return xs[0], ys[0]
}

// blend sets every covered pixel to (1 - c) * old + c * to(plane, i, old).
func (m Image) blend(cov []float64, to func(ch, i int, old float64) float64) {
	p := m.planes()
	for i, c := range cov {
		if c == 0 {
			continue
		}
		for ch := range p {
			old := float64(p[ch][i])
			p[ch][i] = float32(min(1, max(0, (1-c)*old+c*to(ch, i, old))))
		}
	}
}

// signed returns v or -v with equal odds.
func signed(r *rand.Rand, v float64) float64 {
	if r.IntN(2) == 0 {
		return -v
	}
	return v
}

// paintScratch draws a thin curved line (quadratic Bezier, 1.5 to 3 px
// wide, as long as area allows) brighter or darker than the surface.
func paintScratch(r *rand.Rand, m Image, area float64) []float64 {
	halfW := 0.75 + 0.75*r.Float64()
	length := min(area/(2*halfW), 0.6*float64(min(m.W, m.H)))
	cx, cy := m.place(r, length/2+4)
	th := math.Pi * r.Float64()
	dx, dy := math.Cos(th)*length/2, math.Sin(th)*length/2
	bend := (2*r.Float64() - 1) * 0.25 * length
	p0, p2 := [2]float64{cx - dx, cy - dy}, [2]float64{cx + dx, cy + dy}
	p1 := [2]float64{cx - math.Sin(th)*bend, cy + math.Cos(th)*bend}
	const segs = 32
	pts := bezier(p0, p1, p2, segs)
	inside := func(x, y float64) bool {
		for i := 0; i < segs; i++ {
			if segDist2(x, y, pts[i], pts[i+1]) <= halfW*halfW {
				return true
			}
		}
		return false
	}
	x0, y0, x1, y1 := bbox(pts, halfW+1)
	cov := coverage(m.W, m.H, x0, y0, x1, y1, inside)
	delta := signed(r, 0.15+0.15*r.Float64())
	m.blend(cov, func(_, _ int, old float64) float64 { return old + delta })
	return cov
}

// blob returns the coverage of a blob of about area pixels with a wavy,
// slightly stretched outline, placed by m.place.
func blob(r *rand.Rand, m Image, area float64) []float64 {
	stretch := 1 + 0.5*r.Float64()
	r0 := math.Sqrt(area / math.Pi / stretch)
	cx, cy := m.place(r, 1.4*r0*stretch+2)
	a2, a3 := 0.1+0.15*r.Float64(), 0.1*r.Float64()
	p2, p3 := 2*math.Pi*r.Float64(), 2*math.Pi*r.Float64()
	inside := newBlob(cx, cy, r0, stretch, a2, a3, p2, p3, math.Pi*r.Float64()).inside
	ext := int(math.Ceil(1.5*r0*stretch)) + 2
	return coverage(m.W, m.H, int(cx)-ext, int(cy)-ext, int(cx)+ext+1, int(cy)+ext+1, inside)
}

// paintSpot fills a blob with a darker or brighter, blotchy texture.
func paintSpot(r *rand.Rand, m Image, area float64) []float64 {
	cov := blob(r, m, area)
	level := signed(r, 0.15+0.15*r.Float64())
	tint := [3]float64{0.04 * r.NormFloat64(), 0, 0.04 * r.NormFloat64()}
	noise, base := make([]float64, len(cov)), make([]float64, len(cov))
	for i, c := range cov {
		if c > 0 {
			noise[i], base[i] = 0.03*r.NormFloat64(), m.luma(i)
		}
	}
	m.blend(cov, func(ch, i int, old float64) float64 {
		return 0.4*old + 0.6*(base[i]+level+tint[ch]) + noise[i]
	})
	return cov
}

// paintMissing replaces an irregular polygon by a flat fill at the darkest
// or brightest level of the image.
func paintMissing(r *rand.Rand, m Image, area float64) []float64 {
	r0 := math.Sqrt(area / math.Pi)
	cx, cy := m.place(r, 1.4*r0+2)
	const verts = 9
	poly := make([][2]float64, verts)
	for i := range poly {
		th := 2 * math.Pi * (float64(i) + 0.3*r.Float64()) / verts
		rad := r0 * (0.7 + 0.6*r.Float64())
		poly[i] = [2]float64{cx + rad*math.Cos(th), cy + rad*math.Sin(th)}
	}
	x0, y0, x1, y1 := bbox(poly, 1)
	cov := coverage(m.W, m.H, x0, y0, x1, y1, func(x, y float64) bool { return inPolygon(poly, x, y) })
	lum := make([]float64, m.W*m.H)
	for i := range lum {
		lum[i] = m.luma(i)
	}
	slices.Sort(lum)
	fill := lum[len(lum)/100]
	if r.IntN(3) == 0 {
		fill = lum[len(lum)-1-len(lum)/100]
	}
	m.blend(cov, func(_, _ int, _ float64) float64 { return fill + 0.01*r.NormFloat64() })
	return cov
}

// paintCutPaste copies a rectangle of about area pixels (aspect 1:3 to 3:1)
// from a random place of donor to the chosen place of m, edges softened over
// a pixel.
func paintCutPaste(r *rand.Rand, m, donor Image, area float64) []float64 {
	aspect := math.Exp((2*r.Float64() - 1) * math.Log(3))
	pw := min(float64(m.W)/3, math.Sqrt(area*aspect))
	ph := min(float64(m.H)/3, area/pw)
	cx, cy := m.place(r, max(pw, ph)/2+2)
	x0, y0 := int(cx-pw/2), int(cy-ph/2)
	iw, ih := max(1, int(pw)), max(1, int(ph))
	// Source corner: anywhere else in the donor.
	sx := r.IntN(max(1, donor.W-iw))
	sy := r.IntN(max(1, donor.H-ih))
	cov := make([]float64, m.W*m.H)
	for y := 0; y < ih; y++ {
		for x := 0; x < iw; x++ {
			tx, ty := x0+x, y0+y
			if tx < 0 || ty < 0 || tx >= m.W || ty >= m.H {
				continue
			}
			edge := min(x, y, iw-1-x, ih-1-y)
			cov[ty*m.W+tx] = min(1, 0.5+0.5*float64(edge))
		}
	}
	src := donor.planes()
	m.blend(cov, func(ch, i int, _ float64) float64 {
		tx, ty := i%m.W, i/m.W
		return float64(src[ch][(sy+ty-y0)*donor.W+sx+tx-x0])
	})
	return cov
}

// paintTexture changes the texture inside a blob while keeping its mean
// level: the local contrast is raised 2.5x, or flattened to a blur, or
// fine noise is added.
func paintTexture(r *rand.Rand, m Image, area float64) []float64 {
	cov := blob(r, m, area)
	p := m.planes()
	// Box mean of radius 3 around every covered pixel, from the original.
	const rad = 3
	local := make([][3]float64, len(cov))
	for i, c := range cov {
		if c == 0 {
			continue
		}
		x, y := i%m.W, i/m.W
		k := 0
		for yy := max(0, y-rad); yy <= min(m.H-1, y+rad); yy++ {
			for xx := max(0, x-rad); xx <= min(m.W-1, x+rad); xx++ {
				for ch := range p {
					local[i][ch] += float64(p[ch][yy*m.W+xx])
				}
				k++
			}
		}
		for ch := range p {
			local[i][ch] /= float64(k)
		}
	}
	mode := r.IntN(3)
	noise := make([]float64, len(cov))
	for i, c := range cov {
		if c > 0 {
			noise[i] = 0.08 * r.NormFloat64()
		}
	}
	m.blend(cov, func(ch, i int, old float64) float64 {
		switch mode {
		case 0:
			return local[i][ch] + 2.5*(old-local[i][ch])
		case 1:
			return local[i][ch]
		}
		return old + noise[i]
	})
	return cov
}
