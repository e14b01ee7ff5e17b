package backbone

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/weights"
)

// ImageNet is the torchvision preprocessing: resize 256, centre crop 224,
// ImageNet mean and standard deviation.
var ImageNet = preprocess.Params{
	Resize: 256, Crop: 224,
	Mean: [3]float64{0.485, 0.456, 0.406},
	Std:  [3]float64{0.229, 0.224, 0.225},
}

// resnetArch describes a torchvision ResNet truncated after layer3.
type resnetArch struct {
	name       string
	bottleneck bool   // Bottleneck (expansion 4) or BasicBlock (expansion 1)
	blocks     [3]int // blocks in layer1..layer3
	widthMul   int    // inner width = planes * widthMul (2 for wide_resnet50_2)
	checkpoint string // torchvision file name: <name>-<sha256 prefix>.pth
}

var resnetArchs = []resnetArch{
	{name: "wide_resnet50_2", bottleneck: true, blocks: [3]int{3, 4, 6}, widthMul: 2, checkpoint: "wide_resnet50_2-95faca4d.pth"},
	{name: "resnet18", bottleneck: false, blocks: [3]int{2, 2, 2}, widthMul: 1, checkpoint: "resnet18-f37072fd.pth"},
}

func init() {
	for _, a := range resnetArchs {
		a := a
		exp := 1
		if a.bottleneck {
			exp = 4
		}
		Register(Info{
			Name:       a.name,
			Layers:     []string{"layer2", "layer3"},
			Strides:    []int{8, 16},
			Channels:   []int{128 * exp, 256 * exp},
			Preprocess: ImageNet,
			MinInput:   resnetMinInput,
			Weights:    "torchvision " + a.name + " ImageNet weights (IMAGENET1K_V1, " + a.checkpoint + ")",
		}, func(t weights.Tensors) (Backbone, error) { return loadResNet(a, t) })
		RegisterImporter(a.name, func(src string) (weights.Tensors, error) { return importResNet(a, src) })
		RegisterFetcher(a.name, torchvisionFetcher(a))
	}
}

// resnetMinInput is the smallest accepted input side: layer3 is then 2x2.
const resnetMinInput = 32

// convSpec is one convolution of the trunk and its batch norm.
type convSpec struct {
	conv, bn  string // tensor name prefixes
	cin, cout int
	win       nn.Window
}

// blockSpec is one residual block.
type blockSpec struct {
	convs []convSpec // main path, in order
	down  *convSpec  // projection shortcut, or nil
}

// spec lists the stem and the blocks of layer1..layer3 in forward order,
// with torchvision's parameter names (v1.5: the stride sits on the 3x3 conv).
func (a resnetArch) spec() (stem convSpec, layers [3][]blockSpec) {
	stem = convSpec{"conv1", "bn1", 3, 64, nn.Square(7, 2, 3)}
	exp := 1
	if a.bottleneck {
		exp = 4
	}
	in := 64
	for l := 0; l < 3; l++ {
		planes := 64 << l
		width := planes * a.widthMul
		stride := 1
		if l > 0 {
			stride = 2
		}
		for b := 0; b < a.blocks[l]; b++ {
			p := "layer" + strconv.Itoa(l+1) + "." + strconv.Itoa(b) + "."
			s := 1
			if b == 0 {
				s = stride
			}
			var bs blockSpec
			if a.bottleneck {
				bs.convs = []convSpec{
					{p + "conv1", p + "bn1", in, width, nn.Square(1, 1, 0)},
					{p + "conv2", p + "bn2", width, width, nn.Square(3, s, 1)},
					{p + "conv3", p + "bn3", width, planes * exp, nn.Square(1, 1, 0)},
				}
			} else {
				bs.convs = []convSpec{
					{p + "conv1", p + "bn1", in, planes, nn.Square(3, s, 1)},
					{p + "conv2", p + "bn2", planes, planes, nn.Square(3, 1, 1)},
				}
			}
			if s != 1 || in != planes*exp {
				bs.down = &convSpec{p + "downsample.0", p + "downsample.1", in, planes * exp, nn.Square(1, s, 0)}
			}
			layers[l] = append(layers[l], bs)
			in = planes * exp
		}
	}
	return stem, layers
}

