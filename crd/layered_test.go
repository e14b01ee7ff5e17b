package crd

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/nn"
)

// layerShape is one feature layer of a test: channels and size.
type layerShape struct{ c, h, w int }

// layeredCases are layer stacks with the grid first: PatchCore's two layers
// at a non-integer scale with a deep layer wider than two of the factor's
// row blocks; four layers, one of them back on the grid and two coarse
// sizes; four with the last size shared by two; a later layer finer than
// the grid; a coarse layer one column wide; one layer alone.
var layeredCases = [][]layerShape{
	{{40, 9, 9}, {200, 4, 5}},
	{{30, 8, 8}, {50, 4, 4}, {18, 8, 8}, {21, 3, 5}},
	{{30, 8, 8}, {50, 4, 4}, {18, 8, 8}, {21, 4, 4}},
	{{24, 5, 6}, {40, 9, 11}},
	{{16, 6, 6}, {30, 3, 1}},
	{{98, 6, 7}},
}

// testLayers cuts a query image for the layers out of a d x n matrix with
// the training data's structure: layer l gets the rows of its channels and
// its first H_l W_l columns.
func testLayers(shapes []layerShape, seed uint64) []*nn.Tensor {
	d, n := 0, 0
	for _, s := range shapes {
		d += s.c
		n = max(n, s.h*s.w)
	}
	src := images(seed, 1, d, n)[0]
	var out []*nn.Tensor
	off := 0
	for _, s := range shapes {
		x := nn.NewTensor(1, s.c, s.h, s.w)
		for i := 0; i < s.c; i++ {
			copy(x.Data[i*s.h*s.w:(i+1)*s.h*s.w], src[(off+i)*n:])
		}
		out = append(out, x)
		off += s.c
	}
	return out
}

// toNHWC returns the NCHW layers in NHWC layout, as ScoreLayers takes them.
func toNHWC(layers []*nn.Tensor) []*nn.NHWC {
	out := make([]*nn.NHWC, len(layers))
	for l, x := range layers {
		out[l] = nn.FromNCHW(nil, x)
	}
	return out
}

// resize64 is bilinear resizing with align_corners = false in float64,
// written from its definition: output index i samples the input at
// (i + 0.5) in/out - 0.5, clamped at 0, between its two neighbours (the
// upper one clamped to the last). It is the reference for nn's.
func resize64(x []float64, ih, iw, oh, ow int) []float64 {
	taps := func(in, out, i int) (int, int, float64) {
		src := math.Max((float64(i)+0.5)*float64(in)/float64(out)-0.5, 0)
		i0 := min(int(src), in-1)
		return i0, min(i0+1, in-1), src - float64(i0)
	}
	out := make([]float64, oh*ow)
	for oy := range oh {
		y0, y1, ly := taps(ih, oh, oy)
		for ox := range ow {
			x0, x1, lx := taps(iw, ow, ox)
			out[oy*ow+ox] = (1-ly)*((1-lx)*x[y0*iw+x0]+lx*x[y0*iw+x1]) + ly*((1-lx)*x[y1*iw+x0]+lx*x[y1*iw+x1])
		}
	}
	return out
}

// concat64 is the concatenated features of layers in float64 (d x p on
// layer 0's grid), the layers' values passed through f first.
func concat64(layers []*nn.Tensor, f func(float64) float64) []float64 {
	h, w := layers[0].H, layers[0].W
	var y []float64
	for _, x := range layers {
		for c := 0; c < x.C; c++ {
			plane := make([]float64, x.H*x.W)
			for i := range plane {
				plane[i] = f(float64(x.Data[c*x.H*x.W+i]))
			}
			y = append(y, resize64(plane, x.H, x.W, h, w)...)
		}
	}
	return y
}

// TestScoreLayersAgainstFloat64 checks ScoreLayers against the scores of
// the concatenated features in float64 (the layers resized in float64,
// ||M y||^2 or -y^T M y with the float32-rounded M), within the float32
// rounding bound of tol32 taken over the resized |y|, and against Score of
// the concatenated float32 features (nn's resize) within the sum of both
// bounds. It runs every kernel set and both score kinds: the triangular
// factor's products where the AVX-512 kernels run, M's products otherwise,
// and the concatenating fallback for Objective scores on BLAS.
func TestScoreLayersAgainstFloat64(t *testing.T) {
	kerns := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		kerns = append(kerns, kernels.AVX512(kernels.All))
	}
	for ci, shapes := range layeredCases {
		layers := testLayers(shapes, 11)
		h, w := layers[0].H, layers[0].W
		p := h * w
		d := 0
		for _, s := range shapes {
			d += s.c
		}
		// Trained on other images of the same layers: the query is
		// normal, its scores small differences of large terms.
		var normal [][]float32
		for seed := uint64(1); seed <= 8; seed++ {
			f := make([]float32, d*p)
			concatLayers(f, toNHWC(testLayers(shapes, seed)), h, w, &nn.NHWC{})
			normal = append(normal, f)
		}
		_, m := train(t, normal, d, p, DefaultSolveOptions())
		y := concat64(layers, func(v float64) float64 { return v })
		ya := concat64(layers, math.Abs)
		y32 := make([]float32, d*p)
		concatLayers(y32, toNHWC(layers), h, w, &nn.NHWC{})
		for _, kern := range kerns {
			m.kern = kern
			for _, kind := range []ScoreKind{Residual, Objective} {
				m.Options.Score = kind
				name := fmt.Sprintf("case %d, %v, %s", ci, kern, kind)
				got, conc := make([]float32, p+1), make([]float32, p)
				got[p] = 42
				m.ScoreLayers(toNHWC(layers), got)
				if got[p] != 42 {
					t.Fatalf("%s: ScoreLayers wrote past p", name)
				}
				m.Score(y32, p, conc)
				worst, scale := 0.0, 0.0
				for j := 0; j < p; j++ {
					ref := 0.0
					for i := 0; i < d; i++ {
						z := 0.0
						for k := 0; k < d; k++ {
							z += float64(m.M[i*d+k]) * y[k*p+j]
						}
						if kind == Residual {
							ref += z * z
						} else {
							ref -= y[i*p+j] * z
						}
					}
					scale += math.Abs(ref) / float64(p)
					tol := tolLayers(m, y, ya, p, j)
					if e := math.Abs(float64(got[j]) - ref); e > tol {
						t.Fatalf("%s, patch %d: ScoreLayers %g, float64 %g (tolerance %g)", name, j, got[j], ref, tol)
					}
					if e := math.Abs(float64(got[j]) - float64(conc[j])); e > 2*tol {
						t.Fatalf("%s, patch %d: ScoreLayers %g, Score %g (tolerance %g)", name, j, got[j], conc[j], 2*tol)
					}
					worst = max(worst, math.Abs(float64(got[j])-ref))
				}
				t.Logf("%s: largest error %.2g of the mean score %.3g", name, worst/scale, scale)
			}
		}
	}
}

