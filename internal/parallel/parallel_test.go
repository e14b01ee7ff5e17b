package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestFor: every index is visited exactly once, in the documented
// contiguous parts, for n around the worker count and with limits.
func TestFor(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 3, 7, 100, 1001} {
		for _, limit := range []int{0, 1, 2, 5} {
			seen := make([]int32, n)
			var parts atomic.Int32
			For(n, limit, func(lo, hi int) {
				parts.Add(1)
				w := Workers(n, limit)
				i := 0 // the part that starts at lo
				for i < w && i*n/w < lo {
					i++
				}
				if i == w || lo != i*n/w || hi != (i+1)*n/w {
					t.Errorf("n=%d limit=%d: range [%d, %d) is not part %d of %d", n, limit, lo, hi, i, w)
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
				want = int32(Workers(n, limit))
			}
			if parts.Load() != want {
				t.Fatalf("n=%d limit=%d: %d parts, want %d", n, limit, parts.Load(), want)
			}
		}
	}
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
			var wg sync.WaitGroup
			for range 10 {
				Run(&wg, tasks)
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