// tensorShapes lists the trunk's tensors in forward order with their shapes.
func (a resnetArch) tensorShapes() (names []string, shapes map[string][]int) {
	shapes = map[string][]int{}
	add := func(c convSpec) {
		names = append(names, c.conv+".weight")
		shapes[c.conv+".weight"] = []int{c.cout, c.cin, c.win.KH, c.win.KW}
		for _, s := range []string{"weight", "bias", "running_mean", "running_var"} {
			names = append(names, c.bn+"."+s)
			shapes[c.bn+"."+s] = []int{c.cout}
		}
	}
	stem, layers := a.spec()
	add(stem)
	for _, l := range layers {
		for _, b := range l {
			for _, c := range b.convs {
				add(c)
			}
			if b.down != nil {
				add(*b.down)
			}
		}
	}
	return names, shapes
}

// selectTrunk checks t against the trunk's tensors, in forward order, and
// returns just those tensors. The error names the first tensor that is
// missing or has the wrong shape.
func (a resnetArch) selectTrunk(t weights.Tensors) (weights.Tensors, error) {
	names, shapes := a.tensorShapes()
	out := make(weights.Tensors, len(names))
	for _, n := range names {
		x, ok := t[n]
		if !ok {
			return nil, fmt.Errorf("tensor %s (shape %v) is missing: not a torchvision %s checkpoint", n, shapes[n], a.name)
		}
		if !slices.Equal(x.Shape, shapes[n]) {
			return nil, fmt.Errorf("tensor %s has shape %v, %s needs %v", n, x.Shape, a.name, shapes[n])
		}
		out[n] = x
	}
	return out, nil
}

func importResNet(a resnetArch, src string) (weights.Tensors, error) {
	// Only the trunk's tensors are decoded, and only once every shape
	// matches the architecture.
	names, shapes := a.tensorShapes()
	expect := make([]weights.Expected, len(names))
	for i, n := range names {
		expect[i] = weights.Expected{Name: n, Shape: shapes[n]}
	}
	t, err := weights.OpenWith(src, weights.Options{Expect: expect, Arch: a.name})
	if err != nil {
		return nil, err
	}
	t, err = a.selectTrunk(t)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return t, nil
}

// block is a residual block with batch norm folded into its convolutions.
type block struct {
	convs []*nn.Conv2D
	down  *nn.Conv2D
}

// resNet is a torchvision ResNet trunk up to layer3, in eval mode with batch
// norm folded (eps 1e-5). It owns its activation buffers and is not safe
// for concurrent use.
type resNet struct {
	info   Info
	stem   *nn.Conv2D
	layers [3][]block

	// Activation buffers, reused between calls.
	stemOut, x, d, t1, t2 nn.NHWC
	e                     nn.NHWC // layer3's spare once layer2 is done
	ws                    nn.Workspace
	out                   [2]nn.Tensor
}

// newResNet builds the trunk from t, which must hold the trunk's tensors.
func newResNet(a resnetArch, info Info, t weights.Tensors) (*resNet, error) {
	t, err := a.selectTrunk(t)
	if err != nil {
		return nil, err
	}
	mk := func(c convSpec, relu bool) *nn.Conv2D {
		cv := nn.NewConv2D(c.cin, c.cout, c.win)
		cv.SetWeightsOIHW(t[c.conv+".weight"].Data)
		cv.FoldBatchNorm(t[c.bn+".weight"].Data, t[c.bn+".bias"].Data, t[c.bn+".running_mean"].Data, t[c.bn+".running_var"].Data, 1e-5)
		cv.ReLU = relu
		return cv
	}
	stem, layers := a.spec()
	r := &resNet{info: info, stem: mk(stem, true)}
	for l, ls := range layers {
		for _, bs := range ls {
			var b block
			// Every conv has a ReLU: the last one's comes after the
			// residual add, which ForwardAdd applies in the same pass.
			for _, c := range bs.convs {
				b.convs = append(b.convs, mk(c, true))
			}
			if bs.down != nil {
				b.down = mk(*bs.down, false)
			}
			r.layers[l] = append(r.layers[l], b)
		}
	}
	if len(r.layers[2]) == 0 || r.layers[2][0].down == nil {
		return nil, fmt.Errorf("%s: layer3 does not start with a downsampling block", a.name)
	}
	return r, nil
}

func loadResNet(a resnetArch, t weights.Tensors) (Backbone, error) {
	info, err := Lookup(a.name)
	if err != nil {
		return nil, err
	}
	return newResNet(a, info, t)
}

func (r *resNet) Info() Info { return r.info }

// checkInput validates a backbone input batch.
func checkInput(info Info, x *nn.Tensor) error {
	if x == nil || x.N < 1 || x.C != 3 {
		return fmt.Errorf("%s: input must be N x 3 x H x W with N >= 1", info.Name)
	}
	if len(x.Data) < x.Len() {
		return fmt.Errorf("%s: input tensor has %d values for shape %dx%dx%dx%d", info.Name, len(x.Data), x.N, x.C, x.H, x.W)
	}
	if x.H < info.MinInput || x.W < info.MinInput {
		return fmt.Errorf("%s: input %dx%d is smaller than the minimum %dx%d", info.Name, x.H, x.W, info.MinInput, info.MinInput)
	}
	return nil
}

