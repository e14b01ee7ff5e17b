package nn

// Workspace is scratch memory reused across layer calls (the im2col
// buffer). A network owns one; it is not safe for concurrent use.
type Workspace struct {
	buf []float32
}

// get returns a scratch slice of n elements (contents unspecified).
func (ws *Workspace) get(n int) []float32 {
	ws.buf = grow(ws.buf, n)
	return ws.buf
}
