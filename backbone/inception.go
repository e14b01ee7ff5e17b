package backbone

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/weights"
)

// InceptionName is the registry name of the Keras InceptionV3 trunk, the
// default backbone.
const InceptionName = "inception_v3"

func init() {
	Register(InceptionInfo(), loadInception)
	RegisterFetcher(InceptionName, fetchInception)
	RegisterImporter(InceptionName, importInception)
}

// InceptionInfo describes the inception_v3 backbone: the Keras InceptionV3
// trunk (Szegedy et al. 2016) up to mixed5, with the ImageNet weights that
// the npm package nsfwjs@4.4.0 ships (see InceptionPackage).
//
// Features are mixed2 (288 channels, nominal stride 8) and mixed5 (768
// channels, nominal stride 16), d = 1056. Keras "valid" convolutions and
// poolings shrink the maps by more than the stride: at the default 299 x 299
// input mixed2 is 35 x 35 and mixed5 17 x 17; in general, per side,
// s1 = (in-3)/2+1, s2 = s1-2, s3 = (s2-3)/2+1, s4 = s3-2,
// mixed2 = (s4-3)/2+1 and mixed5 = (mixed2-3)/2+1 (integer division).
// MinInput is 43, the smallest side for which mixed5 is not empty (1 x 1;
// mixed2 is then 3 x 3).
//
// Preprocessing is Keras's inception preprocess_input: RGB scaled to
// [-1, 1], that is mean 0.5 and std 0.5 on values in [0, 1].
func InceptionInfo() Info {
	return Info{
		Name:     InceptionName,
		Layers:   []string{"mixed2", "mixed5"},
		Strides:  []int{8, 16},
		Channels: []int{288, 768},
		Preprocess: preprocess.Params{
			Resize: 299, Crop: 299,
			Mean: [3]float64{0.5, 0.5, 0.5},
			Std:  [3]float64{0.5, 0.5, 0.5},
		},
		MinInput: 43,
		Weights:  "npm package " + InceptionPackage + " (MIT): Keras InceptionV3, ImageNet weights up to mixed5, 8-bit quantised",
	}
}

// inception is the loaded trunk. Activations are NHWC; buffers are reused
// between calls.
type inception struct {
	nodes []inceptionNode
	index map[string]int // node name -> position in nodes
	convs []*nn.Conv2D   // per node (nil for pools and concats)
	// Data flow, fixed by the graph: how many nodes read each node's output,
	// and, for a node whose only reader is a concat, where it goes in it.
	readers []int
	target  []int // index of the concat the node writes into, or -1
	offset  []int // its first channel there
	outputs []int // nodes returned by Forward, in Info().Layers order
	// group[i] is the index in groups of the group of convolutions that
	// node i belongs to, or -1: convolutions of the same input with the
	// same window (the 1x1 branch heads of an Inception block) run together
	// (nn.ForwardGroup) at the first one's place in the order.
	group  []int
	groups [][]int
	outs   []nn.ConvOut // scratch of a group's call
	// poolBias[i], for an average pooling that runs after the 1x1
	// convolution it fed in the graph (swapPools), is that convolution's
	// bias: the convolution runs without bias and ReLU, and the pooling
	// adds the bias and applies the ReLU.
	poolBias [][]float32

	// slot[i] is the buffer that holds node i's output (-1 for a node that
	// writes into a concat): a buffer is reused once every reader of its
	// previous node has run. The plan is fixed, so after the first call
	// each buffer has grown to its largest use and nothing is allocated.
	slot   []int
	slots  []nn.NHWC
	shaped []bool // per node, during a call: its buffer has its shape

	ws  nn.Workspace
	out []*nn.Tensor
	// nhwcOut are the output nodes' buffers, as ForwardNHWC returns them.
	nhwcOut []*nn.NHWC
}

// loadInception builds the trunk from converted weights (the tensors named
// by inceptionTensorNames).
func loadInception(t weights.Tensors) (Backbone, error) { return newInception(t) }

