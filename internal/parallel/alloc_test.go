//go:build !race

package parallel

import (
	"sync"
	"testing"
)

// TestRunAllocs: a steady-state Run call does not allocate (the race
// detector's instrumentation does, hence the build tag).
func TestRunAllocs(t *testing.T) {
	out := make([]int64, 2)
	tasks := []addTask{{&out, 0}, {&out, 1}}
	var wg sync.WaitGroup
	Run(&wg, tasks)
	if a := testing.AllocsPerRun(100, func() { Run(&wg, tasks) }); a != 0 {
		t.Errorf("Run allocates %v times per call", a)
	}
}
