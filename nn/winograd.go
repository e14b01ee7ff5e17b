package nn

import (
	"runtime"
	"sync/atomic"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/internal/parallel"
)

// On the AVX-512 kernels with kernels.Winograd, a 3x3 stride-1 convolution
// with at least winoMinCin input and winoMinCout output channels, on
// enough tiles, runs as Winograd F(m x m, 3x3), m = 2 or 4 (winoF4): its
// output is cut into tiles of m x m pixels, each computed from the (m+2) x
// (m+2) input pixels under it as
//
//	Y = A^T [ (G g G^T) .* (B^T d B) ] A
//
// summed over the input channels, g being a 3x3 kernel slice and d the input
// tile. The weight transform U = G g G^T is computed once per convolution
// and tile size in float64 ((m+2)^2 matrices Cin x Cout, each packed for the
// kernel, cached as the packed weights are); per block of tiles, the input
// transform V = B^T d B ((m+2)^2 matrices tiles x Cin, avx512.WinoInput) is
// multiplied by the U (avx512.PackedB), and the output transform
// (avx512.WinoOutput) adds the residual and bias and applies the ReLU as it
// writes each pixel inside the output. F(2x2, 3x3) computes 16 products of
// Cin x Cout per 4 output pixels instead of 36, 2.25 times fewer
// multiplications; F(4x4, 3x3) 36 per 16 pixels, 4 times fewer. The values
// differ from the direct product's by float32 rounding (the transforms add
// and subtract up to 9 terms for m = 2, with coefficients up to 8 for m =
// 4), not bit for bit.
//
// A 5x5 stride-1 convolution (Inception's 35x35 5x5s, 48 to 64 channels),
// with the same bounds on channels (wino5MinCallTiles on tiles), runs as
// Winograd F(3x3, 5x5) (up to wino35MaxWeights) or F(2x2, 5x5). F(2x2, 5x5)
// has the same 6x6 input tiles and input transform as F(4x4, 3x3) (the same
// points), 36 products per 4 output pixels instead of 100, 2.8 times fewer
// multiplications, with its own weight transform (G, 6 x 5) and output
// transform (A^T, 2 x 6); F(3x3, 5x5) has 7x7 tiles, 49 products per 9
// pixels, 4.6 times fewer. Their values differ from the direct product's
// by about as much as F(4x4, 3x3)'s.
const (
	// winoMinCin and winoMinCout are the fewest input and output channels
	// of a convolution run by Winograd (measured: docs/profile.md).
	winoMinCin  = 32
	winoMinCout = 32
	// winoMinCallTiles is the fewest tiles of a call run by Winograd: with
	// fewer (7x7 maps at batch 1: 16 tiles for 49 pixels), the weight
	// transform, 16/9 of the weights, is streamed for too little work, and
	// the direct path was as fast or faster.
	winoMinCallTiles = 32
	// winoBlockFloats is the target size of a block's transformed input
	// and products ((m+2)^2 x tiles x (Cin + Cout) floats, 1 MB): they stay in
	// the core's L2 cache between the transforms and the products.
	winoBlockFloats = 1 << 18
	// winoMinTiles and winoMaxTiles bound a block's number of tiles (whole
	// 12-row tiles of the kernel).
	winoMinTiles = 12
	winoMaxTiles = 192
	// winoColMinWeights is the fewest transformed weights (floats, 2 MB)
	// of a convolution whose blocks are also cut over column panels when
	// its tiles are few or make too few blocks for the cores.
	winoColMinWeights = 1 << 19
	// winoColMinPanels is the fewest panels of a column block.
	winoColMinPanels = 2
	// winoColMaxTiles is the most tiles of a call whose blocks each take
	// all its tiles, times winoColBlocksPerCore column blocks a core
	// (wide_resnet50_2's layer3 at batch 1, 49 tiles, and layer4 at batch
	// 8, 128 tiles: measured faster than blocks of fewer tiles). The input
	// of all the tiles is transformed once, on all cores, into a buffer
	// the blocks share, so that more blocks cost no more transforms: with
	// four a core, a core slowed by other work takes fewer (layer3's 3x3
	// at batch 1 on two shared cores, alternated with the former one
	// block a core, each transforming all the tiles: 3.1 against 4.1 ms,
	// and 0.88 against 0.95 ms for resnet18's; docs/profile.md).
	winoColMaxTiles      = 144
	winoColBlocksPerCore = 4
	// winoPad pads the rows of a block's transformed input and products
	// (one row a tile) by a cache line: with 512 or 1024 channels, rows 2
	// or 4 KB apart fall in the same L1 sets, and the kernel's 12 rows of
	// A evicted each other and the weight panel (measured 3-5% faster on
	// 14x14 maps at batch 1; docs/profile.md).
	winoPad = 16
)

