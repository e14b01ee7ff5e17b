//go:build !cgo || !amd64

package fused

// Available reports whether Norms runs here: this build has no
// kernel (it needs cgo on amd64).
var Available = false

func kernel(a []float32, d, tiles int, upper bool, y []float32, p, c0, c1 int, buf []float32, out []float64) {
	panic("fused: no kernel in this build")
}

func packKernel(buf []float64, y []float32, d, k, q int, sum []float64) {
	panic("fused: no kernel in this build")
}

func gramKernel(buf []float64, d, k int, g []float64, next *int32) {
	panic("fused: no kernel in this build")
}

// PeakFlops needs the AVX-512 kernels; see the cgo build.
func PeakFlops(n int) float64 {
	panic("fused: no AVX-512 kernel in this build")
}

const sgemmABuf = 0

const sgemmPanel = 1

const sgemmRowTile = 1

func packBKernel(k, n int, b []float32, ldb int, pb []float32, q0, q1 int) {
	panic("fused: no kernel in this build")
}

func sgemmKernel(m, n, k int, alpha float32, a []float32, lda int, pb []float32, beta1 bool, c []float32, ldc int, abuf []float32) {
	panic("fused: no kernel in this build")
}
