//go:build cgo && amd64

package avx512

// The C kernels are in norms.c, gram.c, sgemm.c and pool.c; avx512.h
// documents each with the plain loop it computes.

/*
#cgo CFLAGS: -O3
#include "avx512.h"
*/
import "C"

import "unsafe"

// built: this build has the kernels.
const built = true

// The tile sizes are defined once for C (avx512.h) and once for Go; these
// arrays have a negative length, and the build fails, if the two differ.
var (
	_ [C.MR - MR]struct{}
	_ [MR - C.MR]struct{}
	_ [C.NR - NR]struct{}
	_ [NR - C.NR]struct{}
	_ [C.GN - GN]struct{}
	_ [GN - C.GN]struct{}
	_ [C.CPN - PlanesOut]struct{}
	_ [PlanesOut - C.CPN]struct{}
	_ [C.SMR - sgemmRowTile]struct{}
	_ [sgemmRowTile - C.SMR]struct{}
	_ [C.SNR - sgemmPanel]struct{}
	_ [sgemmPanel - C.SNR]struct{}
	_ [C.SMR*C.SKC - sgemmABuf]struct{}
	_ [sgemmABuf - C.SMR*C.SKC]struct{}
)

// normsKernel adds the scores of columns [c0, c1) of y to out[:c1-c0],
// using buf (enough for the packed columns) as scratch.
func normsKernel(a []float32, d, tiles int, upper bool, y []float32, p, c0, c1 int, buf []float32, out []float64) {
	up := C.int(0)
	if upper {
		up = 1
	}
	C.crd_norms((*C.float)(unsafe.Pointer(&a[0])), C.int(d), C.int(tiles), up, (*C.float)(unsafe.Pointer(&y[0])),
		C.int(p), C.int(c0), C.int(c1), (*C.float)(unsafe.Pointer(&buf[0])), (*C.double)(unsafe.Pointer(&out[0])))
}

// rowNormsKernel runs crd_row_norms.
func rowNormsKernel(z []float32, ldz, n, p int, acc []float64) {
	C.crd_row_norms(floatPtr(z), C.long(ldz), C.int(n), C.int(p), (*C.double)(unsafe.Pointer(&acc[0])))
}

// neighbourDotsKernel runs crd_neighbour_dots.
func neighbourDotsKernel(z []float32, ldz, n, pc, wc int, g []float64) {
	C.crd_neighbour_dots(floatPtr(z), C.long(ldz), C.int(n), C.int(pc), C.int(wc), (*C.double)(unsafe.Pointer(&g[0])))
}

// resizeRowsKernel runs crd_resize_rows.
func resizeRowsKernel(src []float32, lds, wc, n int, ty, tx *Bilinear, h, w int, dst []float32, ldd int, add bool) {
	ip := func(s []int32) *C.int { return (*C.int)(unsafe.Pointer(&s[0])) }
	a := C.int(0)
	if add {
		a = 1
	}
	C.crd_resize_rows(floatPtr(src), C.long(lds), C.int(wc), C.int(n), ip(ty.I0), ip(ty.I1), floatPtr(ty.W0), floatPtr(ty.W1),
		ip(tx.I0), ip(tx.I1), floatPtr(tx.W0), floatPtr(tx.W1), C.int(h), C.int(w), floatPtr(dst), C.long(ldd), a)
}

// packKernel is PackPanel for a full panel (features [q GN, q GN + GN)
// all below d).
func packKernel(buf []float64, y []float32, d, k, q int, sum []float64) {
	C.crd_pack((*C.double)(unsafe.Pointer(&buf[q*k*GN])), (*C.float)(unsafe.Pointer(&y[q*GN*k])), C.long(k), (*C.double)(unsafe.Pointer(&sum[q*GN])))
}

