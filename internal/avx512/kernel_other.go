//go:build !cgo || !amd64

package avx512

// built: this build has no kernels (they need cgo on amd64).
const built = false

func normsKernel(a []float32, d, tiles int, upper bool, y []float32, p, c0, c1 int, buf []float32, out []float64) {
	panic("avx512: no kernel in this build")
}

func rowNormsKernel(z []float32, ldz, n, p int, acc []float64) {
	panic("avx512: no kernel in this build")
}

func neighbourDotsKernel(z []float32, ldz, n, pc, wc int, g []float64) {
	panic("avx512: no kernel in this build")
}

func resizeRowsKernel(src []float32, lds, wc, n int, ty, tx *Bilinear, h, w int, dst []float32, ldd int, add bool) {
	panic("avx512: no kernel in this build")
}

func packKernel(buf []float64, y []float32, d, k, q int, sum []float64) {
	panic("avx512: no kernel in this build")
}

func gramKernel(buf []float64, d, k int, g []float64, next *int32) {
	panic("avx512: no kernel in this build")
}

func packBKernel(k, n int, b []float32, ldb int, pb []float32, q0, q1 int, cuts []int32) {
	panic("avx512: no kernel in this build")
}

func sgemmKernel(m, n, k int, alpha float32, a []float32, lda int, pb []float32, cuts []int32, beta1 bool, c []float32, ldc int, abuf []float32) {
	panic("avx512: no kernel in this build")
}

func sgemmEpiKernel(m, n, k int, a []float32, lda int, pb []float32, cuts []int32, res []float32, ldr int, bias []float32, relu bool, c []float32, ldc int, abuf []float32, q0, q1 int) {
	panic("avx512: no kernel in this build")
}

func convKernel(m, n int, pb []float32, cuts []int32, x []float32, xstride int, xoff []int64, g []float32, ldg int, tiles []int64,
	res []float32, ldr int, bias []float32, relu bool, c []float32, ldc int, q0, q1 int) {
	panic("avx512: no kernel in this build")
}

func convRowsKernel(m, n int, pb []float32, cuts []int32, x []float32, xoff, rowoff []int64, g []float32, ldg int,
	res []float32, ldr int, bias []float32, relu bool, c []float32, ldc int, q0, q1 int) {
	panic("avx512: no kernel in this build")
}

func poolKernel(s *PoolShape, x, dst []float32, r0, r1 int) {
	panic("avx512: no kernel in this build")
}

func transposeKernel(src []float32, p, c, c0, c1 int, dst []float32, ldd int) {
	panic("avx512: no kernel in this build")
}

func blurKernel(src []float32, lo, hi []int64, g, out []float32) {
	panic("avx512: no kernel in this build")
}

func blendKernel(r, g, b, m []float32, lo, hi, keep float64, heat *[256][3]float64, dst []byte, step int) {
	panic("avx512: no kernel in this build")
}

func resizeKernel(src []float32, w, h int, xs, xn []int32, xw []float32, xstep int,
	ys, yn []int32, yw []float32, ystep int, mean, inv float32, tmp, out []float32) {
	panic("avx512: no kernel in this build")
}

func bilinearKernel(x []float32, n, sh, sw, h, w int, ty, tx *Bilinear, rows, dst []float32) {
	panic("avx512: no kernel in this build")
}

func winoInKernel(g *WinoTiles, x []float32, t0, nt int, v []float32, ldv, es int) {
	panic("avx512: no kernel in this build")
}

func winoOutKernel(g *WinoTiles, m []float32, ldm, es, t0, nt, j0, j1 int, bias []float32, relu bool, res []float32, ldr int, dst []float32, ldd int) {
	panic("avx512: no kernel in this build")
}

func convPlanesKernel(s *PlanesShape, x, w []float32, ldw int, bias []float32, relu bool, out []float32, ldc, r0, r1 int) {
	panic("avx512: no kernel in this build")
}
