package detector

import (
	"context"
	"errors"
	"math"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/nn"
	"github.com/crd-ad/crd/preprocess"
)

// TestPrepareRecycledBatch checks that prepare fills a recycled input batch exactly as a new one: every slot of a
// read image overwritten with its preprocessed pixels, the slot of an image that failed zeroed.
func TestPrepareRecycledBatch(t *testing.T) {
	pre := preprocess.Params{Resize: 40, Crop: 32, Mean: [3]float64{0.4, 0.5, 0.6}, Std: [3]float64{0.2, 0.25, 0.3}}
	e := &Extractor{Preprocess: pre}
	c := pre.Crop
	old := nn.NewTensor(4, 3, c, c)
	for i := range old.Data {
		old.Data[i] = float32(math.NaN())
	}
	e.inputs.Put(old)
	imgs := make([]*dataset.RGB, 3)
	for k := range imgs {
		imgs[k] = dataset.NewRGB(45+k, 37)
		for i := range imgs[k].Pix {
			imgs[k].Pix[i] = float32((i*7+k*13)%101) / 100
		}
	}
	_, errs, x := e.prepare(3, func(k int) (*dataset.RGB, error) {
		if k == 1 {
			return nil, errors.New("unreadable")
		}
		return imgs[k], nil
	})
	if errs[1] == nil || errs[0] != nil || errs[2] != nil {
		t.Fatalf("errs = %v", errs)
	}
	if x != old {
		t.Fatal("prepare did not reuse the recycled batch")
	}
	if x.N != 3 || x.C != 3 || x.H != c || x.W != c || len(x.Data) != 3*3*c*c {
		t.Fatalf("batch %dx%dx%dx%d with %d values", x.N, x.C, x.H, x.W, len(x.Data))
	}
	for k := range 3 {
		want := make([]float32, 3*c*c)
		if k != 1 {
			preprocess.Image(imgs[k], pre, want)
		}
		if got := x.Data[k*3*c*c : (k+1)*3*c*c]; !slices.Equal(got, want) {
			t.Errorf("slot %d differs from a fresh preprocessing", k)
		}
	}
}

// gatedNet is the tiny backbone with hooks around Forward: calls counts
// them, active is the number running, and before (when set) runs first with
// the call's number (1, 2, ...).
type gatedNet struct {
	tiny
	calls, active atomic.Int32
	before        func(call int32)
}

func (g *gatedNet) Forward(x *nn.Tensor) ([]*nn.Tensor, error) {
	g.active.Add(1)
	defer g.active.Add(-1)
	n := g.calls.Add(1)
	if g.before != nil {
		g.before(n)
	}
	return g.tiny.Forward(x)
}

// gatedExtractor returns an extractor over g, one image a batch, and the
// training images of a small generated category.
func gatedExtractor(t *testing.T, g *gatedNet) (*Extractor, []string) {
	t.Helper()
	cat := setup(t)
	return &Extractor{Net: g, Preprocess: tinyInfo.Preprocess, Batch: 1}, cat.Train[:4]
}

// TestRunOverlapsTrunkAndConsumer checks that the backbone runs batch i+1
// while the caller still consumes batch i: the callback for the first image
// waits until the backbone has started on the second, which never happens
// if the two run one after the other.
func TestRunOverlapsTrunkAndConsumer(t *testing.T) {
	second := make(chan struct{})
	g := &gatedNet{}
	g.before = func(n int32) {
		if n == 2 {
			close(second)
		}
	}
	e, paths := gatedExtractor(t, g)
	var got []int
	err := e.Run(context.Background(), paths, func(it *Item) error {
		if it.Index == 0 {
			select {
			case <-second:
			case <-time.After(20 * time.Second):
				return errors.New("the backbone did not start on image 1 while image 0 was consumed")
			}
		}
		got = append(got, it.Index)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("images consumed in order %v", got)
	}
}

// TestRunConsumerErrorStopsTrunk checks that when the callback fails, Run
// returns its error only once the backbone has stopped, and that the
// backbone runs no more batches afterwards.
func TestRunConsumerErrorStopsTrunk(t *testing.T) {
	g := &gatedNet{}
	e, paths := gatedExtractor(t, g)
	base := runtime.NumGoroutine()
	boom := errors.New("consumer failed")
	err := e.Run(context.Background(), paths, func(it *Item) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Run returned %v, want the callback's error", err)
	}
	if a := g.active.Load(); a != 0 {
		t.Fatalf("%d backbone calls still running after Run returned", a)
	}
	calls := g.calls.Load()
	if calls > 3 {
		t.Fatalf("%d backbone calls for one consumed image: the trunk ran on too far ahead", calls)
	}
	time.Sleep(50 * time.Millisecond)
	if c := g.calls.Load(); c != calls {
		t.Fatalf("the backbone ran %d more times after Run returned", c-calls)
	}
	waitGoroutines(t, base)
}

// TestRunBackbonePanicReachesCaller checks that a panic in the backbone,
// which runs in Run's trunk goroutine, is raised again in the caller's
// goroutine (where a server's recover can catch it) and leaves no goroutine
// behind.
func TestRunBackbonePanicReachesCaller(t *testing.T) {
	g := &gatedNet{}
	g.before = func(n int32) {
		if n == 2 {
			panic("backbone exploded")
		}
	}
	e, paths := gatedExtractor(t, g)
	base := runtime.NumGoroutine()
	var seen []int
	func() {
		defer func() {
			if r := recover(); r != "backbone exploded" {
				t.Errorf("recovered %v, want the backbone's panic", r)
			}
		}()
		_ = e.Run(context.Background(), paths, func(it *Item) error {
			seen = append(seen, it.Index)
			return nil
		})
		t.Error("Run returned instead of panicking")
	}()
	if len(seen) > 1 {
		t.Errorf("images %v consumed, but the backbone panicked on the second", seen)
	}
	waitGoroutines(t, base)
}

// waitGoroutines fails unless the number of goroutines falls back to at
// most base within a few seconds.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if runtime.NumGoroutine() <= base {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d goroutines left, %d before Run", runtime.NumGoroutine(), base)
}
