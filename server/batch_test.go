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
	b := newBatcher(f, 4, 8, time.Hour, func(n int) { observed = append(observed, n) }, nil)
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
	b := newBatcher(f, 1, 2, time.Millisecond, nil, nil)
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
	b := newBatcher(panicModel{}, 2, 2, time.Millisecond, nil, nil)
	defer b.close()
	j := &job{ctx: context.Background(), img: dataset.NewRGB(1, 1), done: make(chan result, 1)}
	if err := b.submit(j); err != nil {
		t.Fatal(err)
	}
	if r := <-j.done; r.err == nil || r.err.Error() != "scoring failed: boom" {
		t.Fatalf("%+v", r)
	}
}

// TestBatcherExpect: with a one-hour MaxWait, a batch closes as soon as it
// holds the images expected, so a lone client is not kept waiting.
func TestBatcherExpect(t *testing.T) {
	for _, want := range []int{1, 3} {
		f := &fakeModel{score: 1}
		b := newBatcher(f, 8, 8, time.Hour, nil, func() int { return want })
		var jobs []*job
		for range want {
			j := &job{ctx: context.Background(), img: dataset.NewRGB(2, 2), done: make(chan result, 1)}
			jobs = append(jobs, j)
			if err := b.submit(j); err != nil {
				t.Fatal(err)
			}
		}
		for i, j := range jobs {
			select {
			case r := <-j.done:
				if r.err != nil {
					t.Fatal(r.err)
				}
			case <-time.After(time.Minute): // a hang guard: the batch would wait an hour
				t.Fatalf("expect %d: job %d not answered; batches so far %v", want, i, f.sizes())
			}
		}
		b.close()
		if got := f.sizes(); len(got) == 0 || got[0] > want || slices.Max(got) > want {
			t.Errorf("expect %d: batches %v", want, got)
		}
	}
}

// TestExpectCountsAdmitted: the station's expectation is the most requests
// admitted at once since the previous batch began.
func TestExpectCountsAdmitted(t *testing.T) {
	st := &station{slots: make(chan struct{}, 10)}
	var rel []func()
	for range 5 {
		r, err := st.admit()
		if err != nil {
			t.Fatal(err)
		}
		rel = append(rel, r)
	}
	for _, r := range rel[:3] {
		r()
	}
	if got := st.expect(); got != 5 {
		t.Errorf("expect after 5 admitted, 3 released: %d, want 5", got)
	}
	if got := st.expect(); got != 2 {
		t.Errorf("expect again: %d, want the 2 still admitted", got)
	}
}
