//go:build cgo && amd64

package peak

/*
#cgo CFLAGS: -O3
#include "peak.h"
*/
import "C"

func loop(rounds int) { C.crd_peak(C.long(rounds)) }