// Forward runs the trunk. Returned tensors (layer2, layer3; NCHW) are valid
// until the next call.
func (r *resNet) Forward(x *nn.Tensor) ([]*nn.Tensor, error) {
	return r.ForwardProfile(x, nil)
}

// ForwardProfile is Forward that reports each step's time to rec (nil:
// none).
func (r *resNet) ForwardProfile(x *nn.Tensor, rec func(LayerTime)) ([]*nn.Tensor, error) {
	st := newStepTimer(rec)
	outs, err := r.forward(x, &st)
	if err != nil {
		return nil, err
	}
	for k, o := range outs {
		o.ToNCHW(&r.out[k])
		st.done(fmt.Sprintf("layer%d", k+2), "layout", o, 0)
	}
	return []*nn.Tensor{&r.out[0], &r.out[1]}, nil
}

// ForwardNHWC is Forward without the last step: it returns layer2 and
// layer3 in NHWC layout, valid until the next call.
func (r *resNet) ForwardNHWC(x *nn.Tensor) ([]*nn.NHWC, error) {
	st := newStepTimer(nil)
	return r.forward(x, &st)
}

// forward runs the trunk on x, timing its steps with st, and returns the
// NHWC buffers holding layer2 and layer3. Layer3 starts with a
// downsampling block (checked by newResNet), which writes into the other
// buffer than layer2's; its later blocks get r.e as their spare, so
// layer2's buffer is never written again.
func (r *resNet) forward(x *nn.Tensor, st *stepTimer) ([]*nn.NHWC, error) {
	if err := checkInput(r.info, x); err != nil {
		return nil, err
	}
	// The input stays NCHW: the stem reads it (or its padded copy) in place
	// where the AVX-512 kernels run (nn.Conv2D.ForwardNCHW).
	r.stem.ForwardNCHW(&r.stemOut, x, &r.ws)
	st.done("conv1", "conv", &r.stemOut, int64(x.N)*r.stem.MACs(x.H, x.W))
	nn.MaxPool(&r.x, &r.stemOut, nn.Square(3, 2, 1))
	st.done("maxpool", "maxpool", &r.x, 0)
	cur, spare := &r.x, &r.d
	var layer2 *nn.NHWC
	for l := range r.layers {
		for k, b := range r.layers[l] {
			cur, spare = r.block(b, cur, spare, st, l, k)
			if l == 2 && k == 0 {
				spare = &r.e
			}
		}
		if l == 1 {
			layer2 = cur
		}
	}
	return []*nn.NHWC{layer2, cur}, nil
}

// block runs one residual block on cur and returns the buffer holding the
// output and the free one. Its steps are timed by st as block k of layer l.
func (r *resNet) block(b block, cur, spare *nn.NHWC, st *stepTimer, l, k int) (*nn.NHWC, *nn.NHWC) {
	n := len(b.convs)
	in := cur
	for i, c := range b.convs[:n-1] {
		dst := &r.t1
		if i%2 == 1 {
			dst = &r.t2
		}
		c.Forward(dst, in, &r.ws)
		st.conv(l, k, i+1, dst, c, in)
		in = dst
	}
	last := b.convs[n-1]
	if b.down != nil {
		b.down.Forward(spare, cur, &r.ws)
		st.conv(l, k, 0, spare, b.down, cur)
		last.ForwardAdd(spare, in, spare, &r.ws)
		st.conv(l, k, n, spare, last, in)
		return spare, cur
	}
	last.ForwardAdd(cur, in, cur, &r.ws)
	st.conv(l, k, n, cur, last, in)
	return cur, spare
}

// MACs counts the multiply-accumulates of the trunk's convolutions for one
// h x w image.
func (r *resNet) MACs(h, w int) int64 {
	total := r.stem.MACs(h, w)
	h, w = r.stem.OutSize(h, w)
	g := nn.Square(3, 2, 1).Apply(h, w)
	h, w = g.OutH, g.OutW
	for _, l := range r.layers {
		for _, b := range l {
			bh, bw := h, w
			for _, c := range b.convs {
				total += c.MACs(bh, bw)
				bh, bw = c.OutSize(bh, bw)
			}
			if b.down != nil {
				total += b.down.MACs(h, w)
			}
			h, w = bh, bw
		}
	}
	return total
}
