// Package backbone holds the registry of feature-extraction networks (Lookup,
// Names, Load) and the trunks themselves, built on package nn:
//
//   - inception_v3, the default: the Keras InceptionV3 trunk up to mixed5
//     (features mixed2 + mixed5, d = 1056), with the ImageNet weights of the
//     TensorFlow.js model in the npm package nsfwjs (see InceptionInfo);
//   - the torchvision ResNets (resnet18 ... wide_resnet50_2; features layer2 +
//     layer3), with weights from torchvision's published checkpoints.
//
// A backbone turns a preprocessed image batch into the feature maps of its
// chosen layers, and its Info gives the layers, strides, channels and the
// input normalisation it expects. Weights live in the per-user cache (see
// weights.CacheDir), filled by Fetch (download) or Import (a local file).
package backbone

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
	"github.com/crd-ad/crd/weights"
)

// Info describes a registered backbone.
type Info struct {
	// Name is the registry key, for example "wide_resnet50_2".
	Name string
	// Layers are the feature layers in concatenation order, e.g. {"layer2", "layer3"}.
	Layers []string
	// Strides are the layers' strides relative to the input, e.g. {8, 16}.
	Strides []int
	// Channels are the layers' channel counts, e.g. {512, 1024}.
	Channels []int
	// Preprocess is the default resize/crop and mean/std normalisation.
	Preprocess preprocess.Params
	// MinInput is the smallest input side the network accepts.
	MinInput int
	// Weights says in one line where the weights come from.
	Weights string
}

// Dim is the patch-feature dimension, the sum of Channels.
func (i Info) Dim() int {
	d := 0
	for _, c := range i.Channels {
		d += c
	}
	return d
}

// Backbone is a loaded network. It is not safe for concurrent use: buffers
// are reused between calls. Load one instance per goroutine.
type Backbone interface {
	// Info describes the network.
	Info() Info
	// Forward runs a preprocessed batch x (N x 3 x H x W) and returns one
	// tensor per feature layer, in Info().Layers order. The returned tensors
	// are valid until the next call. It returns an error for an input
	// smaller than MinInput or without 3 channels.
	Forward(x *nn.Tensor) ([]*nn.Tensor, error)
}

// NHWCForwarder is implemented by backbones that compute in NHWC layout
// (all the registered ones), for callers that continue in that layout
// (patchfeat.Embedder) instead of taking Forward's NCHW tensors.
type NHWCForwarder interface {
	// ForwardNHWC is Forward without the conversion to NCHW: it returns one
	// NHWC map per feature layer, in Info().Layers order, holding the
	// values of Forward's tensors. The maps are the backbone's buffers,
	// valid until the next call of any of its forward methods.
	ForwardNHWC(x *nn.Tensor) ([]*nn.NHWC, error)
}

// LoadFunc builds a backbone from its weights, which Load and LoadFile
// read from a weight file (normally a safetensors file in the cache). It
// must return an error naming the first tensor that is missing or has the
// wrong shape.
type LoadFunc func(t weights.Tensors) (Backbone, error)

// FetchOptions configure Fetch.
type FetchOptions struct {
	// Log receives progress and notes; nil discards them.
	Log io.Writer
	// Mirror, when set, replaces the place a backbone's weights are published
	// at: for the torchvision ResNets, the base URL that the checkpoint's file
	// name is appended to (default TorchvisionURL). Backbones fetched by other
	// means (inception_v3, through npm) ignore it.
	Mirror string
}

// FetchFunc downloads a backbone's published weights, verifies them, and
// returns the tensors (and optional metadata) to store in the cache. Progress
// and notes go to opts.Log, which Fetch has made non-nil.
type FetchFunc func(opts FetchOptions) (weights.Tensors, map[string]string, error)

// ImportFunc reads a local checkpoint (any format the entry understands) and
// returns the tensors to store in the cache.
type ImportFunc func(src string) (weights.Tensors, error)

type entry struct {
	info  Info
	load  LoadFunc
	fetch FetchFunc
	imprt ImportFunc
}

var (
	mu       sync.RWMutex
	registry = map[string]*entry{}
)

// Register adds a backbone. It panics if the name is empty or already taken
// (registration happens in init functions).
func Register(info Info, load LoadFunc) {
	mu.Lock()
	defer mu.Unlock()
	if info.Name == "" || load == nil {
		panic("backbone: Register with empty name or nil load")
	}
	if _, dup := registry[info.Name]; dup {
		panic("backbone: duplicate registration of " + info.Name)
	}
	if len(info.Layers) != len(info.Strides) || len(info.Layers) != len(info.Channels) {
		panic("backbone: " + info.Name + ": Layers, Strides and Channels differ in length")
	}
	registry[info.Name] = &entry{info: info, load: load}
}

// RegisterFetcher sets the function Fetch uses for a registered backbone.
func RegisterFetcher(name string, f FetchFunc) {
	setHook("RegisterFetcher", name, func(e *entry) { e.fetch = f })
}