// newInception builds the trunk from Keras-named tensors, folding each batch
// norm (no gamma, epsilon 1e-3) into its convolution.
func newInception(t weights.Tensors) (*inception, error) {
	want := inceptionTensorNames()
	get := func(name string) ([]float32, error) {
		w, ok := t[name]
		if !ok {
			return nil, fmt.Errorf("tensor %s missing (not converted inception_v3 weights?)", name)
		}
		if !slices.Equal(w.Shape, want[name]) {
			return nil, fmt.Errorf("tensor %s has shape %v, want %v", name, w.Shape, want[name])
		}
		for i, v := range w.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("tensor %s: non-finite value at %d", name, i)
			}
		}
		return w.Data, nil
	}
	nodes, swapped := swapPools(inceptionGraph())
	b := &inception{nodes: nodes, index: map[string]int{}}
	n := len(b.nodes)
	b.poolBias = make([][]float32, n)
	b.convs = make([]*nn.Conv2D, n)
	b.readers = make([]int, n)
	b.target = make([]int, n)
	b.offset = make([]int, n)
	b.shaped = make([]bool, n)
	for i, nd := range b.nodes {
		b.index[nd.name] = i
		b.target[i] = -1
		for _, in := range nd.in {
			if j, ok := b.index[in]; ok {
				b.readers[j]++
			}
		}
		if nd.kind != incConvBNReLU {
			continue
		}
		k := strconv.Itoa(nd.conv)
		kernel, err := get("conv2d_" + k + "/kernel")
		if err != nil {
			return nil, err
		}
		var bn [3][]float32
		for j, s := range []string{"beta", "moving_mean", "moving_variance"} {
			if bn[j], err = get("batch_normalization_" + k + "/" + s); err != nil {
				return nil, err
			}
		}
		for o, v := range bn[2] {
			if v < 0 {
				return nil, fmt.Errorf("tensor batch_normalization_%s/moving_variance: negative value %g at %d", k, v, o)
			}
		}
		c := nn.NewConv2D(nd.inC, nd.outC, nn.Window{KH: nd.kh, KW: nd.kw, StrideH: nd.stride, StrideW: nd.stride, Same: nd.same})
		c.SetWeightsHWIO(kernel)
		c.FoldBatchNorm(nil, bn[0], bn[1], bn[2], inceptionEps)
		c.ReLU = true
		b.convs[i] = c
	}
	for _, i := range swapped {
		// Node i is the convolution, node i+1 the pooling of its output.
		c := b.convs[i]
		b.poolBias[i+1] = slices.Clone(c.Bias)
		clear(c.Bias)
		c.ReLU = false
	}
	// A node read only by one concat writes straight into it.
	for i, nd := range b.nodes {
		if nd.kind != incConcat {
			continue
		}
		off := 0
		for _, in := range nd.in {
			j := b.index[in]
			if b.readers[j] == 1 {
				b.target[j], b.offset[j] = i, off
			}
			off += b.nodes[j].outC
		}
	}
	b.planGroups()
	for _, l := range InceptionInfo().Layers {
		j := b.index[l]
		b.outputs = append(b.outputs, j)
		b.readers[j]++ // kept until converted to NCHW
		b.out = append(b.out, &nn.Tensor{})
	}
	b.planBuffers()
	return b, nil
}

