//go:build !unix

package backbone

import "time"

// cpuTime is 0: the process's CPU time is not read on this system.
func cpuTime() time.Duration { return 0 }
