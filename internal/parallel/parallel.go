// Package parallel is crd's one parallel loop: a range [0, n) split into
// contiguous chunks that up to runtime.GOMAXPROCS(0) goroutines take one at
// a time, so that a core slowed by other work ends up with fewer of them
// instead of holding everyone up.
//
// For is the general form; it starts goroutines on each call. Run is the
// allocation-free form for hot paths (the AVX-512 kernels, the kNN coreset
// sweep): tasks prepared by the caller, handed to a pool of long-lived
// workers as they become free.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ChunksPerWorker is how many chunks For cuts the range into per goroutine,
// and how many tasks a caller of Run should prepare per worker: enough that
// when one core runs at a fraction of its speed (another process on it),
// the others take over its share, a chunk at a time.
const ChunksPerWorker = 4

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

// Chunks is the number of chunks For cuts n units into for w goroutines:
// min(n, w ChunksPerWorker), or 1 when w is 1.
func Chunks(n, w int) int {
	if w <= 1 {
		return 1
	}
	return max(min(n, w*ChunksPerWorker), 1)
}

// For cuts [0, n) into c = Chunks(n, Workers(n, limit)) contiguous chunks,
// chunk i being [i n / c, (i+1) n / c), and calls f once on each, from
// Workers(n, limit) goroutines (the calling one and others started for the
// call) that each take the next chunk not yet taken until none is left. It
// returns when all are done. With one goroutine (or n <= 0) it calls
// f(0, n) directly, or nothing. f must not depend on which goroutine runs
// a chunk, nor on the order of the chunks.
func For(n, limit int, f func(lo, hi int)) {
	if n <= 0 {
		return
	}
	w := Workers(n, limit)
	if w == 1 {
		f(0, n)
		return
	}
	c := Chunks(n, w)
	var next atomic.Int32
	take := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= c {
				return
			}
			f(i*n/c, (i+1)*n/c)
		}
	}
	var wg sync.WaitGroup
	for i := 1; i < w; i++ {
		wg.Go(take)
	}
	take()
	wg.Wait()
}

// Task is one part of a Run call.
type Task interface{ Run() }

// Run runs each of the tasks once and returns when all are done. The
// calling goroutine and the workers of the pool (up to GOMAXPROCS - 1 of
// them, started on first use) each take the next task not yet taken until
// none is left, so a worker slowed by other work on its core takes fewer,
// and one that does not get to run before the tasks are gone is not waited
// for: prepare several tasks per worker (ChunksPerWorker) of about even
// size. Keeping
// the tasks in a caller's reused scratch makes a call allocation-free. A
// task must not call Run itself.
func Run[T any, P interface {
	*T
	Task
}](tasks []T) {
	helpers := min(runtime.GOMAXPROCS(0), len(tasks)) - 1
	if helpers <= 0 {
		for i := range tasks {
			P(&tasks[i]).Run()
		}
		return
	}
	b := batches.Get()
	if cap(b.tasks) < len(tasks) {
		b.tasks = make([]Task, 0, len(tasks))
	}
	for i := range tasks {
		b.tasks = append(b.tasks, P(&tasks[i]))
	}
	b.next.Store(0)
	b.left.Store(int32(len(tasks)))
	b.done.Add(len(tasks))
	b.refs.Store(int32(1 + helpers))
	startWorkers(helpers)
	for range helpers {
		work <- b
	}
	b.take()
	b.wait()
	b.release()
}

// spinFor is how long a goroutine of Run looks for work, or for its batch's
// last task to finish, before it blocks. Waking a blocked goroutine costs
// tens of microseconds on a virtual machine (17-33 us measured on the
// 2-core KVM guests crd is developed on), as long as a small convolution's
// share of a core, and a trunk at batch 1 runs a few hundred Run calls an
// image back to back; a short spin keeps the workers awake between them and
// gives the CPU back soon when no work follows.
const spinFor = 50 * time.Microsecond

// wait returns when every task of b is done: it spins for up to spinFor
// (yielding to other goroutines) before it blocks.
func (b *batch) wait() {
	if b.left.Load() > 0 {
		for start := time.Now(); b.left.Load() > 0 && time.Since(start) < spinFor; {
			runtime.Gosched()
		}
	}
	b.done.Wait()
}

// batch is the state of one Run call, shared by the caller and the workers
// it asked for help; the last of them to let go of it returns it to the
// free list.
type batch struct {
	tasks []Task
	next  atomic.Int32   // the next task to take
	done  sync.WaitGroup // one count per task not done
	left  atomic.Int32   // the same count, for wait's spin
	refs  atomic.Int32   // the caller and the workers not yet done with it
}

// take runs the next task not yet taken until none is left.
func (b *batch) take() {
	for {
		i := int(b.next.Add(1)) - 1
		if i >= len(b.tasks) {
			return
		}
		b.tasks[i].Run()
		b.left.Add(-1)
		b.done.Done()
	}
}

// release lets go of b, putting it back on the free list when nobody else
// holds it.
func (b *batch) release() {
	if b.refs.Add(-1) > 0 {
		return
	}
	clear(b.tasks) // the caller's tasks
	b.tasks = b.tasks[:0]
	batches.Put(b)
}

// workQueue is the capacity of the queue of batches waiting for a worker:
// enough that a Run call does not wait for workers busy with other calls'
// tasks (they pick its batch up later, often to find it done).
const workQueue = 64

var (
	work    = make(chan *batch, workQueue)
	started atomic.Int32 // workers started
	startMu sync.Mutex
	batches FreeList[batch]
)

// worker runs the batches of the work queue, spinning for up to spinFor
// (yielding to other goroutines) for the next one before it blocks.
func worker() {
	for {
		var b *batch
	spin:
		for start := time.Now(); time.Since(start) < spinFor; {
			select {
			case b = <-work:
				break spin
			default:
				runtime.Gosched()
			}
		}
		if b == nil {
			b = <-work
		}
		b.take()
		b.release()
	}
}

// startWorkers makes sure the pool has at least n workers.
func startWorkers(n int) {
	want := int32(n)
	if started.Load() >= want {
		return
	}
	startMu.Lock()
	defer startMu.Unlock()
	for started.Load() < want {
		started.Add(1)
		go worker()
	}
}
