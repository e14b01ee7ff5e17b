package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/crd-ad/crd/dataset"
)

var (
	// errQueueFull is returned when a model's queue holds QueueSize images.
	errQueueFull = errors.New("the model's queue is full")
	// errRetired is returned by a batcher whose model was replaced; the
	// caller retries on the new one.
	errRetired = errors.New("model was replaced")
)

// job is one image waiting for its verdict.
type job struct {
	ctx  context.Context
	img  *dataset.RGB
	done chan result // buffered: the batcher never blocks on it
}

type result struct {
	v   *verdict
	err error
}

// batcher gathers the images of concurrent requests into backbone batches:
// a batch starts with the first queued image and takes what arrives within
// maxWait, up to maxBatch images. It waits only as long as more images are
// expected: expect (when set) says how many requests were about at once
// since the last batch began, so a lone client is never kept waiting, while
// 8 closed-loop clients are gathered into one batch instead of settling into
// two alternating half batches. One goroutine runs the model, so the
// backbone (not safe for concurrent use) is never shared.
type batcher struct {
	m        model
	maxBatch int
	maxWait  time.Duration
	onBatch  func(n int)
	expect   func() int

	mu      sync.RWMutex // guards closed against sends on a closed queue
	closed  bool
	queue   chan *job
	stopped chan struct{}
}

func newBatcher(m model, maxBatch, queueSize int, maxWait time.Duration, onBatch func(int), expect func() int) *batcher {
	b := &batcher{m: m, maxBatch: max(maxBatch, 1), maxWait: maxWait, onBatch: onBatch, expect: expect,
		queue: make(chan *job, max(queueSize, 1)), stopped: make(chan struct{})}
	go b.run()
	return b
}

// submit queues j without blocking.
func (b *batcher) submit(j *job) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return errRetired
	}
	select {
	case b.queue <- j:
		return nil
	default:
		return errQueueFull
	}
}

// queued is the number of images waiting.
func (b *batcher) queued() int { return len(b.queue) }

// close stops taking images and waits until the queued ones are scored.
func (b *batcher) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	<-b.stopped
}

func (b *batcher) run() {
	defer close(b.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for first := range b.queue {
		batch := []*job{first}
		want := b.maxBatch
		if b.expect != nil {
			want = min(max(b.expect(), 1), b.maxBatch)
		}
		timer.Reset(b.maxWait)
	gather:
		for len(batch) < b.maxBatch {
			if len(batch) >= want { // nobody else expected: take what is queued, no waiting
				select {
				case j, ok := <-b.queue:
					if !ok {
						break gather
					}
					batch = append(batch, j)
					continue
				default:
					break gather
				}
			}
			select {
			case j, ok := <-b.queue:
				if !ok {
					break gather
				}
				batch = append(batch, j)
			case <-timer.C:
				break gather
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		b.process(batch)
	}
}

// process scores the batch's live jobs; a job whose request has gone gets
// its context's error.
func (b *batcher) process(batch []*job) {
	live := batch[:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.done <- result{err: err}
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	imgs := make([]*dataset.RGB, len(live))
	for k, j := range live {
		imgs[k] = j.img
	}
	vs, err := b.predict(imgs)
	if b.onBatch != nil {
		b.onBatch(len(live))
	}
	for k, j := range live {
		if err != nil {
			j.done <- result{err: err}
		} else {
			j.done <- result{v: vs[k]}
		}
	}
}

// predict runs the model, turning a panic into an error so that one bad
// batch does not take the service down.
func (b *batcher) predict(imgs []*dataset.RGB) (vs []*verdict, err error) {
	defer func() {
		if p := recover(); p != nil {
			vs, err = nil, fmt.Errorf("scoring failed: %v", p)
		}
	}()
	vs, err = b.m.predictImages(context.Background(), imgs)
	if err == nil && len(vs) != len(imgs) {
		err = fmt.Errorf("model returned %d verdicts for %d images", len(vs), len(imgs))
	}
	return vs, err
}
