package backbone

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// The Keras InceptionV3 trunk up to mixed5 as a graph of Keras layers, built
// in the order of keras_applications/inception_v3.py so that the automatic
// layer names (conv2d_k, batch_normalization_k, activation_k,
// max_pooling2d_k, average_pooling2d_k) come out exactly as in the Keras
// model that nsfwjs converted (Keras 2.2.4). The converter checks this graph
// against the model.json topology, layer by layer, before it accepts the
// weights; the forward pass runs it node by node.
//
// Reference: C. Szegedy et al., "Rethinking the Inception Architecture for
// Computer Vision", CVPR 2016 (arXiv 1512.00567), and the Keras
// implementation keras_applications/inception_v3.py.

type inceptionKind int

const (
	// incConvBNReLU is Conv2D (no bias) + BatchNormalization (center, no scale,
	// eps 1e-3) + ReLU: Keras's conv2d_bn helper.
	incConvBNReLU inceptionKind = iota
	// incMaxPool is MaxPooling2D 3x3, stride 2, "valid".
	incMaxPool
	// incAvgPool is AveragePooling2D 3x3, stride 1, "same" (padded cells are
	// not counted in the average).
	incAvgPool
	// incConcat concatenates its inputs along channels.
	incConcat
)

// inceptionNode is one layer of the trunk. Its name is the Keras name of its
// output: activation_k for incConvBNReLU number k, the pooling layer's name, or
// mixedN.
type inceptionNode struct {
	name   string
	kind   inceptionKind
	in     []string
	outC   int // output channels
	conv   int // k of conv2d_k (incConvBNReLU only)
	inC    int // input channels (incConvBNReLU only)
	kh, kw int
	stride int
	same   bool // Keras padding "same" (else "valid")
}

// inceptionEps is the batch-norm epsilon of Keras InceptionV3.
const inceptionEps = 1e-3

// inceptionInput is the Keras name of the network input.
const inceptionInput = "input_1"

type inceptionBuilder struct {
	nodes    []inceptionNode
	channels map[string]int
	conv     int
	maxPools int
	avgPools int
}

func (b *inceptionBuilder) add(n inceptionNode) string {
	b.nodes = append(b.nodes, n)
	b.channels[n.name] = n.outC
	return n.name
}

// convBN is Keras's conv2d_bn(x, filters, kh, kw, strides, padding).
func (b *inceptionBuilder) convBN(in string, filters, kh, kw, stride int, same bool) string {
	b.conv++
	return b.add(inceptionNode{
		name: "activation_" + strconv.Itoa(b.conv), kind: incConvBNReLU, in: []string{in},
		outC: filters, conv: b.conv, inC: b.channels[in], kh: kh, kw: kw, stride: stride, same: same,
	})
}

func (b *inceptionBuilder) maxPool(in string) string {
	b.maxPools++
	return b.add(inceptionNode{name: "max_pooling2d_" + strconv.Itoa(b.maxPools), kind: incMaxPool,
		in: []string{in}, outC: b.channels[in], kh: 3, kw: 3, stride: 2})
}

func (b *inceptionBuilder) avgPool(in string) string {
	b.avgPools++
	return b.add(inceptionNode{name: "average_pooling2d_" + strconv.Itoa(b.avgPools), kind: incAvgPool,
		in: []string{in}, outC: b.channels[in], kh: 3, kw: 3, stride: 1, same: true})
}

func (b *inceptionBuilder) concat(name string, in ...string) string {
	c := 0
	for _, s := range in {
		c += b.channels[s]
	}
	return b.add(inceptionNode{name: name, kind: incConcat, in: in, outC: c})
}

const (
	kerasSame  = true
	kerasValid = false
)

