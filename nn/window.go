package nn

import "fmt"

// Window is the geometry of a sliding 2-D window, shared by convolution and
// pooling.
//
// With Same false the padding is explicit and symmetric, PyTorch style: PadH
// rows above and below, PadW columns left and right, and the output side is
// floor((in + 2*pad - k) / stride) + 1 (Keras "valid" is PadH = PadW = 0).
// With Same true the padding is TensorFlow's "same": the output side is
// ceil(in / stride) and the total padding max((out-1)*stride + k - in, 0) is
// split with the smaller half on top/left, so it may be asymmetric.
type Window struct {
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int
	Same             bool
}

// Square returns a k x k window with the given stride and symmetric padding.
func Square(k, stride, pad int) Window {
	return Window{KH: k, KW: k, StrideH: stride, StrideW: stride, PadH: pad, PadW: pad}
}

// Geometry is a window applied to a given input size: the output size and
// the padding before the first row and column.
type Geometry struct {
	InH, InW, OutH, OutW int
	PadTop, PadLeft      int
	// PadBottom and PadRight are the padding after the last row and column
	// that the windows may reach.
	PadBottom, PadRight int
}

// Apply returns the geometry for an in-h x in-w input. The output may be
// empty (OutH or OutW <= 0) when the input is smaller than the window.
func (w Window) Apply(h, wd int) Geometry {
	g := Geometry{InH: h, InW: wd}
	if w.Same {
		g.OutH = (h + w.StrideH - 1) / w.StrideH
		g.OutW = (wd + w.StrideW - 1) / w.StrideW
		th := max((g.OutH-1)*w.StrideH+w.KH-h, 0)
		tw := max((g.OutW-1)*w.StrideW+w.KW-wd, 0)
		g.PadTop, g.PadBottom = th/2, th-th/2
		g.PadLeft, g.PadRight = tw/2, tw-tw/2
		return g
	}
	g.OutH = floorDiv(h+2*w.PadH-w.KH, w.StrideH) + 1
	g.OutW = floorDiv(wd+2*w.PadW-w.KW, w.StrideW) + 1
	g.PadTop, g.PadLeft, g.PadBottom, g.PadRight = w.PadH, w.PadW, w.PadH, w.PadW
	return g
}

func floorDiv(a, b int) int {
	if a < 0 {
		return -((-a + b - 1) / b)
	}
	return a / b
}

func (w Window) check() {
	if w.KH <= 0 || w.KW <= 0 || w.StrideH <= 0 || w.StrideW <= 0 || w.PadH < 0 || w.PadW < 0 {
		panic(fmt.Sprintf("nn: bad window %+v", w))
	}
}