// gramKernel runs blocks of GramUpper until none is left; next (shared by
// the callers of one GramUpper) counts the blocks taken.
func gramKernel(buf []float64, d, k int, g []float64, next *int32) {
	C.crd_gram((*C.double)(unsafe.Pointer(&buf[0])), C.int(d), C.long(k), (*C.double)(unsafe.Pointer(&g[0])), (*C.int)(unsafe.Pointer(next)))
}

// cutsPtr is the C view of a PackedB's part boundaries (NULL: parts of
// SKC) and their number of parts.
func cutsPtr(cuts []int32) (*C.int, C.int) {
	if cuts == nil {
		return nil, 0
	}
	return (*C.int)(unsafe.Pointer(&cuts[0])), C.int(len(cuts) - 1)
}

// packBKernel packs panels [q0, q1) of the k x n matrix b into pb, in the
// parts cuts.
func packBKernel(k, n int, b []float32, ldb int, pb []float32, q0, q1 int, cuts []int32) {
	pk, np := cutsPtr(cuts)
	C.crd_packb(C.int(k), C.int(n), (*C.float)(unsafe.Pointer(&b[0])), C.long(ldb), (*C.float)(unsafe.Pointer(&pb[0])), C.int(q0), C.int(q1), pk, np)
}

// sgemmKernel runs crd_sgemm_epi on m rows, with no epilogue.
func sgemmKernel(m, n, k int, alpha float32, a []float32, lda int, pb []float32, cuts []int32, beta1 bool, c []float32, ldc int, abuf []float32) {
	var beta C.int
	if beta1 {
		beta = 1
	}
	pk, np := cutsPtr(cuts)
	C.crd_sgemm_epi(C.int(m), C.int(n), C.int(k), C.float(alpha), (*C.float)(unsafe.Pointer(&a[0])), C.long(lda),
		(*C.float)(unsafe.Pointer(&pb[0])), pk, np, beta, nil, 0, nil, 0, (*C.float)(unsafe.Pointer(&c[0])), C.long(ldc),
		(*C.float)(unsafe.Pointer(&abuf[0])), 0, -1)
}

