package backbone

// Decoding of a TensorFlow.js layers model as the npm package nsfwjs ships it:
// model.json and each binary weight shard are wrapped in a minified JavaScript
// module (browserify UMD) whose exported value is an object literal (the
// model.json content, written as JavaScript rather than JSON) or a base64
// string (the shard bytes). The weights are described by the TensorFlow.js
// weights manifest and stored 8-bit quantised per tensor.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/crd-ad/crd/weights"
)

// tfjsModel is the part of a TensorFlow.js model.json that the converter reads.
type tfjsModel struct {
	ModelTopology   json.RawMessage   `json:"modelTopology"`
	WeightsManifest []tfjsWeightGroup `json:"weightsManifest"`
}

// tfjsWeightGroup is one weights-manifest entry: the shard files (in order)
// and the tensors packed back to back in their concatenation.
type tfjsWeightGroup struct {
	Paths   []string         `json:"paths"`
	Weights []tfjsWeightSpec `json:"weights"`
}

// tfjsWeightSpec describes one tensor of a weight group.
type tfjsWeightSpec struct {
	Name         string            `json:"name"`
	Shape        []int             `json:"shape"`
	Dtype        string            `json:"dtype"`
	Quantization *tfjsQuantization `json:"quantization"`
}

// tfjsQuantization is TensorFlow.js affine weight quantisation: a stored
// integer q (uint8 or uint16, little endian) stands for Min + Scale * q.
type tfjsQuantization struct {
	Dtype string   `json:"dtype"`
	Min   *float64 `json:"min"`
	Scale *float64 `json:"scale"`
}

// tfjsKerasModel is the Keras model config inside modelTopology.
type tfjsKerasModel struct {
	KerasVersion string `json:"keras_version"`
	ModelConfig  struct {
		ClassName string `json:"class_name"`
		Config    struct {
			Layers []tfjsKerasLayer `json:"layers"`
		} `json:"config"`
	} `json:"model_config"`
}

// tfjsKerasLayer is one layer of a Keras functional model config.
type tfjsKerasLayer struct {
	Name          string          `json:"name"`
	ClassName     string          `json:"class_name"`
	Config        json.RawMessage `json:"config"`
	InboundNodes  json.RawMessage `json:"inbound_nodes"`
	inboundLayers []string        // decoded from InboundNodes
}

// inbound returns the names of the layers feeding l (its first node).
func (l *tfjsKerasLayer) inbound() ([]string, error) {
	if l.inboundLayers != nil {
		return l.inboundLayers, nil
	}
	var nodes [][][]any
	if err := json.Unmarshal(l.InboundNodes, &nodes); err != nil {
		return nil, fmt.Errorf("layer %s: bad inbound_nodes: %v", l.Name, err)
	}
	names := []string{}
	if len(nodes) > 0 {
		for _, in := range nodes[0] {
			if len(in) == 0 {
				return nil, fmt.Errorf("layer %s: empty inbound_nodes entry", l.Name)
			}
			s, ok := in[0].(string)
			if !ok {
				return nil, fmt.Errorf("layer %s: bad inbound_nodes entry %v", l.Name, in)
			}
			names = append(names, s)
		}
	}
	l.inboundLayers = names
	return names, nil
}

// parseTFJSModelModule decodes a model.json that is wrapped in a JavaScript
// module (nsfwjs's model.min.js).
func parseTFJSModelModule(src []byte) (*tfjsModel, error) {
	js, err := jsModuleExport(src)
	if err != nil {
		return nil, err
	}
	var m tfjsModel
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("exported value is not a TensorFlow.js model: %v", err)
	}
	if len(m.ModelTopology) == 0 || len(m.WeightsManifest) == 0 {
		return nil, errors.New("exported value is not a TensorFlow.js layers model (no modelTopology or weightsManifest)")
	}
	return &m, nil
}