// F(4x4, 3x3) computes 36 products of Cin x Cout per 16 output pixels,
// 1.78 times fewer than F(2x2, 3x3), but its weight transform is 2.25 times
// larger, its transforms cost more per tile and its tiles overhang small
// maps further. Measured per layer shape (docs/profile.md), it was faster
// for up to 128 x 128 channels (the trunks' 56x56 and 28x28 layers, the
// inception stem and 35x35 blocks), and for up to 256 x 256 with many tiles
// (wide_resnet50_2's layer2 at batch 8); slower with 256 channels or more
// on fewer tiles (14x14 maps, and 28x28 at batch 1).
const (
	// winoF4Small is the most Cin*Cout of a convolution run by F(4x4,
	// 3x3) whatever its number of tiles (at least winoMinCallTiles).
	winoF4Small = 128 * 128
	// winoF4Large and winoF4MinTiles: a convolution with Cin*Cout at most
	// winoF4Large runs F(4x4, 3x3) on calls of at least winoF4MinTiles
	// tiles of 4x4.
	winoF4Large    = 256 * 256
	winoF4MinTiles = 256
)

// wino5MinCallTiles is the fewest 2x2 tiles of a 5x5 call run by Winograd
// (either variant). The weight transforms are only 36/25 and 49/25 of the
// weights for 2.8 and 4.6 times fewer products: with 16 tiles (8x8 maps at
// batch 1, 48 to 64 channels) F(2x2, 5x5) measured 1.3-1.6 times faster
// than the direct path and F(3x3, 5x5) faster still; F(2x2, 5x5) 1.2-1.3
// times with 16 tiles of 512 channels (7x7), 1.2-1.6 with 4 tiles of 64
// channels, 0.9 with 4 of 32 (docs/profile.md).
const wino5MinCallTiles = 16

// F(3x3, 5x5) computes 49 products per 9 output pixels, 1.65 times fewer
// than F(2x2, 5x5), and its transforms cost less per pixel too (7x7 input
// tiles on the points 0, 1, -1, 2, -2, 1/2, -1/2). Measured (docs/profile.md)
// 1.3-1.6 times faster than F(2x2, 5x5) on Inception's 35x35 48 -> 64 and
// on up to 96 x 96 channels, 8x8 maps included; with 128 to 512 channels
// it was faster on some maps and slower on others (35x35 128 x 128: its
// weight transform, 49/36 of F(2x2, 5x5)'s, is then large enough that the
// call is cut over column panels with all its tiles in each block; 10x10
// 256 x 256, 7x7 512 x 512).
//
// wino35MaxWeights is the most Cin*Cout of a 5x5 convolution run by
// F(3x3, 5x5); above it F(2x2, 5x5) runs.
const wino35MaxWeights = 96 * 96

// winoF4 reports whether a convolution of cin to cout channels on n images
// of the geometry g runs F(4x4, 3x3) rather than F(2x2, 3x3).
func winoF4(cin, cout, n int, g Geometry) bool {
	tiles := n * ((g.OutH + 3) / 4) * ((g.OutW + 3) / 4)
	return tiles >= winoMinCallTiles && (cin*cout <= winoF4Small || (cin*cout <= winoF4Large && tiles >= winoF4MinTiles))
}

// useWinograd reports whether c runs by Winograd under kern on n images of
// the geometry g.
func (c *Conv2D) useWinograd(kern kernels.Set, n int, g Geometry) bool {
	return c.winoTile(kern, n, g) > 0
}