// swapPools moves each average pooling of the graph after the 1x1
// convolution that reads it (and nothing else reads): Keras's branch
// relu(conv1x1(avgpool(x)) + b) becomes relu(avgpool(conv1x1(x)) + b),
// the same values up to rounding, since the pooling is linear with weights
// that sum to one (each output the mean of the cells inside the map). The
// pooling then averages the convolution's 32 to 192 outputs instead of
// the block input's 192 to 768 channels, and the convolution reads the
// block input, with the block's other 1x1 heads (planGroups). The
// convolution takes the pooling's place in the order and reads its input;
// the pooling follows, reads the convolution and takes its place in the
// concatenation. swapPools returns the nodes and, for each pair, the
// convolution's new index (the pooling is the next node); the caller
// moves the bias and ReLU from the convolution to the pooling.
func swapPools(nodes []inceptionNode) ([]inceptionNode, []int) {
	readers := map[string]int{}
	for _, nd := range nodes {
		for _, in := range nd.in {
			readers[in]++
		}
	}
	var swapped []int
	for i := 0; i+1 < len(nodes); i++ {
		p, c := nodes[i], nodes[i+1]
		if p.kind != incAvgPool || c.kind != incConvBNReLU || c.in[0] != p.name || readers[p.name] != 1 ||
			c.kh != 1 || c.kw != 1 || c.stride != 1 {
			continue
		}
		c.in, p.in, p.outC = p.in, []string{c.name}, c.outC
		nodes[i], nodes[i+1] = c, p
		for j := range nodes {
			for k, in := range nodes[j].in {
				if in == c.name && j != i+1 {
					nodes[j].in = slices.Clone(nodes[j].in)
					nodes[j].in[k] = p.name
				}
			}
		}
		swapped = append(swapped, i)
		i++
	}
	return nodes, swapped
}

// planGroups finds the groups of convolutions that read the same input
// with the same window.
func (b *inception) planGroups() {
	b.group = make([]int, len(b.nodes))
	type key struct {
		in             string
		kh, kw, stride int
		same           bool
	}
	first := map[key]int{} // the group's index
	for i, nd := range b.nodes {
		b.group[i] = -1
		if nd.kind != incConvBNReLU {
			continue
		}
		k := key{nd.in[0], nd.kh, nd.kw, nd.stride, nd.same}
		g, ok := first[k]
		if !ok {
			first[k] = len(b.groups)
			b.groups = append(b.groups, []int{i})
			continue
		}
		b.groups[g] = append(b.groups[g], i)
	}
	// Renumber, keeping the groups of two or more.
	var kept [][]int
	for _, g := range b.groups {
		if len(g) < 2 {
			continue
		}
		for _, i := range g {
			b.group[i] = len(kept)
		}
		kept = append(kept, g)
	}
	b.groups = kept
}

// planBuffers assigns each node's output to a buffer: a node takes the most
// recently freed one (a concat takes it at its first writer), and frees its
// inputs after it ran (a concat's input that was written straight into it
// has no buffer). Outputs stay alive to the end, where Forward converts them
// to NCHW (and ForwardNHWC returns them).
func (b *inception) planBuffers() {
	n := len(b.nodes)
	b.slot = make([]int, n)
	left := append([]int(nil), b.readers...)
	var free []int
	count := 0
	for i := range b.slot {
		b.slot[i] = -1
	}
	take := func(i int) {
		if b.slot[i] >= 0 {
			return
		}
		if k := len(free); k > 0 {
			b.slot[i], free = free[k-1], free[:k-1]
		} else {
			b.slot[i] = count
			count++
		}
	}
	for i, nd := range b.nodes {
		// A concat's buffer is needed from its first writer on; a group's
		// buffers from its first member on (they all run there).
		members := []int{i}
		if g := b.group[i]; g >= 0 {
			members = b.groups[g]
		}
		for _, j := range members {
			if t := b.target[j]; t >= 0 {
				take(t)
			} else {
				take(j)
			}
		}
		for _, in := range nd.in {
			j, ok := b.index[in]
			if !ok || b.target[j] >= 0 {
				continue
			}
			if left[j]--; left[j] == 0 {
				free = append(free, b.slot[j])
			}
		}
	}
	b.slots = make([]nn.NHWC, count)
}

// Info describes the backbone.
func (b *inception) Info() Info { return InceptionInfo() }