// RegisterImporter sets the function Import uses to read a local checkpoint
// for a registered backbone. Without one, Import reads the file with
// weights.Open (safetensors or a torch.save checkpoint) and keeps every
// tensor.
func RegisterImporter(name string, f ImportFunc) {
	setHook("RegisterImporter", name, func(e *entry) { e.imprt = f })
}

// setHook applies set to the registered backbone name, under the lock; it
// panics, naming the caller, if name is not registered.
func setHook(caller, name string, set func(e *entry)) {
	mu.Lock()
	defer mu.Unlock()
	e, ok := registry[name]
	if !ok {
		panic("backbone: " + caller + " for unregistered " + name)
	}
	set(e)
}

func lookup(name string) (*entry, error) {
	mu.RLock()
	defer mu.RUnlock()
	e, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown backbone %q (known: %s)", name, strings.Join(namesLocked(), ", "))
	}
	return e, nil
}

// Lookup returns a backbone's description. The error for an unknown name
// lists the known names.
func Lookup(name string) (Info, error) {
	e, err := lookup(name)
	if err != nil {
		return Info{}, err
	}
	return e.info, nil
}

// Names returns the registered backbone names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return namesLocked()
}

func namesLocked() []string {
	n := make([]string, 0, len(registry))
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Load builds a backbone from its cached weights
// (weights.CachePath(name)), verified against the SHA-256 sidecar. A missing
// file gives an error naming the expected path and the commands that fill it.
func Load(name string) (Backbone, error) {
	e, err := lookup(name)
	if err != nil {
		return nil, err
	}
	path, err := weights.CachePath(name)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("backbone %s: weights not found at %s; get them with `crd backbone fetch %s` or `crd backbone import %s FILE`", name, path, name, name)
		}
		return nil, fmt.Errorf("backbone %s: %w", name, err)
	}
	return e.loadFile(name, path, true)
}

// loadFile builds the backbone from the weight file at path, read once and
// checked against its SHA-256 sidecar first when verify.
func (e *entry) loadFile(name, path string, verify bool) (Backbone, error) {
	t, err := weights.OpenWith(path, weights.Options{Verify: verify})
	if err != nil {
		return nil, fmt.Errorf("backbone %s: %w", name, err)
	}
	b, err := e.load(t)
	if err != nil {
		return nil, fmt.Errorf("backbone %s: %s: %w", name, path, err)
	}
	return b, nil
}

// LoadFile builds a backbone from an explicit weight file. When the file has
// a SHA-256 sidecar (path + ".sha256") it is verified first.
func LoadFile(name, path string) (Backbone, error) {
	e, err := lookup(name)
	if err != nil {
		return nil, err
	}
	_, err = os.Stat(weights.SidecarPath(path))
	return e.loadFile(name, path, err == nil)
}

// Import converts a local checkpoint src (a torch.save .pth file or a
// .safetensors file) into the cache, then checks that the stored weights load
// for the architecture: a checkpoint of another architecture gives an error
// naming the first mismatching tensor and both shapes, and leaves the cache
// untouched.
func Import(name, src string) error {
	e, err := lookup(name)
	if err != nil {
		return err
	}
	var t weights.Tensors
	if e.imprt != nil {
		t, err = e.imprt(src)
	} else {
		t, err = weights.Open(src)
	}
	if err != nil {
		return fmt.Errorf("backbone %s: import: %w", name, err)
	}
	meta := map[string]string{"backbone": name, "source": filepath.Base(src)}
	return store(e, t, meta)
}

// Fetch downloads a backbone's published weights into the cache, verifying
// their SHA-256.
func Fetch(name string, opts FetchOptions) error {
	e, err := lookup(name)
	if err != nil {
		return err
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if e.fetch == nil {
		return fmt.Errorf("backbone %s cannot be fetched automatically; use `crd backbone import %s FILE`", name, name)
	}
	t, meta, err := e.fetch(opts)
	if err != nil {
		return fmt.Errorf("backbone %s: fetch: %w", name, err)
	}
	if meta == nil {
		meta = map[string]string{}
	}
	meta["backbone"] = name
	return store(e, t, meta)
}

// store checks that t, encoded as it will be stored, loads for the
// architecture, then writes it into the cache and writes its SHA-256
// sidecar, each atomically.
func store(e *entry, t weights.Tensors, meta map[string]string) error {
	name := e.info.Name
	dst, err := weights.CachePath(name)
	if err != nil {
		return err
	}
	b, err := weights.EncodeSafetensors(t, meta)
	if err != nil {
		return fmt.Errorf("backbone %s: %w", name, err)
	}
	back, _, err := weights.DecodeSafetensors(b)
	if err == nil {
		_, err = e.load(back)
	}
	if err != nil {
		return fmt.Errorf("backbone %s: the weights do not fit the architecture: %w", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("backbone %s: %w", name, err)
	}
	// The data is written first: a crash before the sidecar is written
	// leaves a mismatch that Load reports, never a silently wrong file.
	if err := weights.WriteFileAtomic(dst, b); err != nil {
		return fmt.Errorf("backbone %s: %w", name, err)
	}
	if err := weights.WriteSidecar(dst, b); err != nil {
		return fmt.Errorf("backbone %s: %w", name, err)
	}
	return nil
}