// winoTile is the output tile side of the Winograd variant that c runs
// under kern on n images of the geometry g: for a 3x3 kernel 2 for F(2x2,
// 3x3), 4 for F(4x4, 3x3); for a 5x5 kernel 2 for F(2x2, 5x5), 3 for
// F(3x3, 5x5); 0 for none (the direct path).
func (c *Conv2D) winoTile(kern kernels.Set, n int, g Geometry) int {
	minTiles := winoMinCallTiles
	if c.KH == 5 {
		minTiles = wino5MinCallTiles
	}
	if c.KH != c.KW || (c.KH != 3 && c.KH != 5) || c.StrideH != 1 || c.StrideW != 1 || c.bf16 != nil ||
		c.Cin < winoMinCin || c.Cout < winoMinCout || n*((g.OutH+1)/2)*((g.OutW+1)/2) < minTiles ||
		!kern.UsesAVX512(kernels.Conv|kernels.Winograd) {
		return 0
	}
	if c.KH == 5 {
		if c.Cin*c.Cout <= wino35MaxWeights {
			return 3
		}
		return 2
	}
	if winoF4(c.Cin, c.Cout, n, g) {
		return 4
	}
	return 2
}

// winoWeight is the weight transform of a convolution for tiles of m x m
// pixels, packed: pbs[q a+b] (q = m + r - 1, r the kernel's side) is the
// Cin x Cout matrix (G g G^T)[a][b], with the slice it was made from.
type winoWeight struct {
	m    int
	pbs  []avx512.PackedB
	from weightSlice
}

func (p *winoWeight) madeFrom() weightSlice { return p.from }

// winoG2, winoG4 and winoG25 are Winograd F(2, 3)'s, F(4, 3)'s and F(2,
// 5)'s weight transform matrices G (4 x 3, 6 x 3 and 6 x 5). F(2, 5) uses
// F(4, 3)'s points 0, 1, -1, 2, -2 and infinity, so its input transform is
// F(4, 3)'s: row k of G is s_k (1, p_k, p_k^2, p_k^3, p_k^4) with the same
// scales s_k (1/4, -1/6, -1/6, 1/24, 1/24) as F(4, 3)'s rows, and the row
// of infinity picks the last tap.
var (
	winoG2 = [][]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}
	winoG4 = [][]float64{{1.0 / 4, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}}
	winoG25 = [][]float64{{1.0 / 4, 0, 0, 0, 0}, {-1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 3, 2.0 / 3},
		{1.0 / 24, -1.0 / 12, 1.0 / 6, -1.0 / 3, 2.0 / 3}, {0, 0, 0, 0, 1}}
	// winoG35 is F(3, 5)'s G (7 x 5) on the points p_k = 0, 1, -1, 2, -2,
	// 1/2, -1/2: row k is (1, p_k, ..., p_k^4) over the product of (p_k -
	// p_l), l != k.
	winoG35 = [][]float64{{-1, 0, 0, 0, 0}, {-2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9},
		{-2.0 / 9, 2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9}, {1.0 / 90, 2.0 / 90, 4.0 / 90, 8.0 / 90, 16.0 / 90},
		{1.0 / 90, -2.0 / 90, 4.0 / 90, -8.0 / 90, 16.0 / 90}, {32.0 / 45, 16.0 / 45, 8.0 / 45, 4.0 / 45, 2.0 / 45},
		{32.0 / 45, -16.0 / 45, 8.0 / 45, -4.0 / 45, 2.0 / 45}}
)

// winoWeights returns the packed weight transform of c for tiles of m x m
// pixels, making it if the cache is empty or was made from another slice
// (as packedWeights).
func (c *Conv2D) winoWeights(m int) *winoWeight {
	if m == 3 {
		return cachedWeights(c, func(pc *packedCache) *atomic.Pointer[winoWeight] { return &pc.wino3 }, func() *winoWeight { return c.winoTransform(3) })
	}
	if m == 4 {
		return cachedWeights(c, func(pc *packedCache) *atomic.Pointer[winoWeight] { return &pc.wino4 }, func() *winoWeight { return c.winoTransform(4) })
	}
	return cachedWeights(c, func(pc *packedCache) *atomic.Pointer[winoWeight] { return &pc.wino }, func() *winoWeight { return c.winoTransform(2) })
}