// inceptionGraph returns the trunk from input_1 to mixed5, in execution
// order.
func inceptionGraph() []inceptionNode {
	b := &inceptionBuilder{channels: map[string]int{inceptionInput: 3}}
	// Stem: 299 -> 149 -> 147 -> 147 -> 73 -> 73 -> 71 -> 35.
	x := b.convBN(inceptionInput, 32, 3, 3, 2, kerasValid)
	x = b.convBN(x, 32, 3, 3, 1, kerasValid)
	x = b.convBN(x, 64, 3, 3, 1, kerasSame)
	x = b.maxPool(x)
	x = b.convBN(x, 80, 1, 1, 1, kerasValid)
	x = b.convBN(x, 192, 3, 3, 1, kerasValid)
	x = b.maxPool(x)

	// mixed0, mixed1, mixed2: 35 x 35 x 256, 288, 288.
	for i, poolC := range []int{32, 64, 64} {
		b1 := b.convBN(x, 64, 1, 1, 1, kerasSame)
		b5 := b.convBN(x, 48, 1, 1, 1, kerasSame)
		b5 = b.convBN(b5, 64, 5, 5, 1, kerasSame)
		b3 := b.convBN(x, 64, 1, 1, 1, kerasSame)
		b3 = b.convBN(b3, 96, 3, 3, 1, kerasSame)
		b3 = b.convBN(b3, 96, 3, 3, 1, kerasSame)
		bp := b.avgPool(x)
		bp = b.convBN(bp, poolC, 1, 1, 1, kerasSame)
		x = b.concat("mixed"+strconv.Itoa(i), b1, b5, b3, bp)
	}

	// mixed3: 17 x 17 x 768.
	b3 := b.convBN(x, 384, 3, 3, 2, kerasValid)
	bd := b.convBN(x, 64, 1, 1, 1, kerasSame)
	bd = b.convBN(bd, 96, 3, 3, 1, kerasSame)
	bd = b.convBN(bd, 96, 3, 3, 2, kerasValid)
	bp := b.maxPool(x)
	x = b.concat("mixed3", b3, bd, bp)

	// mixed4, mixed5: 17 x 17 x 768 (factorised 7x7 convolutions).
	for i, c := range []int{128, 160} {
		b1 := b.convBN(x, 192, 1, 1, 1, kerasSame)
		b7 := b.convBN(x, c, 1, 1, 1, kerasSame)
		b7 = b.convBN(b7, c, 1, 7, 1, kerasSame)
		b7 = b.convBN(b7, 192, 7, 1, 1, kerasSame)
		bd := b.convBN(x, c, 1, 1, 1, kerasSame)
		bd = b.convBN(bd, c, 7, 1, 1, kerasSame)
		bd = b.convBN(bd, c, 1, 7, 1, kerasSame)
		bd = b.convBN(bd, c, 7, 1, 1, kerasSame)
		bd = b.convBN(bd, 192, 1, 7, 1, kerasSame)
		bp := b.avgPool(x)
		bp = b.convBN(bp, 192, 1, 1, 1, kerasSame)
		x = b.concat("mixed"+strconv.Itoa(4+i), b1, b7, bd, bp)
	}
	return b.nodes
}

// inceptionTensorNames lists the stored tensors of the trunk with their
// Keras shapes: conv2d_k/kernel [kh, kw, in, out] and
// batch_normalization_k/{beta, moving_mean, moving_variance} [out].
func inceptionTensorNames() map[string][]int {
	m := map[string][]int{}
	for _, n := range inceptionGraph() {
		if n.kind != incConvBNReLU {
			continue
		}
		k := strconv.Itoa(n.conv)
		m["conv2d_"+k+"/kernel"] = []int{n.kh, n.kw, n.inC, n.outC}
		for _, s := range []string{"beta", "moving_mean", "moving_variance"} {
			m["batch_normalization_"+k+"/"+s] = []int{n.outC}
		}
	}
	return m
}

// Keras layer configs, as far as the check reads them.
type kerasConvConfig struct {
	Filters      int    `json:"filters"`
	KernelSize   []int  `json:"kernel_size"`
	Strides      []int  `json:"strides"`
	Padding      string `json:"padding"`
	DataFormat   string `json:"data_format"`
	DilationRate []int  `json:"dilation_rate"`
	Activation   string `json:"activation"`
	UseBias      bool   `json:"use_bias"`
}

type kerasBNConfig struct {
	Axis    int     `json:"axis"`
	Epsilon float64 `json:"epsilon"`
	Center  bool    `json:"center"`
	Scale   bool    `json:"scale"`
}

type kerasPoolConfig struct {
	PoolSize   []int  `json:"pool_size"`
	Strides    []int  `json:"strides"`
	Padding    string `json:"padding"`
	DataFormat string `json:"data_format"`
}

type kerasActivationConfig struct {
	Activation string `json:"activation"`
}

type kerasConcatConfig struct {
	Axis int `json:"axis"`
}

