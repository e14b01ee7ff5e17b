package backbone

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"

	"github.com/crd-ad/crd/internal/blas"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/weights"
)

// syntheticInceptionTensors returns random Keras-named weights of the trunk,
// scaled so that activations stay of order one.
func syntheticInceptionTensors(seed uint64) weights.Tensors {
	rng := rand.New(rand.NewPCG(seed, 7))
	t := weights.Tensors{}
	for name, shape := range inceptionTensorNames() {
		n := 1
		for _, s := range shape {
			n *= s
		}
		w := &weights.Tensor{Shape: shape, Data: make([]float32, n)}
		for i := range w.Data {
			switch {
			case len(shape) == 4: // He-scaled kernel
				w.Data[i] = float32(rng.NormFloat64() * math.Sqrt(2/float64(shape[0]*shape[1]*shape[2])))
			case name[len(name)-8:] == "variance":
				w.Data[i] = float32(0.5 + rng.Float64())
			default:
				w.Data[i] = float32(0.3 * rng.NormFloat64())
			}
		}
		t[name] = w
	}
	return t
}

func syntheticInception(t testing.TB, seed uint64) *inception {
	t.Helper()
	b, err := newInception(syntheticInceptionTensors(seed))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// incRefMap is a float64 N x C x H x W map.
type incRefMap struct {
	n, c, h, w int
	d          []float64
}

func (m *incRefMap) at(n, c, y, x int) float64 { return m.d[((n*m.c+c)*m.h+y)*m.w+x] }

// incRefWindow returns the Keras output size and leading padding of one side.
func incRefWindow(in, k, stride int, same bool) (out, pad int) {
	if !same {
		return (in-k)/stride + 1, 0
	}
	out = (in + stride - 1) / stride
	return out, max((out-1)*stride+k-in, 0) / 2
}

// refInception runs the trunk straight from the Keras definition, in
// float64, with unfolded batch norms: the independent reference for the
// engine's graph execution, padding, pooling and concatenation.
func refInception(t weights.Tensors, x *incRefMap) map[string]*incRefMap {
	maps := map[string]*incRefMap{inceptionInput: x}
	for _, nd := range inceptionGraph() {
		in := maps[nd.in[0]]
		switch nd.kind {
		case incConvBNReLU:
			k := strconv.Itoa(nd.conv)
			ker := t["conv2d_"+k+"/kernel"].Data
			beta := t["batch_normalization_"+k+"/beta"].Data
			mean := t["batch_normalization_"+k+"/moving_mean"].Data
			vr := t["batch_normalization_"+k+"/moving_variance"].Data
			oh, pt := incRefWindow(in.h, nd.kh, nd.stride, nd.same)
			ow, pl := incRefWindow(in.w, nd.kw, nd.stride, nd.same)
			out := &incRefMap{in.n, nd.outC, oh, ow, make([]float64, in.n*nd.outC*oh*ow)}
			for n := 0; n < in.n; n++ {
				for o := 0; o < nd.outC; o++ {
					for oy := 0; oy < oh; oy++ {
						for ox := 0; ox < ow; ox++ {
							s := 0.0
							for ky := 0; ky < nd.kh; ky++ {
								iy := oy*nd.stride - pt + ky
								if iy < 0 || iy >= in.h {
									continue
								}
								for kx := 0; kx < nd.kw; kx++ {
									ix := ox*nd.stride - pl + kx
									if ix < 0 || ix >= in.w {
										continue
									}
									for i := 0; i < in.c; i++ {
										s += in.at(n, i, iy, ix) * float64(ker[((ky*nd.kw+kx)*in.c+i)*nd.outC+o])
									}
								}
							}
							v := (s-float64(mean[o]))/math.Sqrt(float64(vr[o])+1e-3) + float64(beta[o])
							out.d[((n*nd.outC+o)*oh+oy)*ow+ox] = max(v, 0)
						}
					}
				}
			}
			maps[nd.name] = out
		case incMaxPool, incAvgPool:
			oh, pt := incRefWindow(in.h, 3, nd.stride, nd.same)
			ow, pl := incRefWindow(in.w, 3, nd.stride, nd.same)
			out := &incRefMap{in.n, in.c, oh, ow, make([]float64, in.n*in.c*oh*ow)}
			for n := 0; n < in.n; n++ {
				for c := 0; c < in.c; c++ {
					for oy := 0; oy < oh; oy++ {
						for ox := 0; ox < ow; ox++ {
							best, sum, cnt := math.Inf(-1), 0.0, 0
							for ky := 0; ky < 3; ky++ {
								for kx := 0; kx < 3; kx++ {
									iy, ix := oy*nd.stride-pt+ky, ox*nd.stride-pl+kx
									if iy < 0 || iy >= in.h || ix < 0 || ix >= in.w {
										continue
									}
									v := in.at(n, c, iy, ix)
									best, sum, cnt = max(best, v), sum+v, cnt+1
								}
							}
							if nd.kind == incAvgPool {
								best = sum / float64(cnt) // padded cells not counted
							}
							out.d[((n*in.c+c)*oh+oy)*ow+ox] = best
						}
					}
				}
			}
			maps[nd.name] = out
		case incConcat:
			out := &incRefMap{in.n, nd.outC, in.h, in.w, make([]float64, in.n*nd.outC*in.h*in.w)}
			hw := in.h * in.w
			c0 := 0
			for _, name := range nd.in {
				m := maps[name]
				for n := 0; n < in.n; n++ {
					copy(out.d[(n*nd.outC+c0)*hw:(n*nd.outC+c0+m.c)*hw], m.d[n*m.c*hw:(n+1)*m.c*hw])
				}
				c0 += m.c
			}
			maps[nd.name] = out
		}
	}
	return maps
}

// TestInceptionMatchesReference checks the float32 engine (folded batch
// norms, NHWC, concat in place, reused buffers) against the float64
// reference on random weights, on a batch of two non-square images.
func TestInceptionMatchesReference(t *testing.T) {
	tensors := syntheticInceptionTensors(3)
	b, err := newInception(tensors)
	if err != nil {
		t.Fatal(err)
	}
	const n, h, w = 2, 75, 67
	x := inceptionFixtureInput(n, h, w)
	rx := &incRefMap{n, 3, h, w, make([]float64, len(x.Data))}
	for i, v := range x.Data {
		rx.d[i] = float64(v)
	}
	want := refInception(tensors, rx)
	// A larger call first, so that the checked call runs on reused buffers.
	if _, err := b.Forward(inceptionFixtureInput(3, 64, 61)); err != nil {
		t.Fatal(err)
	}
	got, err := b.Forward(x)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range b.Info().Layers {
		g, r := got[i], want[name]
		if g.N != r.n || g.C != r.c || g.H != r.h || g.W != r.w {
			t.Fatalf("%s: shape %dx%dx%dx%d, reference %dx%dx%dx%d", name, g.N, g.C, g.H, g.W, r.n, r.c, r.h, r.w)
		}
		w32 := make([]float32, len(r.d))
		for j, v := range r.d {
			w32[j] = float32(v)
		}
		l2, ma := incRelErrors(g.Data, w32)
		t.Logf("%s %dx%dx%dx%d: relative L2 error %.2e, max-abs %.2e", name, g.N, g.C, g.H, g.W, l2, ma)
		if l2 > 1e-5 || ma > 1e-5 {
			t.Errorf("%s: relative L2 error %.3g, max-abs %.3g; want <= 1e-5", name, l2, ma)
		}
	}
}

// TestInceptionReusesBuffers checks that a steady-state Forward allocates no
// activation buffer (only small bookkeeping): the buffer plan is fixed, so
// every buffer keeps the capacity of its largest use.
func TestInceptionReusesBuffers(t *testing.T) {
	b := syntheticInception(t, 1)
	x := inceptionFixtureInput(2, 107, 107)
	for _, warm := range []*nn.Tensor{inceptionFixtureInput(1, 60, 131), x} {
		if _, err := b.Forward(warm); err != nil {
			t.Fatal(err)
		}
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	const runs = 3
	for i := 0; i < runs; i++ {
		b.Forward(x)
	}
	runtime.ReadMemStats(&m1)
	perCall := (m1.TotalAlloc - m0.TotalAlloc) / runs
	t.Logf("%d bytes allocated per steady-state Forward (%s BLAS)", perCall, blas.Backend)
	if blas.Backend == "openblas" && perCall > 64<<10 {
		t.Errorf("a steady-state Forward allocated %d bytes", perCall)
	}
}