// winoTransform computes U = G g G^T for tiles of m x m pixels for every
// input and output channel in float64 and packs its (m+r-1)^2 matrices (r
// = KH = KW, 3 or 5).
func (c *Conv2D) winoTransform(m int) *winoWeight {
	gm := winoG2
	switch {
	case c.KH == 5 && m == 3:
		gm = winoG35
	case c.KH == 5:
		gm = winoG25
	case m == 4:
		gm = winoG4
	}
	t, r := len(gm), len(gm[0])
	p := &winoWeight{m: m, pbs: make([]avx512.PackedB, t*t), from: c.weightsOf()}
	cin, cout := c.Cin, c.Cout
	u := make([]float32, cin*cout)
	acc := make([]float64, cin*cout)
	for a := range t {
		for b := range t {
			parallel.For(cin, 0, func(lo, hi int) {
				s := acc[lo*cout : hi*cout]
				clear(s)
				for ky := range r {
					for kx := range r {
						f := gm[a][ky] * gm[b][kx]
						if f == 0 {
							continue
						}
						wt := c.Weight[((ky*r+kx)*cin+lo)*cout : ((ky*r+kx)*cin+hi)*cout]
						for j, v := range wt {
							s[j] += f * float64(v)
						}
					}
				}
				for j, v := range s {
					u[lo*cout+j] = float32(v)
				}
			})
			p.pbs[a*t+b].Pack(cin, cout, u, cout)
		}
	}
	return p
}

// winoScratch is the scratch of the Winograd path, kept in a Workspace.
type winoScratch struct {
	call   winoCall
	blocks []winoBlock
	bufs   chan []float32 // one buffer per goroutine that may run a block at once
	bufLen int
	procs  int
	v      []float32 // the transformed input the blocks share (column cut)
}

// winoCall is what the blocks of one call share.
type winoCall struct {
	c      *Conv2D
	u      *winoWeight
	g      avx512.WinoTiles
	x      []float32
	dst    []float32 // from channel c0 of the output
	ldd    int
	res    []float32 // nil: no residual
	ldr    int
	tb     int // the tiles of a block's buffers
	bufs   chan []float32
	colCut bool
	// v is the transformed input of all the tiles, shared by the blocks
	// (nil: each block transforms its own tiles).
	v []float32
}

// winoBlock is tiles [t0, t0+nt) times panels [q0, q1) of a call.
type winoBlock struct {
	call   *winoCall
	t0, nt int
	q0, q1 int
}

// Run transforms the block's input tiles, multiplies them by the weight
// transform's panels [q0, q1), and transforms the products into the output.
func (b *winoBlock) Run() {
	call := b.call
	c := call.c
	cin, cout := c.Cin, c.Cout
	buf := <-call.bufs
	nt := call.g.Transforms()
	ldv, ldm := cin+winoPad, cout+winoPad
	ves, mes := call.tb*ldv, call.tb*ldm
	v, m := buf[:nt*ves], buf[nt*ves:nt*ves+nt*mes]
	scratch := buf[nt*ves+nt*mes:]
	if call.v != nil {
		v = call.v[b.t0*ldv:]
	} else {
		avx512.WinoInput(&call.g, call.x, b.t0, b.nt, v, ldv, ves)
	}
	for e := range nt {
		call.u.pbs[e].MulRowsEpiloguePanels(b.q0, b.q1, b.nt, v[e*ves:], ldv, nil, 0, nil, false, m[e*mes:], ldm, scratch)
	}
	j1 := min(b.q1*avx512Panel, cout)
	avx512.WinoOutput(&call.g, m, ldm, mes, b.t0, b.nt, b.q0*avx512Panel, j1, c.Bias[:cout], c.ReLU, call.res, call.ldr, call.dst, call.ldd)
	call.bufs <- buf
}

// winoTiles returns the tiles per block for a convolution of cin to cout
// channels on tiles tiles with nt transformed matrices, in whole 12-row
// tiles: about winoBlockFloats of buffers, small enough that every core
// gets parallel.ChunksPerWorker blocks; or, when more, enough tiles that
// the weight transform streamed by each block (nt Cin Cout floats) is about
// the buffers' traffic (nt tiles (Cin + Cout) floats, written and read),
// small enough that each core gets one block. Measured on the trunks' layers: blocks of few tiles
// with 512 or 1024 channels stream the weights too often.
func winoTiles(tiles, cin, cout, procs, nt int) int {
	ceil := func(a, b int) int { return (a + b - 1) / b }
	tb := winoBlockFloats / (nt * (cin + cout)) / blockTile * blockTile
	tb = min(tb, ceil(ceil(tiles, procs*parallel.ChunksPerWorker), blockTile)*blockTile)
	bal := cin * cout / (2 * (cin + cout)) / blockTile * blockTile
	bal = min(bal, ceil(ceil(tiles, procs), blockTile)*blockTile)
	return max(min(max(tb, bal), winoMaxTiles), winoMinTiles)
}

