package nn

import (
	"runtime"
	"sync/atomic"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/internal/parallel"
)

// On the AVX-512 kernels with kernels.Winograd, a 3x3 stride-1 convolution
// with at least winoMinCin input and winoMinCout output channels runs as
// Winograd F(2x2, 3x3): its output is cut into tiles of 2x2 pixels, each
// computed from the 4x4 input pixels under it as
//
//	Y = A^T [ (G g G^T) .* (B^T d B) ] A
//
// summed over the input channels, g being a 3x3 kernel slice and d the input
// tile. The weight transform U = G g G^T is computed once per convolution
// in float64 (16 matrices Cin x Cout, each packed for the kernel, cached as
// the packed weights are); per block of tiles, the input transform V = B^T
// d B (16 matrices tiles x Cin, avx512.WinoInput) is multiplied by the 16
// U (avx512.PackedB), and the output transform (avx512.WinoOutput) adds the
// residual and bias and applies the ReLU as it writes each pixel inside the
// output. That is 16 products of Cin x Cout per 4 output pixels instead of
// 36: 2.25 times fewer multiplications. The values differ from the direct
// product's by float32 rounding (the transforms add and subtract up to 9
// terms), not bit for bit.
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
	// and products (16 x tiles x (Cin + Cout) floats, 1 MB): they stay in
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
	// 8, 128 tiles: measured faster than blocks of fewer tiles).
	winoColMaxTiles      = 144
	winoColBlocksPerCore = 2
)

// useWinograd reports whether c runs as Winograd F(2x2, 3x3) under kern on
// n images of the geometry g.
func (c *Conv2D) useWinograd(kern kernels.Set, n int, g Geometry) bool {
	return c.KH == 3 && c.KW == 3 && c.StrideH == 1 && c.StrideW == 1 && c.bf16 == nil &&
		c.Cin >= winoMinCin && c.Cout >= winoMinCout && n*((g.OutH+1)/2)*((g.OutW+1)/2) >= winoMinCallTiles &&
		kern.UsesAVX512(kernels.Conv|kernels.Winograd)
}

// winoWeight is the weight transform of a convolution, packed: pbs[4a+b] is
// the Cin x Cout matrix (G g G^T)[a][b], with the slice it was made from.
type winoWeight struct {
	pbs  [16]avx512.PackedB
	from weightSlice
}

func (p *winoWeight) madeFrom() weightSlice { return p.from }

// winoG is Winograd F(2, 3)'s weight transform matrix G (4 x 3).
var winoG = [4][3]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}

// winoWeights returns the packed weight transform of c, making it if the
// cache is empty or was made from another slice (as packedWeights).
func (c *Conv2D) winoWeights() *winoWeight {
	return cachedWeights(c, func(pc *packedCache) *atomic.Pointer[winoWeight] { return &pc.wino }, c.winoTransform)
}

// winoTransform computes U = G g G^T for every input and output channel in
// float64 and packs its 16 matrices.
func (c *Conv2D) winoTransform() *winoWeight {
	p := &winoWeight{from: c.weightsOf()}
	cin, cout := c.Cin, c.Cout
	u := make([]float32, cin*cout)
	acc := make([]float64, cin*cout)
	for a := range 4 {
		for b := range 4 {
			parallel.For(cin, 0, func(lo, hi int) {
				s := acc[lo*cout : hi*cout]
				clear(s)
				for ky := range 3 {
					for kx := range 3 {
						f := winoG[a][ky] * winoG[b][kx]
						if f == 0 {
							continue
						}
						wt := c.Weight[((ky*3+kx)*cin+lo)*cout : ((ky*3+kx)*cin+hi)*cout]
						for j, v := range wt {
							s[j] += f * float64(v)
						}
					}
				}
				for j, v := range s {
					u[lo*cout+j] = float32(v)
				}
			})
			p.pbs[a*4+b].Pack(cin, cout, u, cout)
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
	ves, mes := call.tb*cin, call.tb*cout
	v, m := buf[:16*ves], buf[16*ves:16*ves+16*mes]
	scratch := buf[16*ves+16*mes:]
	avx512.WinoInput(&call.g, call.x, b.t0, b.nt, v, cin, ves)
	for e := range 16 {
		call.u.pbs[e].MulRowsEpiloguePanels(b.q0, b.q1, b.nt, v[e*ves:], cin, nil, 0, nil, false, m[e*mes:], cout, scratch)
	}
	j1 := min(b.q1*avx512Panel, cout)
	avx512.WinoOutput(&call.g, m, cout, mes, b.t0, b.nt, b.q0*avx512Panel, j1, c.Bias[:cout], c.ReLU, call.res, call.ldr, call.dst, call.ldd)
	call.bufs <- buf
}

// winoTiles returns the tiles per block for a convolution of cin to cout
// channels on tiles tiles, in whole 12-row tiles: about winoBlockFloats of
// buffers, small enough that every core gets parallel.ChunksPerWorker
// blocks; or, when more, enough tiles that the weight transform streamed
// by each block (16 Cin Cout floats) is about the buffers' traffic (16
// tiles (Cin + Cout) floats, written and read), small enough that each core
// gets one block. Measured on the trunks' layers: blocks of few tiles
// with 512 or 1024 channels stream the weights too often.
func winoTiles(tiles, cin, cout, procs int) int {
	ceil := func(a, b int) int { return (a + b - 1) / b }
	tb := winoBlockFloats / (16 * (cin + cout)) / blockTile * blockTile
	tb = min(tb, ceil(ceil(tiles, procs*parallel.ChunksPerWorker), blockTile)*blockTile)
	bal := cin * cout / (2 * (cin + cout)) / blockTile * blockTile
	bal = min(bal, ceil(ceil(tiles, procs), blockTile)*blockTile)
	return max(min(max(tb, bal), winoMaxTiles), winoMinTiles)
}

// runWinograd computes c(x) (+ res) into channels [c0, c0+Cout) of dst by
// Winograd F(2x2, 3x3) on the AVX-512 kernels, block by block.
func (c *Conv2D) runWinograd(dst *NHWC, c0 int, x, res *NHWC, g Geometry, ws *Workspace) {
	s := &ws.wino
	u := c.winoWeights()
	procs := runtime.GOMAXPROCS(0)
	call := &s.call
	*call = winoCall{c: c, u: u, x: x.Data, dst: dst.Data[c0:], ldd: dst.C,
		g: avx512.WinoTiles{N: x.N, H: x.H, W: x.W, C: x.C, PadTop: g.PadTop, PadLeft: g.PadLeft,
			OutH: g.OutH, OutW: g.OutW, TH: (g.OutH + 1) / 2, TW: (g.OutW + 1) / 2}}
	switch {
	case res == dst:
		call.res, call.ldr = call.dst, dst.C
	case res != nil:
		call.res, call.ldr = res.Data, res.C
	}
	tiles := call.g.Tiles()
	tb := winoTiles(tiles, c.Cin, c.Cout, procs)
	nb := (tiles + tb - 1) / tb
	panels := (c.Cout + avx512Panel - 1) / avx512Panel
	ncol := 1
	switch {
	case procs == 1 || 16*c.Cin*c.Cout < winoColMinWeights:
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
	need := 16*tbuf*(c.Cin+c.Cout) + avx512.MulScratch
	if s.bufs == nil || s.bufLen < need || s.procs != procs {
		s.bufLen, s.procs = max(need, s.bufLen), procs
		s.bufs = make(chan []float32, procs)
		for range procs {
			s.bufs <- make([]float32, s.bufLen)
		}
	}
	call.bufs = s.bufs
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