// inceptionSizes returns each node's output height and width for an h x w
// input.
func (b *inception) sizes(h, w int) (hs, ws []int) {
	hs, ws = make([]int, len(b.nodes)), make([]int, len(b.nodes))
	size := func(name string) (int, int) {
		if name == inceptionInput {
			return h, w
		}
		j := b.index[name]
		return hs[j], ws[j]
	}
	for i, nd := range b.nodes {
		ih, iw := size(nd.in[0])
		switch nd.kind {
		case incConcat:
			hs[i], ws[i] = ih, iw
		default:
			g := nn.Window{KH: nd.kh, KW: nd.kw, StrideH: nd.stride, StrideW: nd.stride, Same: nd.same}.Apply(ih, iw)
			hs[i], ws[i] = g.OutH, g.OutW
		}
	}
	return hs, ws
}

// MACs is the number of multiply-accumulates of one forward pass of an
// h x w image.
func (b *inception) MACs(h, w int) int64 {
	hs, ws := b.sizes(h, w)
	var total int64
	for i, nd := range b.nodes {
		if c := b.convs[i]; c != nil {
			ih, iw := h, w
			if j, ok := b.index[nd.in[0]]; ok {
				ih, iw = hs[j], ws[j]
			}
			total += c.MACs(ih, iw)
		}
	}
	return total
}

// Forward runs a preprocessed batch x (N x 3 x H x W, H and W at least
// MinInput) and returns mixed2 and mixed5 as NCHW tensors, valid until the
// next call.
func (b *inception) Forward(x *nn.Tensor) ([]*nn.Tensor, error) {
	return b.ForwardProfile(x, nil)
}

// ForwardProfile is Forward that reports each step's time to rec (nil:
// none).
func (b *inception) ForwardProfile(x *nn.Tensor, rec func(LayerTime)) ([]*nn.Tensor, error) {
	st := newStepTimer(rec)
	outs, err := b.forward(x, &st)
	if err != nil {
		return nil, err
	}
	for k, j := range b.outputs {
		outs[k].ToNCHW(b.out[k])
		st.done(b.nodes[j].name, "layout", outs[k], 0)
	}
	return b.out, nil
}

// ForwardNHWC is Forward without the last step: it returns mixed2 and
// mixed5 in NHWC layout, valid until the next call.
func (b *inception) ForwardNHWC(x *nn.Tensor) ([]*nn.NHWC, error) {
	st := newStepTimer(nil)
	return b.forward(x, &st)
}

