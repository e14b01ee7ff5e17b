package avx512

import "fmt"

// WinoTiles is the geometry of the M x M-pixel output tiles of a Winograd
// F(M x M, R x R) convolution (stride 1; F(2x2, 3x3), F(4x4, 3x3), F(2x2,
// 5x5) or F(3x3, 5x5)) of an N x H x W x C NHWC input: TH x TW tiles per
// image, tile t being image t / (TH*TW), tile row (t % (TH*TW)) / TW and
// column t % TW; tile (ty, tx) reads the Q x Q input pixels (Q = M+R-1: 4,
// 6 or 7) from row
// M ty - PadTop and column M tx - PadLeft (zero outside the input) and
// writes the output pixels from row M ty and column M tx that lie inside
// the OutH x OutW output. Its transforms are Q^2 matrices (Transforms).
type WinoTiles struct {
	M, R            int
	N, H, W, C      int
	PadTop, PadLeft int
	OutH, OutW      int
	TH, TW          int
}

// Transforms is the number of transformed matrices, (M+R-1)^2: 16, 36 or
// 49.
func (g *WinoTiles) Transforms() int { return (g.M + g.R - 1) * (g.M + g.R - 1) }

// valid reports whether g's M and R are a variant the kernels compute.
func (g *WinoTiles) valid() bool {
	return g.R == 3 && (g.M == 2 || g.M == 4) || g.R == 5 && (g.M == 2 || g.M == 3)
}

// Tiles is the number of tiles of all the images, N*TH*TW.
func (g *WinoTiles) Tiles() int { return g.N * g.TH * g.TW }

// WinoInput computes the input transform V = B^T d B of tiles [t0, t0+nt)
// of x, for every channel: element (a, b) of tile t0+i's transform,
// channel c, goes to v[(Q a+b)*es + i*ldv + c] (Q = M+R-1). For F(2x2,
// 3x3), B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]; F(4x4, 3x3)
// and F(2x2, 5x5) share a 6x6 B^T, F(3x3, 5x5) has a 7x7 one (avx512.h,
// crd_wino_in). It panics on slices too short for the shapes, an M and R
// of none of the four variants, or unless Supported.
func WinoInput(g *WinoTiles, x []float32, t0, nt int, v []float32, ldv, es int) {
	if !Supported() {
		panic(errUnsupported)
	}
	if nt <= 0 {
		return
	}
	if !g.valid() || g.C <= 0 || g.TH <= 0 || g.TW <= 0 || t0 < 0 || t0+nt > g.Tiles() || len(x) < g.N*g.H*g.W*g.C ||
		ldv < g.C || es < 0 || len(v) < (g.Transforms()-1)*es+(nt-1)*ldv+g.C {
		panic(fmt.Sprintf("avx512: WinoInput: tiles [%d, %d) of %+v with %d input values, %d transformed (stride %d, %d)",
			t0, t0+nt, *g, len(x), len(v), ldv, es))
	}
	winoInKernel(g, x, t0, nt, v, ldv, es)
}

// WinoOutput computes the output transform Y = A^T X A of tiles [t0,
// t0+nt), channels [j0, j1), where element (a, b) of tile t0+i's X,
// channel j, is m[(Q a+b)*es + i*ldm + j] (Q = M+R-1; for F(2x2, 3x3), A^T
// = [[1,1,1,0],[0,1,-1,-1]]; for F(2x2, 5x5), [[1,1,1,1,1,0],[0,1,-1,2,-2,1]];
// for F(4x4, 3x3) and F(3x3, 5x5) see avx512.h, crd_wino_out), and
// stores each of its pixels p (p = (image*OutH + oy)*OutW + ox) inside the
// output as
//
//	dst[p*ldd + j] = relu(Y + res[p*ldr + j] + bias[j])
//
// in that order in float32, with no residual when res is nil, no bias when
// bias is nil, and the ReLU (clearing values with the sign bit set) only
// when relu. res may alias dst with ldr = ldd. It panics on slices too
// short for the shapes, an M and R of none of the four variants, or
// unless Supported.
func WinoOutput(g *WinoTiles, m []float32, ldm, es, t0, nt, j0, j1 int, bias []float32, relu bool, res []float32, ldr int, dst []float32, ldd int) {
	if !Supported() {
		panic(errUnsupported)
	}
	if nt <= 0 || j1 <= j0 {
		return
	}
	pix := g.N * g.OutH * g.OutW
	if !g.valid() || j0 < 0 || t0 < 0 || t0+nt > g.Tiles() || ldm < j1 || es < 0 || len(m) < (g.Transforms()-1)*es+(nt-1)*ldm+j1 ||
		g.M*g.TH < g.OutH || g.M*g.TW < g.OutW || ldd < j1 || len(dst) < (pix-1)*ldd+j1 ||
		(bias != nil && len(bias) < j1) || (res != nil && (ldr < j1 || len(res) < (pix-1)*ldr+j1)) {
		panic(fmt.Sprintf("avx512: WinoOutput: tiles [%d, %d), channels [%d, %d) of %+v with %d values (strides %d, %d), output %d (stride %d)",
			t0, t0+nt, j0, j1, *g, len(m), ldm, es, len(dst), ldd))
	}
	winoOutKernel(g, m, ldm, es, t0, nt, j0, j1, bias, relu, res, ldr, dst, ldd)
}