// runWinograd computes c(x) (+ res) into channels [c0, c0+Cout) of dst by
// Winograd F(m x m, r x r) (F(2x2, 3x3), F(4x4, 3x3), F(2x2, 5x5) or F(3x3,
// 5x5), r = KH) on the AVX-512 kernels, block by block.
func (c *Conv2D) runWinograd(dst *NHWC, c0 int, x, res *NHWC, g Geometry, m int, ws *Workspace) {
	s := &ws.wino
	u := c.winoWeights(m)
	procs := runtime.GOMAXPROCS(0)
	call := &s.call
	*call = winoCall{c: c, u: u, x: x.Data, dst: dst.Data[c0:], ldd: dst.C,
		g: avx512.WinoTiles{M: m, R: c.KH, N: x.N, H: x.H, W: x.W, C: x.C, PadTop: g.PadTop, PadLeft: g.PadLeft,
			OutH: g.OutH, OutW: g.OutW, TH: (g.OutH + m - 1) / m, TW: (g.OutW + m - 1) / m}}
	switch {
	case res == dst:
		call.res, call.ldr = call.dst, dst.C
	case res != nil:
		call.res, call.ldr = res.Data, res.C
	}
	tiles := call.g.Tiles()
	nt := call.g.Transforms()
	tb := winoTiles(tiles, c.Cin, c.Cout, procs, nt)
	nb := (tiles + tb - 1) / tb
	panels := (c.Cout + avx512Panel - 1) / avx512Panel
	ncol := 1
	switch {
	case procs == 1 || nt*c.Cin*c.Cout < winoColMinWeights:
	case tiles <= winoColMaxTiles:
		// All the tiles in each block, cut over columns only: each core
		// streams its share of the weight transform once.
		nb = 1
		ncol = max(min(procs*winoColBlocksPerCore, panels/winoColMinPanels), 1)
	case nb < procs*parallel.ChunksPerWorker:
		ncol = min((procs*parallel.ChunksPerWorker+nb-1)/nb, panels/winoColMinPanels)
		ncol = max(ncol, 1)
	}
	// The buffers hold the largest block's tiles.
	rt := (tiles + blockTile - 1) / blockTile
	tbuf := (rt + nb - 1) / nb * blockTile
	call.tb = tbuf
	need := nt*tbuf*(c.Cin+c.Cout+2*winoPad) + avx512.MulScratch
	if s.bufs == nil || s.bufLen < need || s.procs != procs {
		s.bufLen, s.procs = max(need, s.bufLen), procs
		s.bufs = make(chan []float32, procs)
		for range procs {
			s.bufs <- make([]float32, s.bufLen)
		}
	}
	call.bufs = s.bufs
	if nb == 1 && ncol > 1 {
		// One block of tiles cut over columns: transform the input once.
		ldv := c.Cin + winoPad
		ves := tbuf * ldv
		if cap(s.v) < nt*ves {
			s.v = make([]float32, nt*ves)
		}
		call.v = s.v[:nt*ves]
		parallel.For(rt, 0, func(lo, hi int) {
			t0, t1 := lo*blockTile, min(hi*blockTile, tiles)
			avx512.WinoInput(&call.g, call.x, t0, t1-t0, call.v[t0*ldv:], ldv, ves)
		})
	}
	s.blocks = s.blocks[:0]
	// nb blocks of tiles, spread evenly in whole 12-row tiles.
	for i := range nb {
		t0, t1 := i*rt/nb*blockTile, min((i+1)*rt/nb*blockTile, tiles)
		if t1 <= t0 {
			continue
		}
		for j := range ncol {
			s.blocks = append(s.blocks, winoBlock{call: call, t0: t0, nt: t1 - t0, q0: j * panels / ncol, q1: (j + 1) * panels / ncol})
		}
	}
	parallel.Run(s.blocks)
	clear(s.blocks)
	*call = winoCall{}
}