// forward runs the trunk on x, timing its steps with st, and returns the
// output nodes' NHWC buffers (b.nhwcOut), in Info().Layers order.
func (b *inception) forward(x *nn.Tensor, st *stepTimer) ([]*nn.NHWC, error) {
	info := InceptionInfo()
	if x.C != 3 {
		return nil, fmt.Errorf("inception_v3: input has %d channels, want 3", x.C)
	}
	if x.N < 1 || x.H < info.MinInput || x.W < info.MinInput {
		return nil, fmt.Errorf("inception_v3: input %dx%d (batch %d) is smaller than the minimum %dx%d",
			x.H, x.W, x.N, info.MinInput, info.MinInput)
	}
	if len(x.Data) < x.Len() {
		panic(fmt.Sprintf("inception_v3: input tensor %dx%dx%dx%d holds only %d values", x.N, x.C, x.H, x.W, len(x.Data)))
	}
	hs, ws := b.sizes(x.H, x.W)
	clear(b.shaped)
	// The input stays NCHW: only the first convolution reads it
	// (nn.Conv2D.ForwardNCHW).
	input := func(name string) *nn.NHWC { return &b.slots[b.slot[b.index[name]]] }
	// buffer returns node i's buffer, shaped on first use in this call.
	buffer := func(i int) *nn.NHWC {
		m := &b.slots[b.slot[i]]
		if !b.shaped[i] {
			m.Reshape(x.N, hs[i], ws[i], b.nodes[i].outC)
			b.shaped[i] = true
		}
		return m
	}
	for i, nd := range b.nodes {
		t := b.target[i]
		if nd.in[0] == inceptionInput {
			if nd.kind != incConvBNReLU || t >= 0 || b.group[i] >= 0 {
				panic("inception_v3: the input is read by " + nd.name + ", not a lone convolution")
			}
			b.convs[i].ForwardNCHW(buffer(i), x, &b.ws)
			if st.rec != nil {
				st.done(nd.name, "conv", buffer(i), int64(x.N)*b.convs[i].MACs(x.H, x.W))
			}
			continue
		}
		var src *nn.NHWC
		if nd.kind != incConcat {
			src = input(nd.in[0])
		}
		switch nd.kind {
		case incConvBNReLU:
			if g := b.group[i]; g >= 0 {
				// The group runs at its first member; the others report no
				// time of their own.
				var macs int64
				if b.groups[g][0] == i {
					b.outs = b.outs[:0]
					for _, j := range b.groups[g] {
						o := nn.ConvOut{Conv: b.convs[j]}
						if tj := b.target[j]; tj >= 0 {
							o.Dst, o.C0 = buffer(tj), b.offset[j]
						} else {
							o.Dst = buffer(j)
						}
						b.outs = append(b.outs, o)
						macs += int64(x.N) * b.convs[j].MACs(src.H, src.W)
					}
					nn.ForwardGroup(src, &b.ws, b.outs...)
					clear(b.outs)
				}
				if st.rec != nil {
					st.done(nd.name, "conv", &nn.NHWC{N: x.N, H: hs[i], W: ws[i], C: nd.outC}, macs)
				}
				break
			}
			if t >= 0 {
				b.convs[i].ForwardAt(buffer(t), b.offset[i], src, &b.ws)
			} else {
				b.convs[i].Forward(buffer(i), src, &b.ws)
			}
			if st.rec != nil {
				st.done(nd.name, "conv", &nn.NHWC{N: x.N, H: hs[i], W: ws[i], C: nd.outC}, int64(x.N)*b.convs[i].MACs(src.H, src.W))
			}
		case incMaxPool, incAvgPool:
			w := nn.Window{KH: nd.kh, KW: nd.kw, StrideH: nd.stride, StrideW: nd.stride, Same: nd.same}
			// Into the node's buffer, or straight into its concatenation.
			var dst *nn.NHWC
			c0 := 0
			if t >= 0 {
				dst, c0 = buffer(t), b.offset[i]
			} else {
				dst = buffer(i)
			}
			kind := "avgpool"
			if nd.kind == incMaxPool {
				kind = "maxpool"
				nn.MaxPoolAt(dst, c0, src, w, kernels.Set{})
			} else {
				// With a bias: a pooling moved after its convolution
				// (swapPools), which adds the convolution's bias and ReLU.
				bias := b.poolBias[i]
				nn.AvgPoolAt(dst, c0, src, w, false, bias, bias != nil, kernels.Set{})
			}
			if st.rec != nil {
				st.done(nd.name, kind, &nn.NHWC{N: x.N, H: hs[i], W: ws[i], C: nd.outC}, 0)
			}
		case incConcat:
			dst := buffer(i)
			off := 0
			for _, in := range nd.in {
				j := b.index[in]
				if b.target[j] != i {
					copyChannels(dst, off, input(in))
				}
				off += b.nodes[j].outC
			}
			st.done(nd.name, "concat", dst, 0)
		}
	}
	b.nhwcOut = b.nhwcOut[:0]
	for _, j := range b.outputs {
		b.nhwcOut = append(b.nhwcOut, &b.slots[b.slot[j]])
	}
	return b.nhwcOut, nil
}

// copyChannels writes src into channels [c0, c0+src.C) of dst, which has
// src's N, H and W.
func copyChannels(dst *nn.NHWC, c0 int, src *nn.NHWC) {
	if dst.N != src.N || dst.H != src.H || dst.W != src.W || c0+src.C > dst.C {
		panic(fmt.Sprintf("inception_v3: cannot place %v at channel %d of %v", src, c0, dst))
	}
	for r := 0; r < src.Rows(); r++ {
		copy(dst.Data[r*dst.C+c0:r*dst.C+c0+src.C], src.Data[r*src.C:(r+1)*src.C])
	}
}
