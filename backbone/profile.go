package backbone

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/weights"
)

// LayerTime is one step of a profiled forward pass: a convolution (with its
// folded batch norm, ReLU and residual add), a pooling, a concatenation or a
// layout conversion.
type LayerTime struct {
	// Name identifies the step in the network, e.g. "mixed5/conv2d_40" or
	// "layer2.0.conv1".
	Name string `json:"name"`
	// Kind is "conv", "maxpool", "avgpool", "concat" or "layout".
	Kind string `json:"kind"`
	// Out is the output shape, N x H x W x C.
	Out string `json:"out"`
	// MACs are the multiply-accumulates of the step for the whole batch (0
	// except for convolutions).
	MACs int64 `json:"macs"`
	// Time is the step's wall-clock time.
	Time time.Duration `json:"ns"`
}

// Profiler is implemented by backbones that can time each step of a forward
// pass (all the registered ones).
type Profiler interface {
	// ForwardProfile is Forward that calls rec after each step with its
	// time. Timing adds a clock read per step and nothing else.
	ForwardProfile(x *nn.Tensor, rec func(LayerTime)) ([]*nn.Tensor, error)
}

// stepTimer times the steps of one forward pass for a recorder (nil: no
// timing).
type stepTimer struct {
	rec   func(LayerTime)
	start time.Time
}

func newStepTimer(rec func(LayerTime)) stepTimer {
	if rec == nil {
		return stepTimer{}
	}
	return stepTimer{rec: rec, start: time.Now()}
}

// done records the step that ended now, with output out.
func (s *stepTimer) done(name, kind string, out *nn.NHWC, macs int64) {
	if s.rec == nil {
		return
	}
	now := time.Now()
	s.rec(LayerTime{Name: name, Kind: kind, Out: fmt.Sprintf("%dx%dx%dx%d", out.N, out.H, out.W, out.C), MACs: macs, Time: now.Sub(s.start)})
	s.start = now
}

// NewRandom returns the named backbone with random weights (He-scaled
// normal kernels, batch norms near the identity) drawn from seed, for
// speed measurements that need no downloaded weights.
func NewRandom(name string, seed uint64) (Backbone, error) {
	info, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	t := weights.Tensors{}
	add := func(n string, shape []int, fanIn int) {
		size := 1
		for _, s := range shape {
			size *= s
		}
		w := &weights.Tensor{Shape: shape, Data: make([]float32, size)}
		for i := range w.Data {
			g := rng.NormFloat64()
			switch {
			case len(shape) == 4:
				w.Data[i] = float32(g * math.Sqrt(2/float64(fanIn)))
			case strings.HasSuffix(n, "var") || strings.HasSuffix(n, "variance") || strings.HasSuffix(n, ".weight"):
				w.Data[i] = float32(1 + 0.1*math.Abs(g))
			default:
				w.Data[i] = float32(0.1 * g)
			}
		}
		t[n] = w
	}
	if name == InceptionName {
		shapes := inceptionTensorNames()
		for _, n := range slices.Sorted(maps.Keys(shapes)) {
			s := shapes[n]
			fan := 0
			if len(s) == 4 {
				fan = s[0] * s[1] * s[2] // HWIO
			}
			add(n, s, fan)
		}
		return newInception(t)
	}
	for _, a := range resnetArchs {
		if a.name == name {
			names, shapes := a.tensorShapes()
			for _, n := range names {
				s := shapes[n]
				fan := 0
				if len(s) == 4 {
					fan = s[1] * s[2] * s[3] // OIHW
				}
				add(n, s, fan)
			}
			return newResNet(a, info, t)
		}
	}
	return nil, fmt.Errorf("backbone %s: no random weights for it", name)
}

// conv records ResNet convolution i (1-based; 0 is the downsample) of block
// k of layer l (0-based), which read in and wrote out.
func (s *stepTimer) conv(l, k, i int, out *nn.NHWC, c *nn.Conv2D, in *nn.NHWC) {
	if s.rec == nil {
		return
	}
	what := "downsample"
	if i > 0 {
		what = "conv" + strconv.Itoa(i)
	}
	s.done("layer"+strconv.Itoa(l+1)+"."+strconv.Itoa(k)+"."+what, "conv", out, int64(in.N)*c.MACs(in.H, in.W))
}
