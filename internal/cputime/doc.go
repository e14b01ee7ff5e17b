// Package cputime reads the CPU time the process has used, for timings
// that waiting for a core on a shared machine should not inflate.
package cputime
