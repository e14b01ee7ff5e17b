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
// the cores take one at a time (parallel.Run). A block gathers its own
// im2col rows and multiplies them by the weights (packed once per
// convolution, Conv2D.packedWeights); the kernel starts from the residual,
// if any, and adds the bias and ReLU in registers before it stores each
// output (avx512.PackedB.MulRowsEpilogue): one synchronisation per layer
// instead of one per step of each GEMM chunk, one pass over the output,
// and a core slowed by other work takes fewer blocks. Each output value is
// computed as on the chunked path, so the results are bit-identical.
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
	blocks []convBlock
	// bufs holds one buffer per goroutine that may run a block at once:
	// the block's im2col rows, then avx512.MulScratch floats.
	bufs    chan []float32
	bufLen  int
	bufProc int
}

// convCall is what the blocks of one convolution call share.
type convCall struct {
	c      *Conv2D
	dst    *NHWC
	c0     int
	x, res *NHWC
	g      Geometry
	direct bool
	pb     *avx512.PackedB
	bufs   chan []float32
}

// convBlock is output pixels [r0, r1) of a convolution call.
type convBlock struct {
	call   *convCall
	r0, r1 int
}

// Run computes the block: gather, then multiply with the residual, bias
// and ReLU fused.
func (b *convBlock) Run() {
	k := b.call.c.K()
	c, dst, c0, res := b.call.c, b.call.dst, b.call.c0, b.call.res
	buf := <-b.call.bufs
	n := b.r1 - b.r0
	var a []float32
	if b.call.direct {
		a = b.call.x.Data[b.r0*k:]
	} else {
		a = buf[:n*k]
		c.im2colRows(a, b.call.x, b.call.g, b.r0, b.r0, b.r1)
	}
	out := dst.Data[b.r0*dst.C+c0:]
	var rs []float32
	ldr := dst.C
	switch {
	case res == dst:
		rs = out
	case res != nil:
		rs, ldr = res.Data[b.r0*res.C:], res.C
	}
	b.call.pb.MulRowsEpilogue(n, a, k, rs, ldr, c.Bias[:c.Cout], c.ReLU, out, dst.C, buf[len(buf)-avx512.MulScratch:])
	b.call.bufs <- buf
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

// runBlocks is run on the AVX-512 kernels, block by block.
func (c *Conv2D) runBlocks(dst *NHWC, c0 int, x, res *NHWC, g Geometry, direct bool, ws *Workspace) {
	s := &ws.blocks
	rows := x.N * g.OutH * g.OutW
	k := c.K()
	procs := runtime.GOMAXPROCS(0)
	br := blockRows(rows, k, c.Cout, procs)
	need := avx512.MulScratch
	if !direct {
		need += br * k
	}
	if s.bufs == nil || s.bufLen < need || s.bufProc != procs {
		s.bufLen, s.bufProc = max(need, s.bufLen), procs
		s.bufs = make(chan []float32, procs)
		for range procs {
			s.bufs <- make([]float32, s.bufLen)
		}
	}
	s.call = convCall{c: c, dst: dst, c0: c0, x: x, res: res, g: g, direct: direct, pb: c.packedWeights(), bufs: s.bufs}
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
	s.call = convCall{} // no references to the caller's maps
}

// packedCache is a convolution's Weight packed for the AVX-512 kernels
// (avx512.PackedB), made on the first call that needs it and kept until
// the weights change. Concurrent Forward calls share it: the first to find
// it missing or stale packs under mu, the others read it atomically.
type packedCache struct {
	mu sync.Mutex
	p  atomic.Pointer[packedWeight]
}

// packedWeight is Weight packed, with the slice it was packed from: a
// Weight replaced by another slice (another array or length) is packed
// again without being told.
type packedWeight struct {
	pb avx512.PackedB
	w  *float32
	n  int
}

// packedWeights returns Weight packed, packing it if the cache is empty or
// was made from another slice.
func (c *Conv2D) packedWeights() *avx512.PackedB {
	w, n := unsafe.SliceData(c.Weight), len(c.Weight)
	if p := c.packed.p.Load(); p != nil && p.w == w && p.n == n {
		return &p.pb
	}
	c.packed.mu.Lock()
	defer c.packed.mu.Unlock()
	if p := c.packed.p.Load(); p != nil && p.w == w && p.n == n {
		return &p.pb
	}
	p := &packedWeight{w: w, n: n}
	p.pb.Pack(c.K(), c.Cout, c.Weight, max(c.Cout, 1))
	c.packed.p.Store(p)
	return &p.pb
}

// WeightsChanged drops the copy of Weight that the AVX-512 kernels keep
// (packed in their layout on the first Forward that needs it). SetWeightsOIHW,
// SetWeightsHWIO and FoldBatchNorm call it; a caller that writes into
// Weight itself must call it before the next Forward, or that Forward may
// use the old weights. (Assigning another slice to Weight is noticed
// without it.) It must not run at the same time as a Forward.
func (c *Conv2D) WeightsChanged() { c.packed.p.Store(nil) }
