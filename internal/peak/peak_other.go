//go:build !cgo || !amd64

package peak

func loop(rounds int) { panic("peak: no AVX-512 kernel in this build") }
