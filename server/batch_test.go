package server

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/crd-ad/crd/dataset"
)

func TestBatcherGathers(t *testing.T) {
	gate := make(chan struct{})
	f := &fakeModel{score: 1, gate: gate}
	var observed []int
	b := newBatcher(f, 4, 8, time.Hour, func(n int) { observed = append(observed, n) })
	img := dataset.NewRGB(4, 4)
	jobs := make([]*job, 7)
	for i := range jobs {
		jobs[i] = &job{ctx: context.Background(), img: img, done: make(chan result, 1)}
	}
	// The first job starts a batch that waits for more; with a one-hour
	// MaxWait it closes only when full.
	for _, j := range jobs[:4] {
		if err := b.submit(j); err != nil {
			t.Fatal(err)
		}
	}
	for f.waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	// While the backbone is busy, the next three wait in the queue; a
	// cancelled one is answered with its context's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	jobs[6].ctx = ctx
	for _, j := range jobs[4:] {
		if err := b.submit(j); err != nil {
			t.Fatal(err)
		}
	}
	close(gate)
	b.close() // drains: the last batch is taken from a closed queue
	for i, j := range jobs {
		r := <-j.done
		if i == 6 {
			if !errors.Is(r.err, context.Canceled) {
				t.Errorf("cancelled job: %v", r.err)
			}
			continue
		}
		if r.err != nil || r.v.Score != 1 {
			t.Errorf("job %d: %+v", i, r)
		}
	}
	if got := f.sizes(); !slices.Equal(got, []int{4, 2}) || !slices.Equal(observed, got) {
		t.Errorf("batches %v (observed %v), want [4 2]", got, observed)
	}
	if err := b.submit(jobs[0]); !errors.Is(err, errRetired) {
		t.Errorf("submit after close: %v", err)
	}
}

func TestBatcherQueueFull(t *testing.T) {
	gate := make(chan struct{})
	f := &fakeModel{gate: gate}
	b := newBatcher(f, 1, 2, time.Millisecond, nil)
	defer b.close()
	defer close(gate)
	img := dataset.NewRGB(4, 4)
	submit := func() error {
		return b.submit(&job{ctx: context.Background(), img: img, done: make(chan result, 1)})
	}
	if err := submit(); err != nil {
		t.Fatal(err)
	}
	for f.waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 2; i++ {
		if err := submit(); err != nil {
			t.Fatalf("queued job %d: %v", i, err)
		}
	}
	if err := submit(); !errors.Is(err, errQueueFull) {
		t.Fatalf("a third queued job: %v, want errQueueFull", err)
	}
}

// panicModel fails in the middle of a batch.
type panicModel struct{}

func (panicModel) predictImages(context.Context, []*dataset.RGB) ([]*verdict, error) { panic("boom") }

func TestBatcherPanic(t *testing.T) {
	b := newBatcher(panicModel{}, 2, 2, time.Millisecond, nil)
	defer b.close()
	j := &job{ctx: context.Background(), img: dataset.NewRGB(1, 1), done: make(chan result, 1)}
	if err := b.submit(j); err != nil {
		t.Fatal(err)
	}
	if r := <-j.done; r.err == nil || r.err.Error() != "scoring failed: boom" {
		t.Fatalf("%+v", r)
	}
}
