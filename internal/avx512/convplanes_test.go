package avx512

import (
	"math"
	"testing"
)

// TestConvPlanes: ConvPlanes gives its doc's loop in Go (math.FMA, then the
// bias and the ReLU) bit for bit, for rows of output tiles of 12, 4 and 1
// pixels, a range of rows that starts and ends inside images, and output
// pixels wider than PlanesOut whose other channels it leaves alone, with
// weight rows of PlanesOut values and wider ones (ldw, columns from an
// offset); and it is within float32 rounding of the sum in float64.
func TestConvPlanes(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 here")
	}
	for _, s := range []PlanesShape{
		{C: 3, H: 9, W: 37, KH: 3, KW: 3, Stride: 2},
		{C: 2, H: 6, W: 21, KH: 2, KW: 3, Stride: 1},
		{C: 1, H: 5, W: 5, KH: 1, KW: 1, Stride: 1},
	} {
		s.OutH, s.OutW = (s.H-s.KH)/s.Stride+1, (s.W-s.KW)/s.Stride+1
		const n, ldc = 3, PlanesOut + 5
		x := randMat(n*s.C*s.H*s.W, 11)
		for _, wc := range []struct{ ldw, off int }{{PlanesOut, 0}, {2*PlanesOut + 3, PlanesOut + 1}} {
			wall := randMat(s.KH*s.KW*s.C*wc.ldw, 12)
			w, ldw := wall[wc.off:], wc.ldw
			bias := randMat(PlanesOut, 13)
			for _, relu := range []bool{false, true} {
				out := make([]float32, n*s.OutH*s.OutW*ldc)
				for i := range out {
					out[i] = -9
				}
				r0, r1 := 1, n*s.OutH-1
				ConvPlanes(&s, x, w, ldw, bias, relu, out, ldc, r0, r1)
				for r := 0; r < n*s.OutH; r++ {
					img, oy := r/s.OutH, r%s.OutH
					for ox := range s.OutW {
						px := out[(r*s.OutW+ox)*ldc:][:ldc]
						for o := range ldc {
							if o >= PlanesOut || r < r0 || r >= r1 {
								if px[o] != -9 {
									t.Fatalf("%+v: wrote row %d pixel %d channel %d", s, r, ox, o)
								}
								continue
							}
							var acc float32
							var ref float64
							for ky := range s.KH {
								for kx := range s.KW {
									for c := range s.C {
										v := x[((img*s.C+c)*s.H+oy*s.Stride+ky)*s.W+ox*s.Stride+kx]
										wt := w[((ky*s.KW+kx)*s.C+c)*ldw+o]
										acc = float32(math.FMA(float64(v), float64(wt), float64(acc)))
										ref += float64(v) * float64(wt)
									}
								}
							}
							acc += bias[o]
							ref += float64(bias[o])
							if relu {
								u := math.Float32bits(acc)
								acc = math.Float32frombits(u &^ uint32(int32(u)>>31))
								ref = max(ref, 0)
							}
							if math.Float32bits(px[o]) != math.Float32bits(acc) {
								t.Fatalf("%+v relu %v: row %d pixel %d channel %d = %g, the loop gives %g", s, relu, r, ox, o, px[o], acc)
							}
							if math.Abs(float64(px[o])-ref) > 1e-5*(1+math.Abs(ref)) {
								t.Fatalf("%+v: row %d pixel %d channel %d = %g, float64 %g", s, r, ox, o, px[o], ref)
							}
						}
					}
				}
			}
		}
	}
}