// parseTFJSShardModule decodes a binary weight shard that is wrapped in a
// JavaScript module exporting it as a base64 string.
func parseTFJSShardModule(src []byte) ([]byte, error) {
	js, err := jsModuleExport(src)
	if err != nil {
		return nil, err
	}
	var s string
	if err := json.Unmarshal(js, &s); err != nil {
		return nil, errors.New("exported value is not a string (want a base64 weight shard)")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("weight shard is not valid base64: %v", err)
	}
	return b, nil
}

// decodeTFJSWeights dequantises the tensors of the manifest's groups for
// which keep returns true. shards maps each manifest path (for example
// "group1-shard1of6") to its bytes. It checks that each group's shards hold
// exactly the tensors the manifest lists.
func decodeTFJSWeights(m *tfjsModel, shards map[string][]byte, keep func(name string) bool) (weights.Tensors, error) {
	out := weights.Tensors{}
	seen := map[string]bool{}
	for gi, g := range m.WeightsManifest {
		var buf []byte
		for _, p := range g.Paths {
			// A shard listed twice would let a small manifest repeat a
			// large shard any number of times.
			if seen[p] {
				return nil, fmt.Errorf("weight group %d: shard %q listed twice in the manifest", gi+1, p)
			}
			seen[p] = true
			b, ok := shards[p]
			if !ok {
				return nil, fmt.Errorf("weight group %d: shard %q missing", gi+1, p)
			}
			buf = append(buf, b...)
		}
		off := 0
		for _, w := range g.Weights {
			n := 1
			for _, s := range w.Shape {
				if s < 0 || s > math.MaxInt32 || (s > 0 && n > math.MaxInt32/s) {
					return nil, fmt.Errorf("weight %s: bad shape %v", w.Name, w.Shape)
				}
				n *= s
			}
			size, err := w.elemSize()
			if err != nil {
				return nil, err
			}
			if len(buf)-off < n*size {
				return nil, fmt.Errorf("weight %s: needs %d bytes at offset %d, group %d has only %d bytes (truncated shard?)",
					w.Name, n*size, off, gi+1, len(buf))
			}
			raw := buf[off : off+n*size]
			off += n * size
			if !keep(w.Name) {
				continue
			}
			if _, dup := out[w.Name]; dup {
				return nil, fmt.Errorf("weight %s appears twice in the manifest", w.Name)
			}
			data, err := w.dequantize(raw)
			if err != nil {
				return nil, err
			}
			out[w.Name] = &weights.Tensor{Shape: append([]int{}, w.Shape...), Data: data}
		}
		if off != len(buf) {
			return nil, fmt.Errorf("weight group %d: shards hold %d bytes, the manifest describes %d", gi+1, len(buf), off)
		}
	}
	return out, nil
}

// elemSize is the number of stored bytes per element.
func (w *tfjsWeightSpec) elemSize() (int, error) {
	if w.Dtype != "float32" {
		return 0, fmt.Errorf("weight %s: unsupported dtype %q (want float32)", w.Name, w.Dtype)
	}
	if w.Quantization == nil {
		return 4, nil
	}
	switch w.Quantization.Dtype {
	case "uint8":
		return 1, nil
	case "uint16":
		return 2, nil
	}
	return 0, fmt.Errorf("weight %s: unsupported quantization dtype %q (want uint8 or uint16)", w.Name, w.Quantization.Dtype)
}

