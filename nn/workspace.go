package nn

import "github.com/crd-ad/crd/internal/kernels"

// Workspace is scratch memory reused across layer calls (the im2col
// buffers; each Conv2D keeps its own packed weights), and the choice of the
// convolutions' matrix product (the zero value: the one package kernels
// detected). A network owns one; it is not safe for concurrent use.
type Workspace struct {
	buf    []float32
	kern   kernels.Set
	blocks convBlocks
	wino   winoScratch // the Winograd path's blocks
	bf16   bf16Blocks  // the bf16 kernel's blocks
	bf16In NHWC        // the emulated bf16 path's rounded input
	// planesIn is ForwardNCHW's input converted to NHWC, where it does
	// not read the planes in place.
	planesIn NHWC
}

// kernels returns the kernel choice of ws (the zero Set, kernels.Detected,
// for a nil ws) and ws, or a new Workspace for a nil one.
func (ws *Workspace) kernels() (kernels.Set, *Workspace) {
	if ws == nil {
		return kernels.Set{}, new(Workspace)
	}
	return ws.kern, ws
}

// get returns a scratch slice of n elements (contents unspecified).
func (ws *Workspace) get(n int) []float32 {
	ws.buf = grow(ws.buf, n)
	return ws.buf
}
