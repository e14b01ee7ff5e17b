package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFor: every index is visited exactly once, in the documented
// contiguous chunks, for n around the worker count and with limits.
func TestFor(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 3, 7, 100, 1001} {
		for _, limit := range []int{0, 1, 2, 5} {
			seen := make([]int32, n)
			var chunks atomic.Int32
			c := Chunks(n, Workers(n, limit))
			For(n, limit, func(lo, hi int) {
				chunks.Add(1)
				i := 0 // the chunk that starts at lo
				for i < c && i*n/c < lo {
					i++
				}
				if i == c || lo != i*n/c || hi != (i+1)*n/c {
					t.Errorf("n=%d limit=%d: range [%d, %d) is not chunk %d of %d", n, limit, lo, hi, i, c)
				}
				for j := lo; j < hi; j++ {
					atomic.AddInt32(&seen[j], 1)
				}
			})
			for j, c := range seen {
				if c != 1 {
					t.Fatalf("n=%d limit=%d: index %d visited %d times", n, limit, j, c)
				}
			}
			want := int32(0)
			if n > 0 {
				want = int32(c)
			}
			if chunks.Load() != want {
				t.Fatalf("n=%d limit=%d: %d chunks, want %d", n, limit, chunks.Load(), want)
			}
		}
	}
}

// TestForSlowWorker: when one goroutine is held up in its first chunk, the
// others take all the remaining chunks (the point of handing them out one
// at a time). Needs GOMAXPROCS >= 2.
func TestForSlowWorker(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS >= 2")
	}
	n := 2 * ChunksPerWorker
	release := make(chan struct{})
	var done atomic.Int32
	var held atomic.Bool
	For(n, 2, func(lo, hi int) {
		if held.CompareAndSwap(false, true) {
			// The first chunk waits until every other chunk is done.
			waitFor(t, &done, int32(Chunks(n, 2)-1))
			close(release)
			return
		}
		done.Add(1)
	})
	<-release
}

func TestWorkers(t *testing.T) {
	t.Parallel()
	p := runtime.GOMAXPROCS(0)
	for _, c := range []struct{ n, limit, want int }{
		{0, 0, 1}, {1, 0, 1}, {1 << 20, 0, p}, {1 << 20, 1, 1}, {3, 2, min(p, 2)}, {2, 100, min(p, 2)},
	} {
		if got := Workers(c.n, c.limit); got != c.want {
			t.Errorf("Workers(%d, %d) = %d, want %d", c.n, c.limit, got, c.want)
		}
	}
}

type addTask struct {
	out *[]int64
	i   int
}

func (a *addTask) Run() { (*a.out)[a.i] += int64(a.i) + 1 }

// TestRun: each task runs once per call, also with more tasks than the
// pool has workers and from several goroutines at once.
func TestRun(t *testing.T) {
	t.Parallel()
	var callers sync.WaitGroup
	for c := 0; c < 4; c++ {
		callers.Go(func() {
			n := 3*runtime.GOMAXPROCS(0) + c
			out := make([]int64, n)
			tasks := make([]addTask, n)
			for i := range tasks {
				tasks[i] = addTask{&out, i}
			}
			for range 10 {
				Run(tasks)
			}
			for i, v := range out {
				if v != 10*int64(i+1) {
					t.Errorf("caller %d: task %d ran %d times", c, i, v/int64(i+1))
				}
			}
		})
	}
	callers.Wait()
}

// waitFor waits until c reaches want, failing the test after a minute (the
// others never took the work).
func waitFor(t *testing.T, c *atomic.Int32, want int32) {
	t.Helper()
	for start := time.Now(); c.Load() < want; runtime.Gosched() {
		if time.Since(start) > time.Minute {
			t.Errorf("%d of %d units done by the others", c.Load(), want)
			return
		}
	}
}

type holdTask struct {
	held *atomic.Bool
	done *atomic.Int32
	n    int32
}

// Run: the first task to start waits for all the others.
func (h *holdTask) Run() {
	if h.held.CompareAndSwap(false, true) {
		for start := time.Now(); h.done.Load() < h.n-1; runtime.Gosched() {
			if time.Since(start) > time.Minute {
				panic("the other tasks were not run while one was held up")
			}
		}
		return
	}
	h.done.Add(1)
}

// TestRunSlowWorker: while one task holds up its goroutine, the others run
// all the remaining tasks. Needs GOMAXPROCS >= 2.
func TestRunSlowWorker(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs GOMAXPROCS >= 2")
	}
	t.Parallel()
	var held atomic.Bool
	var done atomic.Int32
	n := 3*runtime.GOMAXPROCS(0) + 1
	tasks := make([]holdTask, n)
	for i := range tasks {
		tasks[i] = holdTask{&held, &done, int32(n)}
	}
	Run(tasks)
	if done.Load() != int32(n-1) {
		t.Errorf("%d tasks done, want %d", done.Load(), n-1)
	}
}
