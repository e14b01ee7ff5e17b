//go:build !race

package parallel

import (
	"runtime"
	"testing"
)

// TestRunAllocs: a steady-state Run call does not allocate (the race
// detector's instrumentation does, hence the build tag). AllocsPerRun runs
// with GOMAXPROCS 1, where the calling goroutine runs every task; with
// workers, the only allocations are of batches for calls whose workers
// have not yet let go of the earlier ones, which a pool of them absorbs: at
// most one batch (and its task list) for each that can be in flight at
// once, whatever the number of calls (and a few of the runtime's own, for
// goroutines that block).
func TestRunAllocs(t *testing.T) {
	out := make([]int64, 2)
	tasks := []addTask{{&out, 0}, {&out, 1}}
	Run(tasks)
	if a := testing.AllocsPerRun(100, func() { Run(tasks) }); a != 0 {
		t.Errorf("Run allocates %v times per call on one core", a)
	}

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 2)))
	const calls = 2000
	inFlight := 1 + workQueue + runtime.GOMAXPROCS(0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range calls {
		Run(tasks)
	}
	runtime.ReadMemStats(&after)
	if a, most := after.Mallocs-before.Mallocs, uint64(2*inFlight+32); a > most {
		t.Errorf("Run allocates %d times in %d calls with workers, at most %d expected", a, calls, most)
	}
}