// floatPtr is &s[0] for C, or NULL for an empty slice.
func floatPtr(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func cBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// sgemmEpiKernel runs crd_sgemm_epi on m rows (alpha = 1) and panels [q0,
// q1): C = A B + res (res nil: nothing), + bias (nil: none), ReLU when relu.
func sgemmEpiKernel(m, n, k int, a []float32, lda int, pb []float32, cuts []int32, res []float32, ldr int, bias []float32, relu bool, c []float32, ldc int, abuf []float32, q0, q1 int) {
	pk, np := cutsPtr(cuts)
	C.crd_sgemm_epi(C.int(m), C.int(n), C.int(k), 1, (*C.float)(unsafe.Pointer(&a[0])), C.long(lda),
		(*C.float)(unsafe.Pointer(&pb[0])), pk, np, 0, floatPtr(res), C.long(ldr), floatPtr(bias), cBool(relu),
		(*C.float)(unsafe.Pointer(&c[0])), C.long(ldc), (*C.float)(unsafe.Pointer(&abuf[0])), C.int(q0), C.int(q1))
}

// convKernel runs crd_sgemm_conv on m rows and panels [q0, q1); cuts are
// the part boundaries (not nil).
func convKernel(m, n int, pb []float32, cuts []int32, x []float32, xstride int, xoff []int64, g []float32, ldg int, tiles []int64,
	res []float32, ldr int, bias []float32, relu bool, c []float32, ldc int, q0, q1 int) {
	pk, np := cutsPtr(cuts)
	C.crd_sgemm_conv(C.int(m), C.int(n), (*C.float)(unsafe.Pointer(&pb[0])), pk, np, floatPtr(x), C.long(xstride),
		(*C.long)(unsafe.Pointer(&xoff[0])), floatPtr(g), C.long(ldg), (*C.long)(unsafe.Pointer(&tiles[0])),
		floatPtr(res), C.long(ldr), floatPtr(bias), cBool(relu), (*C.float)(unsafe.Pointer(&c[0])), C.long(ldc), C.int(q0), C.int(q1))
}

// convRowsKernel runs crd_sgemm_rows on m rows and panels [q0, q1); cuts
// are the part boundaries (not nil).
func convRowsKernel(m, n int, pb []float32, cuts []int32, x []float32, xoff, rowoff []int64, g []float32, ldg int,
	res []float32, ldr int, bias []float32, relu bool, c []float32, ldc int, q0, q1 int) {
	pk, np := cutsPtr(cuts)
	C.crd_sgemm_rows(C.int(m), C.int(n), (*C.float)(unsafe.Pointer(&pb[0])), pk, np, floatPtr(x),
		(*C.long)(unsafe.Pointer(&xoff[0])), (*C.long)(unsafe.Pointer(&rowoff[0])),
		floatPtr(g), C.long(ldg), floatPtr(res), C.long(ldr), floatPtr(bias), cBool(relu), (*C.float)(unsafe.Pointer(&c[0])), C.long(ldc), C.int(q0), C.int(q1))
}

var (
	_ [C.CRD_POOL_MAX - int(PoolMax)]struct{}
	_ [int(PoolMax) - C.CRD_POOL_MAX]struct{}
	_ [C.CRD_POOL_AVG_INCLUDE - int(PoolAvgInclude)]struct{}
	_ [int(PoolAvgInclude) - C.CRD_POOL_AVG_INCLUDE]struct{}
	_ [C.CRD_POOL_AVG_EXCLUDE - int(PoolAvgExclude)]struct{}
	_ [int(PoolAvgExclude) - C.CRD_POOL_AVG_EXCLUDE]struct{}
)

// poolKernel runs crd_pool on rows [r0, r1).
func poolKernel(s *PoolShape, x, dst []float32, r0, r1 int) {
	cs := C.struct_crd_pool_shape{h: C.int(s.H), w: C.int(s.W), c: C.int(s.C), oh: C.int(s.OutH), ow: C.int(s.OutW),
		kh: C.int(s.KH), kw: C.int(s.KW), sh: C.int(s.StrideH), sw: C.int(s.StrideW),
		pt: C.int(s.PadTop), pl: C.int(s.PadLeft), pb: C.int(s.PadBottom), pr: C.int(s.PadRight), kind: C.int(s.Kind),
		ldo: C.long(s.outStride())}
	var bias *C.float
	if s.Bias != nil {
		bias = floatPtr(s.Bias)
	}
	relu := C.int(0)
	if s.ReLU {
		relu = 1
	}
	C.crd_pool((*C.float)(unsafe.Pointer(&x[0])), &cs, (*C.float)(unsafe.Pointer(&dst[0])), C.int(r0), C.int(r1), bias, relu)
}

// transposeKernel runs crd_transpose.
func transposeKernel(src []float32, p, c, c0, c1 int, dst []float32, ldd int) {
	C.crd_transpose((*C.float)(unsafe.Pointer(&src[0])), C.int(p), C.int(c), C.int(c0), C.int(c1),
		(*C.float)(unsafe.Pointer(&dst[0])), C.long(ldd))
}

// convPlanesKernel runs crd_conv_planes.
func convPlanesKernel(s *PlanesShape, x, w []float32, ldw int, bias []float32, relu bool, out []float32, ldc, r0, r1 int) {
	r := C.int(0)
	if relu {
		r = 1
	}
	C.crd_conv_planes(floatPtr(x), C.int(s.C), C.int(s.H), C.int(s.W), C.int(s.KH), C.int(s.KW), C.int(s.Stride),
		C.int(s.OutH), C.int(s.OutW), floatPtr(w), C.long(ldw), floatPtr(bias), r, floatPtr(out), C.long(ldc), C.int(r0), C.int(r1))
}

// blurKernel runs crd_blur_sum.
func blurKernel(src []float32, lo, hi []int64, g, out []float32) {
	C.crd_blur_sum((*C.float)(unsafe.Pointer(&src[0])), (*C.long)(unsafe.Pointer(&lo[0])), (*C.long)(unsafe.Pointer(&hi[0])),
		(*C.float)(unsafe.Pointer(&g[0])), C.int(len(g)/2), (*C.float)(unsafe.Pointer(&out[0])), C.int(len(out)))
}

// blendKernel runs crd_blend on the len(m) pixels.
func blendKernel(r, g, b, m []float32, lo, hi, keep float64, heat *[256][3]float64, dst []byte, step int) {
	C.crd_blend(floatPtr(r), floatPtr(g), floatPtr(b), floatPtr(m), C.int(len(m)), C.double(lo), C.double(hi), C.double(keep),
		(*C.double)(unsafe.Pointer(&heat[0][0])), (*C.uchar)(unsafe.Pointer(&dst[0])), C.int(step))
}

// resizeKernel runs crd_resize_plane.
func resizeKernel(src []float32, w, h int, xs, xn []int32, xw []float32, xstep int,
	ys, yn []int32, yw []float32, ystep int, mean, inv float32, tmp, out []float32) {
	C.crd_resize_plane(floatPtr(src), C.int(w), C.int(h), (*C.int)(unsafe.Pointer(&xs[0])), (*C.int)(unsafe.Pointer(&xn[0])),
		floatPtr(xw), C.int(xstep), C.int(len(xs)), (*C.int)(unsafe.Pointer(&ys[0])), (*C.int)(unsafe.Pointer(&yn[0])),
		floatPtr(yw), C.int(ystep), C.int(len(ys)), C.float(mean), C.float(inv), floatPtr(tmp), floatPtr(out))
}

// bilinearKernel runs crd_resize_bilinear.
func bilinearKernel(x []float32, n, sh, sw, h, w int, ty, tx *Bilinear, rows, dst []float32) {
	ip := func(s []int32) *C.int { return (*C.int)(unsafe.Pointer(&s[0])) }
	C.crd_resize_bilinear(floatPtr(x), C.int(n), C.int(sh), C.int(sw), C.int(h), C.int(w), ip(ty.I0), ip(ty.I1),
		floatPtr(ty.W0), floatPtr(ty.W1), ip(tx.I0), ip(tx.I1), floatPtr(tx.W0), floatPtr(tx.W1), floatPtr(rows), floatPtr(dst))
}

// winoInKernel runs crd_wino_in.
func winoInKernel(g *WinoTiles, x []float32, t0, nt int, v []float32, ldv, es int) {
	C.crd_wino_in(C.int(g.M), C.int(g.R), (*C.float)(unsafe.Pointer(&x[0])), C.int(g.H), C.int(g.W), C.int(g.C), C.int(g.PadTop), C.int(g.PadLeft),
		C.int(g.TH), C.int(g.TW), C.long(t0), C.int(nt), (*C.float)(unsafe.Pointer(&v[0])), C.long(ldv), C.long(es))
}

// winoOutKernel runs crd_wino_out.
func winoOutKernel(g *WinoTiles, m []float32, ldm, es, t0, nt, j0, j1 int, bias []float32, relu bool, res []float32, ldr int, dst []float32, ldd int) {
	C.crd_wino_out(C.int(g.M), C.int(g.R), (*C.float)(unsafe.Pointer(&m[0])), C.long(ldm), C.long(es), C.long(t0), C.int(nt), C.int(g.TH), C.int(g.TW),
		C.int(g.OutH), C.int(g.OutW), C.int(j0), C.int(j1), floatPtr(bias), cBool(relu), floatPtr(res), C.long(ldr),
		(*C.float)(unsafe.Pointer(&dst[0])), C.long(ldd))
}
