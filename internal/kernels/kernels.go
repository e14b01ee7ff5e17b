// Package kernels decides, once per process, which implementation runs each
// of crd's dense operations: crd's own AVX-512 kernels (package avx512) or
// BLAS (package blas: OpenBLAS, or gonum's pure Go in a build without cgo or
// with the tag noopenblas, a choice made when building), or for pooling and
// the pictures' resize, blur and blend, which BLAS does not do, loops in Go.
//
// The CPU is read from golang.org/x/sys/cpu. The choice travels as a Set
// value in the objects that run the operations (crd's Accumulator and
// Model, knn's Model, nn's Workspace, anomalymap's Blur, report's
// blender; preprocess and nn's pooling take one as an argument); their
// zero value uses Detected, and tests force a path by giving them another
// Set.
package kernels

import (
	"strings"

	"golang.org/x/sys/cpu"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/blas"
)

// Op is a set of the dense operations whose implementation is chosen.
type Op uint8

const (
	// Gram is crd's training update G += Y Y^T in float64:
	// avx512.GramUpper, else blas.Dsyrk.
	Gram Op = 1 << iota
	// Score is crd's patch scoring ||U y||^2 on the triangular factor U:
	// avx512.Packed.Norms, else the sgemm of M Y and column norms; for
	// scores from pooled layers (crd.Model.ScoreLayers) also the layers'
	// products (avx512.PackedB, else blas.Sgemm), avx512.RowNorms (else
	// a Go loop) and avx512.NeighbourDots.
	Score
	// Conv is the float32 matrix product of nn's convolutions:
	// avx512.Sgemm, else blas.Sgemm; with it, nn.Conv2D.ForwardNCHW reads
	// an NCHW input in place for the convolutions that avx512.ConvPlanes
	// computes (else it converts the input to NHWC first).
	Conv
	// Nearest is knn's distance and projection products: avx512.PackedB
	// and avx512.Sgemm, else blas.Sgemm.
	Nearest
	// Pool is nn's max and average pooling of NHWC maps, the conversion of
	// pooled maps to NCHW (nn.NHWC.ToNCHWAtKernels) and the bilinear resize
	// of planes (nn.ResizeBilinearIntoKernels) and of rows of channels
	// (nn.ResizeRowsKernels, also the layered scores' products):
	// avx512.PoolRows, avx512.TransposeChannels, avx512.ResizeBilinear and
	// avx512.ResizeRows, else nn's loops in Go.
	Pool
	// ConvBF16 is the matrix product of nn's convolutions set to bf16
	// precision: avx512.PackedBF16 (vdpbf16ps) on a CPU with AVX512_BF16,
	// else an emulation that rounds both operands to bf16 and runs the
	// Conv path (the same products, summed in another order).
	ConvBF16
	// Pixels is the arithmetic on pictures outside the backbone and the
	// scores: package preprocess's resize of the input (avx512.ResizePlane),
	// package anomalymap's Gaussian blur (avx512.BlurSum) and package
	// report's heat-map blend (avx512.Blend), else loops in Go (the same
	// values).
	Pixels
	// Winograd is nn's 3x3 and 5x5 stride-1 convolutions (above a size:
	// see nn.Conv2D) by Winograd F(2x2, 3x3) or F(4x4, 3x3), and F(2x2,
	// 5x5) or F(3x3, 5x5), on the AVX-512 kernels (avx512.WinoInput,
	// PackedB, avx512.WinoOutput): 2.25, 4, 2.8 or 4.6 times fewer
	// multiplications, values within float32 rounding of the direct
	// product's, not bit-identical to it. It runs only with Conv; without
	// it those convolutions take Conv's direct path.
	Winograd

	// All is every float32 operation (not ConvBF16, which needs more than
	// AVX-512F: see AVX512BF16Supported).
	All = Gram | Score | Conv | Nearest | Pool | Pixels | Winograd
)

// Set is the choice of implementation for every Op. The zero Set is
// Detected's choice; BLAS and AVX512 make others.
type Set struct {
	forced bool
	avx512 Op // the operations run by the AVX-512 kernels
}

// detected is the choice for this process, made once at start-up.
var detected = detect()