// checkInceptionTopology checks the Keras model config in a model.json
// modelTopology against inceptionGraph: every layer up to mixed5 must exist
// with the expected class, configuration and inputs.
func checkInceptionTopology(raw json.RawMessage) error {
	var m tfjsKerasModel
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("modelTopology is not a Keras model config: %v", err)
	}
	layers := map[string]*tfjsKerasLayer{}
	for i := range m.ModelConfig.Config.Layers {
		l := &m.ModelConfig.Config.Layers[i]
		layers[l.Name] = l
	}
	if l := layers[inceptionInput]; l == nil || l.ClassName != "InputLayer" {
		return fmt.Errorf("modelTopology: no InputLayer %s", inceptionInput)
	}
	get := func(name, class string, in []string, cfg any) error {
		l := layers[name]
		if l == nil {
			return fmt.Errorf("modelTopology: layer %s missing", name)
		}
		if l.ClassName != class {
			return fmt.Errorf("modelTopology: layer %s is a %s, want %s", name, l.ClassName, class)
		}
		got, err := l.inbound()
		if err != nil {
			return fmt.Errorf("modelTopology: %v", err)
		}
		if !slices.Equal(got, in) {
			return fmt.Errorf("modelTopology: layer %s takes %v, want %v", name, got, in)
		}
		if err := json.Unmarshal(l.Config, cfg); err != nil {
			return fmt.Errorf("modelTopology: layer %s: bad config: %v", name, err)
		}
		return nil
	}
	pad := func(same bool) string {
		if same {
			return "same"
		}
		return "valid"
	}
	channelsLast := func(axis int) bool { return axis == 3 || axis == -1 }
	for _, n := range inceptionGraph() {
		switch n.kind {
		case incConvBNReLU:
			k := strconv.Itoa(n.conv)
			conv, bn := "conv2d_"+k, "batch_normalization_"+k
			var c kerasConvConfig
			if err := get(conv, "Conv2D", n.in, &c); err != nil {
				return err
			}
			if c.Filters != n.outC || !slices.Equal(c.KernelSize, []int{n.kh, n.kw}) ||
				!slices.Equal(c.Strides, []int{n.stride, n.stride}) || c.Padding != pad(n.same) ||
				c.DataFormat != "channels_last" || !slices.Equal(c.DilationRate, []int{1, 1}) ||
				c.Activation != "linear" || c.UseBias {
				return fmt.Errorf("modelTopology: layer %s is %+v, want %d filters %dx%d stride %d padding %s, no bias, linear",
					conv, c, n.outC, n.kh, n.kw, n.stride, pad(n.same))
			}
			var b kerasBNConfig
			if err := get(bn, "BatchNormalization", []string{conv}, &b); err != nil {
				return err
			}
			if !channelsLast(b.Axis) || b.Epsilon != inceptionEps || !b.Center || b.Scale {
				return fmt.Errorf("modelTopology: layer %s is %+v, want axis 3, epsilon %g, center without scale", bn, b, inceptionEps)
			}
			var a kerasActivationConfig
			if err := get(n.name, "Activation", []string{bn}, &a); err != nil {
				return err
			}
			if a.Activation != "relu" {
				return fmt.Errorf("modelTopology: layer %s is %q, want relu", n.name, a.Activation)
			}
		case incMaxPool, incAvgPool:
			class := "MaxPooling2D"
			if n.kind == incAvgPool {
				class = "AveragePooling2D"
			}
			var p kerasPoolConfig
			if err := get(n.name, class, n.in, &p); err != nil {
				return err
			}
			if !slices.Equal(p.PoolSize, []int{n.kh, n.kw}) || !slices.Equal(p.Strides, []int{n.stride, n.stride}) ||
				p.Padding != pad(n.same) || p.DataFormat != "channels_last" {
				return fmt.Errorf("modelTopology: layer %s is %+v, want %dx%d stride %d padding %s",
					n.name, p, n.kh, n.kw, n.stride, pad(n.same))
			}
		case incConcat:
			var c kerasConcatConfig
			if err := get(n.name, "Concatenate", n.in, &c); err != nil {
				return err
			}
			if !channelsLast(c.Axis) {
				return fmt.Errorf("modelTopology: layer %s concatenates on axis %d, want the channel axis", n.name, c.Axis)
			}
		}
	}
	return nil
}