// TestScoreLayersShapePanics: layers that do not fit the model panic with
// a message, as Score's wrong shapes do.
func TestScoreLayersShapePanics(t *testing.T) {
	const d, p = 12, 16
	_, m := train(t, images(1, 4, d, p), d, p, DefaultSolveOptions())
	layer := func(n, h, w, c int) *nn.NHWC { return &nn.NHWC{N: n, H: h, W: w, C: c, Data: make([]float32, n*h*w*c)} }
	ok := []*nn.NHWC{layer(1, 4, 4, 5), layer(1, 2, 2, 7)}
	m.ScoreLayers(ok, make([]float32, p))
	for name, tc := range map[string]struct {
		layers []*nn.NHWC
		out    int
	}{
		"no layers":      {nil, p},
		"channels short": {[]*nn.NHWC{layer(1, 4, 4, 5), layer(1, 2, 2, 6)}, p},
		"two images":     {[]*nn.NHWC{layer(2, 4, 4, 5), layer(1, 2, 2, 7)}, p},
		"values short":   {[]*nn.NHWC{{N: 1, H: 4, W: 4, C: 5, Data: make([]float32, 79)}, layer(1, 2, 2, 7)}, p},
		"outputs short":  {ok, p - 1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			m.ScoreLayers(tc.layers, make([]float32, tc.out))
		}()
	}
}

// tolLayers is tol32's float32 rounding bound for the features y (d x p,
// float64) resized from layers whose resize of |x| is ya: each value of
// T y is off by at most gamma_{d+8} (|T| ya)_i, the product's d roundings
// and the resize's (rounded taps, two products and a sum per direction,
// the addition of the layers' parts), whether the resize comes before the
// product (Score of concatenated features) or after it (ScoreLayers:
// R(|T| |x|) = |T| R(|x|), R having non-negative taps).
func tolLayers(m *Model, y, ya []float64, p, j int) float64 {
	d := m.D
	const eps = 0x1p-24
	n := float64(d + 8)
	gamma := n * eps / (1 - n*eps)
	scale := 0.0
	for i := 0; i < d; i++ {
		z, za := 0.0, 0.0
		for k := 0; k < d; k++ {
			z += float64(m.M[i*d+k]) * y[k*p+j]
			za += math.Abs(float64(m.M[i*d+k])) * ya[k*p+j]
		}
		if m.Options.Score == Residual {
			scale += (2*math.Abs(z) + gamma*za) * za
		} else {
			scale += ya[i*p+j] * za
		}
	}
	return gamma*scale + 1e-30
}

// TestScoreLayersConcurrent: goroutines scoring through ScoreLayers on a
// fresh model (making its factor and packed blocks on first use, racing
// for them and with Prepare making the factor beside them) get the scores
// a sequential caller gets from an identical model, bit for bit, on every
// kernel set.
func TestScoreLayersConcurrent(t *testing.T) {
	shapes := layeredCases[0]
	h, w := shapes[0].h, shapes[0].w
	p, d := h*w, shapes[0].c+shapes[1].c
	var normal [][]float32
	for seed := uint64(1); seed <= 4; seed++ {
		f := make([]float32, d*p)
		concatLayers(f, toNHWC(testLayers(shapes, seed)), h, w, &nn.NHWC{})
		normal = append(normal, f)
	}
	kerns := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		kerns = append(kerns, kernels.AVX512(kernels.All))
	}
	for _, kern := range kerns {
		_, ref := train(t, normal, d, p, DefaultSolveOptions())
		_, m := train(t, normal, d, p, DefaultSolveOptions())
		ref.kern, m.kern = kern, kern
		queries := make([][]*nn.NHWC, 6)
		want := make([][]float32, len(queries))
		for i := range queries {
			queries[i] = toNHWC(testLayers(shapes, uint64(20+i)))
			want[i] = make([]float32, p)
			ref.ScoreLayers(queries[i], want[i])
		}
		var wg sync.WaitGroup
		wg.Go(m.Prepare) // as the detector does while its backbone loads
		errs := make(chan string, len(queries))
		for i := range queries {
			wg.Go(func() {
				out := make([]float32, p)
				for range 5 {
					m.ScoreLayers(queries[i], out)
					for j := range out {
						if math.Float32bits(out[j]) != math.Float32bits(want[i][j]) {
							errs <- fmt.Sprintf("%v: query %d, patch %d: %g, sequentially %g", kern, i, j, out[j], want[i][j])
							return
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
	}
}