// detect: the AVX-512 kernels run every operation where they run at all,
// except kNN's products when OpenBLAS has chosen its own AVX-512 kernels,
// whose sgemm measured faster than ours on kNN's shapes. The Gram kernel
// measured about as fast as OpenBLAS's AVX-512 dsyrk, the others faster
// than its sgemm, and all of them several times its SSE3 fallback.
func detect() Set {
	s := Set{forced: true}
	if avx512.Supported() {
		s.avx512 = Gram | Score | Conv | Pool | Pixels | Winograd
		if !blas.AVX512Kernels() {
			s.avx512 |= Nearest
		}
	}
	if avx512.BF16Supported() {
		s.avx512 |= ConvBF16
	}
	return s
}

// Detected is the choice for this CPU and build, made once at start-up.
func Detected() Set { return detected }

// BLAS is the Set that runs every operation on BLAS.
func BLAS() Set { return Set{forced: true} }

// AVX512 is the Set that runs ops on the AVX-512 kernels and the others on
// BLAS (ConvBF16 not in ops: emulated). It panics unless avx512.Supported,
// and for ops with ConvBF16 unless AVX512BF16Supported.
func AVX512(ops Op) Set {
	if !avx512.Supported() {
		panic("kernels: AVX512: the AVX-512 kernels do not run here")
	}
	if ops&ConvBF16 != 0 && !avx512.BF16Supported() {
		panic("kernels: AVX512: the AVX512_BF16 kernel does not run here")
	}
	return Set{forced: true, avx512: ops & (All | ConvBF16)}
}

// AVX512Supported reports whether the AVX-512 kernels can run here, so
// whether AVX512 may be called.
func AVX512Supported() bool { return avx512.Supported() }

// AVX512BF16Supported reports whether the bf16 kernel can run here, so
// whether AVX512 may be called with ConvBF16.
func AVX512BF16Supported() bool { return avx512.BF16Supported() }

// UsesAVX512 reports whether s runs op (every operation in it) on the
// AVX-512 kernels.
func (s Set) UsesAVX512(op Op) bool {
	if !s.forced {
		s = detected
	}
	return s.avx512&op == op && op != 0
}

// String lists the operations s runs on the AVX-512 kernels, e.g.
// "avx512: gram score conv pool pixels winograd conv-bf16; blas: nearest"
// (ConvBF16 off the kernel: "emulated: conv-bf16"; Winograd, listed only
// with Conv, is not a BLAS operation: off, its convolutions run on Conv's
// direct path).
func (s Set) String() string {
	var on, off []string
	for _, o := range []struct {
		op   Op
		name string
	}{{Gram, "gram"}, {Score, "score"}, {Conv, "conv"}, {Nearest, "nearest"}, {Pool, "pool"}, {Pixels, "pixels"}} {
		if s.UsesAVX512(o.op) {
			on = append(on, o.name)
		} else {
			off = append(off, o.name)
		}
	}
	if s.UsesAVX512(Conv | Winograd) {
		// Not a BLAS operation: without it nn's convolutions run direct.
		on = append(on, "winograd")
	}
	var parts []string
	if s.UsesAVX512(ConvBF16) {
		on = append(on, "conv-bf16")
	}
	if len(on) > 0 {
		parts = append(parts, "avx512: "+strings.Join(on, " "))
	}
	if len(off) > 0 {
		parts = append(parts, "blas: "+strings.Join(off, " "))
	}
	if !s.UsesAVX512(ConvBF16) {
		parts = append(parts, "emulated: conv-bf16")
	}
	return strings.Join(parts, "; ")
}

// Sgemm is C = alpha A B + beta C in float32 for the row-major A (m x k),
// B (k x n) and C (m x n), with row strides lda, ldb and ldc, as op needs
// it (Conv, Nearest, or Score for crd's layered scoring): avx512.Sgemm
// where s runs op on the AVX-512 kernels and beta is 0 or 1, else
// blas.Sgemm.
func (s Set) Sgemm(op Op, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if s.UsesAVX512(op) && (beta == 0 || beta == 1) {
		avx512.Sgemm(m, n, k, alpha, a, lda, b, ldb, beta == 1, c, ldc)
		return
	}
	blas.Sgemm(false, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// AVX2FMA reports whether the CPU and OS support AVX2 and FMA, which knn's
// assembly distance kernel needs.
func AVX2FMA() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }
