package nn

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/parallel"
)

// The AVX-512 path of a convolution cuts the output pixels into blocks that
// the cores take one at a time (parallel.Run). A block multiplies its rows
// of the left matrix by the weights (packed once per convolution,
// Conv2D.packedWeights): a 1x1 stride-1 convolution's input as it is;
// otherwise, from an input of at most 2 MB, the kernel reads the row of
// each output pixel whose window lies inside the input straight from the
// input (an implicit GEMM, each row at its own offset: rowsInPlace) and
// the block gathers im2col rows for the pixels whose windows reach the
// padding only; from a larger input, it reads each tile of 12 pixels of
// one output row whose windows lie inside the input straight from the
// input and the block gathers im2col rows for the other tiles. The kernel
// starts from the residual, if any, and adds the bias and ReLU in
// registers before it stores each output
// (avx512.PackedB.MulConvRowsPanels, MulConv and MulRowsEpilogue): one
// synchronisation per layer instead of one per step of each GEMM chunk,
// one pass over the output, and a core slowed by other work takes fewer
// blocks. Each output value is a sum over the same
// products in the same order as on the chunked path, so the results are
// bit-identical.
const (
	// blockFloats is the target size of a block's im2col rows (256 KB):
	// they stay in the core's L2 cache while the GEMM reads them.
	blockFloats = 1 << 16
	// minBlockRows and maxBlockRows bound a block's number of pixels; a
	// block is a whole number of the GEMM's 12-row register tiles.
	minBlockRows = 48
	maxBlockRows = 384
	blockTile    = 12
	// minBlockWork is the GEMM size (rows x columns x inner) under which
	// a convolution stays one block, on one core.
	minBlockWork = 1 << 18
)

// convBlocks is the scratch of the block path, kept in a Workspace.
type convBlocks struct {
	call   convCall
	one    [1]ConvOut // the output of a single convolution's call
	pbs    []*avx512.PackedB
	blocks []convBlock
	// bufs holds one buffer per goroutine that may run a block at once.
	bufs    chan *blockBuf
	bufLen  int
	bufProc int
	// xoff is, per part of the inner dimension, where its values lie in the
	// input relative to a window's first pixel (avx512.PackedB.MulConv).
	xoff []int64
	// cols, tiles and col are the scratch of a call cut over columns.
	cols  []colBlock
	tiles []int64
	col   []float32
	// rowoff is the scratch of a call read row by row: where each output
	// pixel's window starts in the input.
	rowoff []int64
}

// blockBuf is the scratch of one block: f holds the rows gathered for the
// tiles that cannot be read in place (whole tiles), or for the rows that
// cannot when read row by row, then avx512.MulScratch floats; tiles says
// where each tile is read, rows where each row is
// (avx512.PackedB.MulConvRowsPanels).
type blockBuf struct {
	f     []float32
	tiles []int64
	rows  []int64
}

// convCall is what the blocks of one call share: convolutions of the same
// input with the same window (one, or a ForwardGroup's).
type convCall struct {
	outs   []ConvOut
	pbs    []*avx512.PackedB // outs[i].Conv's packed weights
	x, res *NHWC             // res: with a single convolution only
	g      Geometry
	direct bool
	bufs   chan *blockBuf
	xoff   []int64
	// inPlace: tiles may be read in place (Conv2D.inPlace).
	inPlace bool
	// tiles and col: where each tile of 12 pixels is read, and the rows
	// gathered, for blocks over columns (colBlock).
	tiles []int64
	col   []float32
	// rowoff, when not nil, is where each output pixel's window starts in
	// the input, -1 when it reaches the padding: the tiles are read row by
	// row, in place but for those pixels, gathered (Conv2D.rowsInPlace).
	// For blocks over columns, a pixel gathered into col is -1 - its row
	// there.
	rowoff []int64
}

// convBlock is output pixels [r0, r1) of a convolution call.
type convBlock struct {
	call   *convCall
	r0, r1 int
}

// Run computes the block: for a 1x1 convolution, a product with the input
// as it is; else a product that reads the row of each pixel whose window
// lies inside the input where it lies (rowsInPlace), or each tile of 12
// pixels of one output row, all windows inside the input, where it lies
// (an implicit GEMM), and the other rows or tiles from rows gathered first
// (im2col). All fuse the residual, bias and ReLU. The convolutions of a
// group run one after the other on the block's input rows, gathered once.
func (b *convBlock) Run() {
	call := b.call
	c0 := call.outs[0].Conv // the window and input channels of all
	k := c0.K()
	x := call.x
	buf := <-call.bufs
	n := b.r1 - b.r0
	if call.rowoff != nil {
		// Rows in place, but for those whose windows reach the padding.
		buf.rows = buf.rows[:0]
		gathered := 0
		for p, d := range call.rowoff[b.r0:b.r1] {
			if d < 0 {
				c0.im2colRows(buf.f[gathered*k:], x, call.g, b.r0+p, b.r0+p, b.r0+p+1)
				d = int64(-1 - gathered)
				gathered++
			}
			buf.rows = append(buf.rows, d)
		}
	} else if !call.direct {
		nt := (n + blockTile - 1) / blockTile
		buf.tiles = buf.tiles[:0]
		gathered := 0
		for t := range nt {
			p0 := b.r0 + t*blockTile
			if p0+blockTile <= b.r1 && call.inPlace {
				if d, ok := c0.tileOrigin(x, call.g, p0); ok {
					buf.tiles = append(buf.tiles, d)
					continue
				}
			}
			buf.tiles = append(buf.tiles, int64(-1-gathered))
			c0.im2colRows(buf.f[gathered*k:], x, call.g, p0, p0, min(p0+blockTile, b.r1))
			gathered += blockTile
		}
	}
	for i, o := range call.outs {
		c, dst := o.Conv, o.Dst
		out, rs, ldr := call.outRows(o, b.r0)
		bias := c.Bias[:c.Cout]
		switch {
		case call.direct:
			call.pbs[i].MulRowsEpilogue(n, x.Data[b.r0*k:], k, rs, ldr, bias, c.ReLU, out, dst.C, buf.f[len(buf.f)-avx512.MulScratch:])
		case call.rowoff != nil:
			pb := call.pbs[i]
			pb.MulConvRowsPanels(0, pb.Panels(), n, x.Data, call.xoff, buf.rows, buf.f[:len(buf.f)-avx512.MulScratch], k, rs, ldr, bias, c.ReLU, out, dst.C)
		default:
			call.pbs[i].MulConv(n, x.Data, c.StrideW*c.Cin, call.xoff, buf.f[:len(buf.f)-avx512.MulScratch], k, buf.tiles, rs, ldr, bias, c.ReLU, out, dst.C)
		}
	}
	call.bufs <- buf
}

// outRows returns where output pixel r0 of o lies in its destination,
// and where its residual lies (nil: none) with the residual's row stride.
func (call *convCall) outRows(o ConvOut, r0 int) (out, rs []float32, ldr int) {
	dst := o.Dst
	out = dst.Data[r0*dst.C+o.C0:]
	ldr = dst.C
	switch res := call.res; {
	case res == dst:
		rs = out
	case res != nil:
		rs, ldr = res.Data[r0*res.C:], res.C
	}
	return out, rs, ldr
}

// A convolution with few output pixels and large weights (layer3 of
// wide_resnet50_2 at batch 1: 196 pixels, 9.4 MB of packed 3x3 weights)
// is cut over its column panels instead of its pixels: each block is all
// the pixels times a range of the weights' 32-column panels, so that each
// core streams only its share of the weights, once, while the left matrix
// (the input as it is for a 1x1 convolution, else gathered once for all
// the blocks, or read in place) stays in cache. With blocks of pixels,
// each block streams all the weights for a few tiles of pixels. The
// values are the same bit for bit: each output is computed by one kernel
// call in the same order of its inner index.
const (
	// colMaxRows is the most pixels of a convolution cut over columns (one
	// SMC block of rows of the kernel).
	colMaxRows = 384
	// colMinWeights is the fewest packed weights (float32s, 1 MB) of a
	// convolution cut over columns.
	colMinWeights = 1 << 18
	// colMinPanels is the fewest panels of a column block (the left
	// matrix's part is reused for each panel of the block); a convolution
	// of fewer than 2*colMinPanels panels is not cut over columns.
	colMinPanels = 3
	// colBlocksPerCore is the number of column blocks per core.
	colBlocksPerCore = 2
)

// colPanels returns the number of panels per column block for rows pixels
// of convolutions with inner dimension k and panels column panels in all,
// or 0 when they are cut over their pixels instead.
func colPanels(rows, k, panels, procs int) int {
	if procs == 1 || rows > colMaxRows || k*panels*avx512Panel < colMinWeights || rows*k*panels*avx512Panel < minBlockWork {
		return 0
	}
	// colBlocksPerCore blocks a core, or fewer but as many on every core
	// when the blocks would have fewer than colMinPanels panels (12
	// panels on 2 cores: 4 blocks of 3, not 3 of 4 that left a core idle
	// for a third of the call; 2 a core, so that one slowed by other work
	// takes fewer).
	nb := procs * colBlocksPerCore
	for nb > procs && (panels+nb-1)/nb < colMinPanels {
		nb -= procs
	}
	per := (panels + nb - 1) / nb
	if panels < 2*colMinPanels || per >= panels {
		return 0 // one block, or blocks too small
	}
	return per
}

// avx512Panel is the column width of a panel of packed weights.
const avx512Panel = 32

// colBlock is panels [q0, q1) of output i of a convolution call, for all
// its output pixels [0, r1).
type colBlock struct {
	call      *convCall
	i, q0, q1 int
	r1        int
}

// Run computes the block's columns from the left matrix: the input as it
// is for a 1x1 convolution, else the call's tiles (read in place, or from
// rows gathered before the blocks run).
func (b *colBlock) Run() {
	call := b.call
	o := call.outs[b.i]
	c, dst, x := o.Conv, o.Dst, call.x
	k := c.K()
	out, rs, ldr := call.outRows(o, 0)
	bias := c.Bias[:c.Cout]
	if call.direct {
		buf := <-call.bufs
		call.pbs[b.i].MulRowsEpiloguePanels(b.q0, b.q1, b.r1, x.Data, k, rs, ldr, bias, c.ReLU, out, dst.C, buf.f[len(buf.f)-avx512.MulScratch:])
		call.bufs <- buf
		return
	}
	if call.rowoff != nil {
		call.pbs[b.i].MulConvRowsPanels(b.q0, b.q1, b.r1, x.Data, call.xoff, call.rowoff[:b.r1], call.col, k, rs, ldr, bias, c.ReLU, out, dst.C)
		return
	}
	call.pbs[b.i].MulConvPanels(b.q0, b.q1, b.r1, x.Data, c.StrideW*c.Cin, call.xoff, call.col, k, call.tiles, rs, ldr, bias, c.ReLU, out, dst.C)
}

// gatherTiles sets call.tiles for output pixels [0, rows) and gathers the
// tiles that cannot be read in place into call.col (resized to hold them),
// on all cores.
func (s *convBlocks) gatherTiles(call *convCall, rows int) {
	c := call.outs[0].Conv
	k := c.K()
	nt := (rows + blockTile - 1) / blockTile
	s.tiles = s.tiles[:0]
	gathered := 0
	for t := range nt {
		p0 := t * blockTile
		if p0+blockTile <= rows && call.inPlace {
			if d, ok := c.tileOrigin(call.x, call.g, p0); ok {
				s.tiles = append(s.tiles, d)
				continue
			}
		}
		s.tiles = append(s.tiles, int64(-1-gathered))
		gathered += blockTile
	}
	if cap(s.col) < gathered*k {
		s.col = make([]float32, gathered*k)
	}
	s.col = s.col[:gathered*k]
	call.tiles, call.col = s.tiles, s.col
	parallel.For(nt, 0, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			if d := s.tiles[t]; d < 0 {
				p0 := t * blockTile
				c.im2colRows(s.col[(-1-d)*int64(k):], call.x, call.g, p0, p0, min(p0+blockTile, rows))
			}
		}
	})
}

// runCols runs the call s.call cut over column panels, per panels to a
// block, on rows output pixels.
func (s *convBlocks) runCols(rows, per int) {
	call := &s.call
	if call.rowoff != nil {
		s.gatherRows(call, rows)
	} else if !call.direct {
		s.gatherTiles(call, rows)
	}
	s.cols = s.cols[:0]
	for i, pb := range call.pbs {
		panels := pb.Panels()
		nb := (panels + per - 1) / per
		for j := range nb {
			s.cols = append(s.cols, colBlock{call: call, i: i, q0: j * panels / nb, q1: (j + 1) * panels / nb, r1: rows})
		}
	}
	parallel.Run(s.cols)
	clear(s.cols)
}

// tileOrigin says whether the tile of output pixels [p0, p0+12) lies in
// one output row with all its windows inside the input, and if so where
// the first window starts in x.Data.
func (c *Conv2D) tileOrigin(x *NHWC, g Geometry, p0 int) (int64, bool) {
	ohw := g.OutH * g.OutW
	n, p := p0/ohw, p0%ohw
	oy, ox := p/g.OutW, p%g.OutW
	iy, ix := oy*c.StrideH-g.PadTop, ox*c.StrideW-g.PadLeft
	if ox+blockTile > g.OutW || iy < 0 || iy+c.KH > x.H || ix < 0 || ix+(blockTile-1)*c.StrideW+c.KW > x.W {
		return 0, false
	}
	return int64(((n*x.H+iy)*x.W + ix) * c.Cin), true
}

// rowsInPlace reports whether the AVX-512 path reads c's left matrix for
// the input x row by row (avx512.PackedB.MulConvRowsPanels), each output
// pixel's window in place but those that reach the padding (gathered),
// rather than tile by tile with the tiles that cross an output row or
// reach the padding gathered: on inception_v3's 17x17 maps at batch 1, no
// tile of a 1x7 or 7x1 convolution lay inside the input in one output row,
// nor most of a stride-2 3x3's, so nearly all their left matrix was
// gathered before the product (alone, one core, these layers measured
// 4-17% faster read row by row: docs/profile.md). It needs rows of
// windows long enough to read in place (inPlace), and an input of at most
// rowsMaxInput values.
func (c *Conv2D) rowsInPlace(x *NHWC) bool {
	return c.inPlace() && x.Len() <= rowsMaxInput
}

// rowsMaxInput is the largest input (floats, 2 MB: a core's L2 cache) that
// a convolution reads row by row (rowsInPlace). Timed alone, one core,
// reading every row in place was as fast or faster for larger inputs too,
// also with the caches flushed between calls; but inception_v3's trunk at
// batch 8, where the 35x35 layers' inputs (up to 11 MB) come from the
// previous layer, ran at 0.893 and 0.859 of main's speed in two same-run
// A/B runs without this cap, and at 1.080, 1.007, 0.994 and 0.898 with it
// (a busy machine, where the same build pair also gave 0.748 and 1.131:
// docs/profile.md). The 12 rows of a tile read in place are 12
// streams from beyond L2, where gathering the tiles that cannot be read in
// one piece streams the input once.
const rowsMaxInput = 1 << 19

// rowOffsets returns, in s.rowoff, where the window of each output pixel of
// c on x starts in x.Data, or -1 when it reaches the padding.
func (s *convBlocks) rowOffsets(c *Conv2D, x *NHWC, g Geometry) []int64 {
	rows := x.N * g.OutH * g.OutW
	if cap(s.rowoff) < rows {
		s.rowoff = make([]int64, rows)
	}
	ro := s.rowoff[:rows]
	i := 0
	for n := range x.N {
		for oy := range g.OutH {
			iy := oy*c.StrideH - g.PadTop
			for ox := range g.OutW {
				ix := ox*c.StrideW - g.PadLeft
				if iy < 0 || iy+c.KH > x.H || ix < 0 || ix+c.KW > x.W {
					ro[i] = -1
				} else {
					ro[i] = int64(((n*x.H+iy)*x.W + ix) * c.Cin)
				}
				i++
			}
		}
	}
	return ro
}

// gatherRows sets call.rowoff for output pixels [0, rows), for blocks over
// columns, to where each is read: in place, or gathered into call.col
// (resized to hold them) on all cores.
func (s *convBlocks) gatherRows(call *convCall, rows int) {
	c := call.outs[0].Conv
	k := c.K()
	s.tiles = s.tiles[:0]
	gathered := 0
	for _, d := range call.rowoff[:rows] {
		if d < 0 {
			d = int64(-1 - gathered)
			gathered++
		}
		s.tiles = append(s.tiles, d)
	}
	if cap(s.col) < gathered*k {
		s.col = make([]float32, gathered*k)
	}
	s.col = s.col[:gathered*k]
	call.rowoff, call.col = s.tiles, s.col
	if gathered == 0 {
		return
	}
	parallel.For(rows, 0, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			if d := s.tiles[p]; d < 0 {
				c.im2colRows(s.col[(-1-d)*int64(k):], call.x, call.g, p, p, p+1)
			}
		}
	})
}

// minInPlaceRun is the shortest row of a window (KW*Cin values) that a
// convolution reads in place: the kernel stores and reloads its outputs at
// the end of each part, too often with parts shorter than this (the
// 3-channel first convolutions of the trunks gather instead).
const minInPlaceRun = 64

// inPlace reports whether c reads tiles of its input in place: a window
// larger than 1x1 (1x1 stride-1 convolutions read the input as it is)
// whose rows are at least minInPlaceRun long.
func (c *Conv2D) inPlace() bool {
	return c.KH*c.KW > 1 && c.KW*c.Cin >= minInPlaceRun
}

// convParts cuts the inner dimension of c (KH*KW*Cin, ordered (ky, kx, i))
// into the parts of its packed weights, near-equal parts of at most
// avx512.MaxPart: of each row ky of the window (KW*Cin values that lie in
// one piece in the input) when c reads in place, else of the whole.
func (c *Conv2D) convParts() []int {
	seg, segs := c.KW*c.Cin, c.KH
	if !c.inPlace() {
		seg, segs = c.K(), 1
	}
	pieces := (seg + avx512.MaxPart - 1) / avx512.MaxPart
	var parts []int
	for range segs {
		for i := range pieces {
			parts = append(parts, (i+1)*seg/pieces-i*seg/pieces)
		}
	}
	return parts
}

// partOffsets sets s.xoff to where each part of c's inner dimension lies
// in an input of width w, relative to the first value of a window.
func (s *convBlocks) partOffsets(c *Conv2D, parts []int, w int) []int64 {
	s.xoff = s.xoff[:0]
	seg, pc := c.KW*c.Cin, 0
	for _, l := range parts {
		ky := pc / seg
		s.xoff = append(s.xoff, int64(ky*w*c.Cin+pc-ky*seg))
		pc += l
	}
	return s.xoff
}

// blockRows is the number of pixels per block for rows pixels of a
// convolution with inner dimension k and n outputs: about blockFloats of
// im2col rows, in whole tiles, and small enough that every core gets
// parallel.ChunksPerWorker blocks.
func blockRows(rows, k, n, procs int) int {
	if rows*k*n < minBlockWork || procs == 1 {
		return rows
	}
	r := blockFloats / k / blockTile * blockTile
	perCore := (rows + procs*parallel.ChunksPerWorker - 1) / (procs * parallel.ChunksPerWorker)
	r = min(r, (perCore+blockTile-1)/blockTile*blockTile)
	return max(min(r, maxBlockRows), minBlockRows)
}

// runBlocks runs the convolutions outs of x (the same window and input
// channels; res with a single one only) on the AVX-512 kernels, block by
// block.
func runBlocks(outs []ConvOut, x, res *NHWC, g Geometry, direct bool, ws *Workspace) {
	s := &ws.blocks
	c := outs[0].Conv
	rows := x.N * g.OutH * g.OutW
	k := c.K()
	procs := runtime.GOMAXPROCS(0)
	cout := 0
	for _, o := range outs {
		cout += o.Conv.Cout
	}
	br := blockRows(rows, k, cout, procs)
	panels := 0
	for _, o := range outs {
		panels += (o.Conv.Cout + avx512Panel - 1) / avx512Panel
	}
	per := colPanels(rows, k, panels, procs)
	need := avx512.MulScratch
	if !direct && per == 0 {
		need += (br + blockTile - 1) / blockTile * blockTile * k
	}
	if s.bufs == nil || s.bufLen < need || s.bufProc != procs {
		s.bufLen, s.bufProc = max(need, s.bufLen), procs
		s.bufs = make(chan *blockBuf, procs)
		for range procs {
			s.bufs <- &blockBuf{f: make([]float32, s.bufLen)}
		}
	}
	s.pbs = s.pbs[:0]
	var parts []int
	for _, o := range outs {
		pw := o.Conv.packedWeights()
		s.pbs = append(s.pbs, &pw.pb)
		parts = pw.parts // the same for all: they depend on the window and Cin
	}
	s.call = convCall{outs: outs, pbs: s.pbs, x: x, res: res, g: g, direct: direct, bufs: s.bufs,
		xoff: s.partOffsets(c, parts, x.W), inPlace: c.inPlace()}
	if !direct && c.rowsInPlace(x) {
		s.call.rowoff = s.rowOffsets(c, x, g)
	}
	if per > 0 {
		s.runCols(rows, per)
		s.finish()
		return
	}
	// As many blocks as of br rows, their tiles spread evenly (no small
	// last block that would stream all the weights for a few rows).
	s.blocks = s.blocks[:0]
	nb := (rows + br - 1) / br
	tiles := (rows + blockTile - 1) / blockTile
	for i := range nb {
		r0, r1 := i*tiles/nb*blockTile, min((i+1)*tiles/nb*blockTile, rows)
		s.blocks = append(s.blocks, convBlock{&s.call, r0, r1})
	}
	parallel.Run(s.blocks)
	s.finish()
}

// finish drops the references of s to the call's maps.
func (s *convBlocks) finish() {
	s.call = convCall{}
	clear(s.pbs)
	s.one[0] = ConvOut{}
}

// packedCache is a convolution's Weight packed for the AVX-512 kernels
// (avx512.PackedB), made on the first call that needs it and kept until
// the weights change. Concurrent Forward calls share it: the first to find
// it missing or stale packs under mu, the others read it atomically. A
// Conv2D holds it by pointer, so that a copy of the struct (the bf16
// emulation runs one with rounded weights) shares it and finds it stale
// when its Weight is another slice; a Conv2D not made by NewConv2D has
// none and packs its weights on every call.
type packedCache struct {
	mu sync.Mutex
	p  atomic.Pointer[packedWeight]
	// wino, wino3 and wino4 are the Winograd weight transforms
	// (winograd.go) for tiles of 2x2 pixels (F(2x2, 3x3), or F(2x2, 5x5)
	// for a 5x5 kernel), 3x3 (F(3x3, 5x5)) and 4x4 pixels (F(4x4, 3x3)),
	// cached the same way.
	wino, wino3, wino4 atomic.Pointer[winoWeight]
}

// packedWeight is Weight packed, with the slice it was packed from: a
// Weight replaced by another slice (another array or length) is packed
// again without being told.
type packedWeight struct {
	pb    avx512.PackedB
	parts []int // convParts
	from  weightSlice
}

func (p *packedWeight) madeFrom() weightSlice { return p.from }

// weightSlice identifies the Weight slice that a cached copy was made
// from: its array and length.
type weightSlice struct {
	w *float32
	n int
}

// weightsOf returns the identity of c.Weight.
func (c *Conv2D) weightsOf() weightSlice {
	return weightSlice{unsafe.SliceData(c.Weight), len(c.Weight)}
}

// cachedWeights returns the copy of c's weights in the slot of c.packed
// that slot picks, making it with build if the slot is empty or holds one
// made from another slice; concurrent callers make it once (under
// c.packed.mu). A c without a cache makes it on every call.
func cachedWeights[T any, P interface {
	*T
	madeFrom() weightSlice
}](c *Conv2D, slot func(*packedCache) *atomic.Pointer[T], build func() P) P {
	if c.packed == nil {
		return build()
	}
	s, from := slot(c.packed), c.weightsOf()
	if p := P(s.Load()); p != nil && p.madeFrom() == from {
		return p
	}
	c.packed.mu.Lock()
	defer c.packed.mu.Unlock()
	if p := P(s.Load()); p != nil && p.madeFrom() == from {
		return p
	}
	p := build()
	s.Store(p)
	return p
}

// packedWeights returns Weight packed (in the parts convParts), packing
// it if the cache is empty or was made from another slice.
func (c *Conv2D) packedWeights() *packedWeight {
	return cachedWeights(c, func(pc *packedCache) *atomic.Pointer[packedWeight] { return &pc.p }, c.pack)
}

// pack packs Weight in the parts convParts.
func (c *Conv2D) pack() *packedWeight {
	p := &packedWeight{parts: c.convParts(), from: c.weightsOf()}
	p.pb.PackParts(c.K(), c.Cout, c.Weight, max(c.Cout, 1), p.parts)
	return p
}

// WeightsChanged drops the copies of Weight that the AVX-512 kernels keep
// (packed in their layout, or its Winograd transform, on the first Forward
// that needs it). SetWeightsOIHW,
// SetWeightsHWIO and FoldBatchNorm call it; a caller that writes into
// Weight itself must call it before the next Forward, or that Forward may
// use the old weights. (Assigning another slice to Weight is noticed
// without it.) It must not run at the same time as a Forward.
func (c *Conv2D) WeightsChanged() {
	if c.packed != nil {
		c.packed.p.Store(nil)
		c.packed.wino.Store(nil)
		c.packed.wino3.Store(nil)
		c.packed.wino4.Store(nil)
	}
}
