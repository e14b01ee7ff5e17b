package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/crd-ad/crd/internal/kernels"
)

// TestAvgPoolAt checks AvgPoolAt against the float64 direct pooling plus
// bias and ReLU, bit for bit between the Go loops and the AVX-512 kernel,
// and that it writes only its channels of the wider destination (and
// MaxPoolAt: MaxPool's values, in its channels only); and that
// relu(avgpool(conv1x1(x)) + b) = relu(conv1x1(avgpool(x)) + b) up to
// rounding, the rewrite of inception_v3's pooling branches.
func TestAvgPoolAt(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	sets := []kernels.Set{kernels.BLAS()}
	if kernels.AVX512Supported() {
		sets = append(sets, kernels.AVX512(kernels.Pool))
	}
	same := Window{KH: 3, KW: 3, StrideH: 1, StrideW: 1, Same: true}
	for _, c := range []int{1, 5, 32, 64, 77} {
		for _, win := range []Window{same, Square(3, 2, 1)} {
			for _, include := range []bool{false, true} {
				for _, ep := range []struct{ bias, relu bool }{{false, false}, {true, false}, {true, true}, {false, true}} {
					x := randTensor(r, 2, c, 9, 8)
					kind := poolAvgExclude
					if include {
						kind = poolAvgInclude
					}
					want := directPool(x, win, kind)
					var bias []float32
					if ep.bias {
						bias = make([]float32, c)
						for i := range bias {
							bias[i] = float32(r.NormFloat64())
						}
					}
					g := win.Apply(x.H, x.W)
					hw := g.OutH * g.OutW
					for i := range want {
						v := float64(want[i])
						if ep.bias {
							v += float64(bias[i/hw%c])
						}
						if ep.relu {
							v = max(v, 0)
						}
						want[i] = float32(v)
					}
					var first []float32
					for _, kern := range sets {
						name := fmt.Sprintf("C=%d %+v include %v %+v %v", c, win, include, ep, kern)
						d := &NHWC{}
						d.Reshape(x.N, g.OutH, g.OutW, c+7)
						for i := range d.Data {
							d.Data[i] = -5
						}
						AvgPoolAt(d, 3, FromNCHW(nil, x), win, include, bias, ep.relu, kern)
						got := make([]float32, 0, len(want))
						dn := d.ToNCHW(nil)
						for n := range x.N {
							for ch := range c + 7 {
								seg := dn.Data[(n*(c+7)+ch)*hw : (n*(c+7)+ch+1)*hw]
								if ch < 3 || ch >= 3+c {
									for _, v := range seg {
										if v != -5 {
											t.Fatalf("%s: wrote channel %d", name, ch)
										}
									}
									continue
								}
								got = append(got, seg...)
							}
						}
						closeTo(t, name, got, want, 2e-6)
						if first == nil {
							first = got
							continue
						}
						sameAsGo(t, name, got, first)
					}
				}
			}
		}
	}

	// MaxPoolAt: MaxPool's values (checked against float64 in
	// TestPoolNHWCDirect) in its channels only, on both paths.
	for _, kern := range sets {
		x := FromNCHW(nil, randTensor(r, 2, 37, 9, 8))
		win := Square(3, 2, 0)
		var want NHWC
		pool(&want, x, win, poolMax, kernels.BLAS())
		d := &NHWC{}
		d.Reshape(2, want.H, want.W, 37+6)
		for i := range d.Data {
			d.Data[i] = -5
		}
		MaxPoolAt(d, 4, x, win, kern)
		for p := range want.Rows() {
			for ch := range d.C {
				v := d.Data[p*d.C+ch]
				if ch < 4 || ch >= 4+37 {
					if v != -5 {
						t.Fatalf("MaxPoolAt %v wrote channel %d", kern, ch)
					}
				} else if w := want.Data[p*37+ch-4]; math.Float32bits(v) != math.Float32bits(w) {
					t.Fatalf("MaxPoolAt %v: pixel %d channel %d = %g, MaxPool gives %g", kern, p, ch-4, v, w)
				}
			}
		}
	}

	// The branch rewrite: pooling after the convolution, the bias after
	// the pooling.
	x := FromNCHW(nil, randTensor(r, 1, 24, 7, 9))
	c := randConv(r, 24, 16, Square(1, 1, 0), true)
	var pooled, keras NHWC
	AvgPool(&pooled, x, same, false)
	c.Forward(&keras, &pooled, nil)
	nb := randConv(r, 24, 16, Square(1, 1, 0), false)
	copy(nb.Weight, c.Weight)
	clear(nb.Bias)
	var conv NHWC
	nb.Forward(&conv, x, nil)
	for _, kern := range sets {
		got := &NHWC{}
		got.Reshape(1, 7, 9, 16)
		AvgPoolAt(got, 0, &conv, same, false, c.Bias, true, kern)
		closeTo(t, fmt.Sprintf("rewrite %v", kern), got.Data, keras.Data, 1e-5)
	}
}
