// Package parallel is crd's one parallel loop: a range [0, n) split into
// contiguous parts, run on up to runtime.GOMAXPROCS(0) goroutines.
//
// For is the general form; it starts goroutines on each call. Run is the
// allocation-free form for hot paths (the AVX-512 kernels, the kNN coreset
// sweep): tasks prepared by the caller, run on a pool of long-lived workers.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Workers is the number of goroutines For uses for n units of work with at
// most limit of them (limit <= 0: no limit): min(GOMAXPROCS, n, limit), and
// at least 1.
func Workers(n, limit int) int {
	w := min(runtime.GOMAXPROCS(0), n)
	if limit > 0 {
		w = min(w, limit)
	}
	return max(w, 1)
}

// For splits [0, n) into w = Workers(n, limit) contiguous ranges, part i
// being [i n / w, (i+1) n / w), and runs f on each: part 0 on the calling
// goroutine, the others on their own goroutines. It returns when all are
// done. With one part (or n <= 0) it calls f(0, n) directly, or nothing.
func For(n, limit int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	w := Workers(n, limit)
	if w == 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < w; i++ {
		lo, hi := i*n/w, (i+1)*n/w
		wg.Go(func() { f(lo, hi) })
	}
	f(0, n/w)
	wg.Wait()
}

// Task is one part of a Run call.
type Task interface{ Run() }

// Run runs the tasks, all but the first on the worker pool and the first
// on the calling goroutine, and returns when all are done. wg must be
// unused by others during the call; keeping it, and the tasks, in a
// caller's reused scratch makes a call allocation-free. The pool has
// GOMAXPROCS - 1 workers (at least len(tasks) - 1), started on first use
// and added to as needed. A task must not call Run itself.
func Run[T any, P interface {
	*T
	Task
}](wg *sync.WaitGroup, tasks []T) {
	if len(tasks) == 0 {
		return
	}
	startWorkers(len(tasks) - 1)
	wg.Add(len(tasks) - 1)
	for i := 1; i < len(tasks); i++ {
		work <- job{P(&tasks[i]), wg}
	}
	P(&tasks[0]).Run()
	wg.Wait()
}

type job struct {
	t  Task
	wg *sync.WaitGroup
}

var (
	work    = make(chan job)
	started atomic.Int32 // workers started
	startMu sync.Mutex
)

// startWorkers makes sure the pool has at least max(GOMAXPROCS - 1, n)
// workers.
func startWorkers(n int) {
	want := int32(max(runtime.GOMAXPROCS(0)-1, n))
	if started.Load() >= want {
		return
	}
	startMu.Lock()
	defer startMu.Unlock()
	for started.Load() < want {
		started.Add(1)
		go func() {
			for j := range work {
				j.t.Run()
				j.wg.Done()
			}
		}()
	}
}