// dequantize turns the stored bytes of w into float32 values exactly as
// TensorFlow.js does (io_utils decodeWeights): the float64 product
// q * scale + min, rounded once to float32.
func (w *tfjsWeightSpec) dequantize(b []byte) ([]float32, error) {
	size, err := w.elemSize()
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(b)/size)
	if w.Quantization == nil {
		for i := range out {
			out[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
		}
		return out, nil
	}
	q := w.Quantization
	if q.Min == nil || q.Scale == nil {
		return nil, fmt.Errorf("weight %s: %s quantization without min and scale", w.Name, q.Dtype)
	}
	lo, scale := *q.Min, *q.Scale
	for i := range out {
		var v float64
		if size == 1 {
			v = float64(b[i])
		} else {
			v = float64(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
		// The explicit conversion keeps the compiler from fusing into an FMA,
		// which would round differently from JavaScript.
		out[i] = float32(float64(v*scale) + lo)
	}
	return out, nil
}

// jsModuleExport finds the first `<name>.exports=` assignment of a literal
// value (object, array or string) in a JavaScript module and returns that
// value as JSON.
func jsModuleExport(src []byte) ([]byte, error) {
	key := []byte(".exports=")
	rest := src
	for {
		i := bytes.Index(rest, key)
		if i < 0 {
			return nil, errors.New("no `.exports=` assignment of a literal value found (not a wrapped TensorFlow.js model file)")
		}
		rest = rest[i+len(key):]
		if len(rest) > 0 && (rest[0] == '{' || rest[0] == '[' || rest[0] == '"' || rest[0] == '\'') {
			return jsLiteralToJSON(rest)
		}
	}
}

// jsLiteralToJSON converts the JavaScript literal at the start of src to
// JSON. It accepts the subset that minifiers emit for data: objects with
// identifier, string or number keys, arrays, single- or double-quoted
// strings, numbers (including ".5" and "5."), true, false, null, !0, !1 and
// void 0 (as null). Anything after the literal is ignored.
func jsLiteralToJSON(src []byte) ([]byte, error) {
	p := &jsParser{src: src}
	var out bytes.Buffer
	out.Grow(len(src))
	p.out = &out
	if err := p.value(0); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

type jsParser struct {
	src []byte
	pos int
	out *bytes.Buffer
}

const jsMaxDepth = 512

func (p *jsParser) errorf(format string, args ...any) error {
	return fmt.Errorf("JavaScript literal, byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jsParser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsParser) value(depth int) error {
	if depth > jsMaxDepth {
		return p.errorf("nested deeper than %d", jsMaxDepth)
	}
	p.skipSpace()
	if p.pos >= len(p.src) {
		return p.errorf("unexpected end of input")
	}
	c := p.src[p.pos]
	switch {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"' || c == '\'':
		s, err := p.str()
		if err != nil {
			return err
		}
		return p.writeString(s)
	case c == '!':
		if p.pos+1 < len(p.src) && (p.src[p.pos+1] == '0' || p.src[p.pos+1] == '1') {
			if p.src[p.pos+1] == '0' {
				p.out.WriteString("true")
			} else {
				p.out.WriteString("false")
			}
			p.pos += 2
			return nil
		}
		return p.errorf("unsupported expression starting with '!'")
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		return p.number()
	case isIdentStart(c):
		id := p.ident()
		switch id {
		case "true", "false", "null":
			p.out.WriteString(id)
			return nil
		case "void":
			p.skipSpace()
			if p.pos < len(p.src) && p.src[p.pos] == '0' {
				p.pos++
				p.out.WriteString("null")
				return nil
			}
		}
		return p.errorf("unsupported identifier %q in a data literal", id)
	}
	return p.errorf("unexpected character %q", c)
}

func (p *jsParser) object(depth int) error {
	p.pos++ // '{'
	p.out.WriteByte('{')
	first := true
	for {
		p.skipSpace()
		if p.pos >= len(p.src) {
			return p.errorf("unterminated object")
		}
		if p.src[p.pos] == '}' {
			p.pos++
			p.out.WriteByte('}')
			return nil
		}
		if !first {
			if p.src[p.pos] != ',' {
				return p.errorf("expected ',' or '}' in object, got %q", p.src[p.pos])
			}
			p.pos++
			p.skipSpace()
			if p.pos < len(p.src) && p.src[p.pos] == '}' { // trailing comma
				continue
			}
			p.out.WriteByte(',')
		}
		first = false
		if p.pos >= len(p.src) {
			return p.errorf("unterminated object")
		}
		var key string
		switch c := p.src[p.pos]; {
		case c == '"' || c == '\'':
			s, err := p.str()
			if err != nil {
				return err
			}
			key = s
		case isIdentStart(c):
			key = p.ident()
		case c >= '0' && c <= '9' || c == '.':
			start := p.pos
			for p.pos < len(p.src) && isNumberChar(p.src[p.pos]) {
				p.pos++
			}
			f, err := strconv.ParseFloat(string(p.src[start:p.pos]), 64)
			if err != nil {
				return p.errorf("bad numeric key %q", p.src[start:p.pos])
			}
			key = strconv.FormatFloat(f, 'f', -1, 64)
		default:
			return p.errorf("expected an object key, got %q", c)
		}
		if err := p.writeString(key); err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return p.errorf("expected ':' after key %q", key)
		}
		p.pos++
		p.out.WriteByte(':')
		if err := p.value(depth + 1); err != nil {
			return err
		}
	}
}

func (p *jsParser) array(depth int) error {
	p.pos++ // '['
	p.out.WriteByte('[')
	first := true
	for {
		p.skipSpace()
		if p.pos >= len(p.src) {
			return p.errorf("unterminated array")
		}
		if p.src[p.pos] == ']' {
			p.pos++
			p.out.WriteByte(']')
			return nil
		}
		if !first {
			if p.src[p.pos] != ',' {
				return p.errorf("expected ',' or ']' in array, got %q", p.src[p.pos])
			}
			p.pos++
			p.skipSpace()
			if p.pos < len(p.src) && p.src[p.pos] == ']' { // trailing comma
				continue
			}
			p.out.WriteByte(',')
		}
		first = false
		if err := p.value(depth + 1); err != nil {
			return err
		}
	}
}

// str reads a quoted JavaScript string and returns its value.
func (p *jsParser) str() (string, error) {
	quote := p.src[p.pos]
	p.pos++
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.src) && p.src[p.pos] != quote && p.src[p.pos] != '\\' && p.src[p.pos] != '\n' {
		p.pos++
	}
	if p.pos < len(p.src) && p.src[p.pos] == quote {
		s := string(p.src[start:p.pos])
		p.pos++
		return s, nil
	}
	var b []rune
	b = append(b, []rune(string(p.src[start:p.pos]))...)
	for {
		if p.pos >= len(p.src) || p.src[p.pos] == '\n' {
			return "", p.errorf("unterminated string")
		}
		c := p.src[p.pos]
		if c == quote {
			p.pos++
			return string(b), nil
		}
		if c != '\\' {
			r, n := utf8.DecodeRune(p.src[p.pos:])
			b = append(b, r)
			p.pos += n
			continue
		}
		p.pos++
		if p.pos >= len(p.src) {
			return "", p.errorf("unterminated string")
		}
		e := p.src[p.pos]
		p.pos++
		switch e {
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'v':
			b = append(b, '\v')
		case '0':
			b = append(b, 0)
		case 'x', 'u':
			n := 2
			if e == 'u' {
				n = 4
			}
			if p.pos+n > len(p.src) {
				return "", p.errorf("truncated \\%c escape", e)
			}
			v, err := strconv.ParseUint(string(p.src[p.pos:p.pos+n]), 16, 32)
			if err != nil {
				return "", p.errorf("bad \\%c escape %q", e, p.src[p.pos:p.pos+n])
			}
			p.pos += n
			b = append(b, rune(v))
		case '\n':
			// line continuation
		default:
			b = append(b, rune(e))
		}
	}
}

func (p *jsParser) writeString(s string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return p.errorf("%v", err)
	}
	p.out.Write(b)
	return nil
}

func (p *jsParser) number() error {
	start := p.pos
	if p.src[p.pos] == '-' || p.src[p.pos] == '+' {
		p.pos++
	}
	for p.pos < len(p.src) && isNumberChar(p.src[p.pos]) {
		p.pos++
	}
	text := string(p.src[start:p.pos])
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return p.errorf("bad number %q", text)
	}
	p.out.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	return nil
}

func isNumberChar(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+'
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}

func (p *jsParser) ident() string {
	start := p.pos
	for p.pos < len(p.src) && (isIdentStart(p.src[p.pos]) || p.src[p.pos] >= '0' && p.src[p.pos] <= '9') {
		p.pos++
	}
	return string(p.src[start:p.pos])
}
