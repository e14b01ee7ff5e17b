package avx512

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/crd-ad/crd/internal/blas"
)

// TestSgemm against the direct float64 product, on shapes around the tile
// (12 x 32), the packing blocks (384 rows, 256 inner indices) and the
// column masks, with padded strides, beta = 0 and 1, alpha = 1 and not. Entries
// of C outside the m x n window must not change.
func TestSgemm(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	r := rand.New(rand.NewPCG(3, 3))
	for _, sz := range [][3]int{{1, 1, 1}, {12, 32, 7}, {13, 33, 257}, {5, 16, 3}, {400, 70, 300}, {30, 17, 600}, {100, 64, 0}, {49, 64, 512}, {7, 40, 20}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, ab := range []struct {
			alpha float32
			beta1 bool
		}{{1, false}, {1, true}, {-2, false}, {0.5, true}} {
			alpha, beta1 := ab.alpha, ab.beta1
			lda, ldb, ldc := k+3, n+5, n+2
			a := make([]float32, m*lda)
			b := make([]float32, max(k, 1)*ldb)
			c := make([]float32, m*ldc)
			for _, s := range [][]float32{a, b, c} {
				for i := range s {
					s[i] = float32(r.NormFloat64())
				}
			}
			c0 := append([]float32(nil), c...)
			Sgemm(m, n, k, alpha, a, lda, b, ldb, beta1, c, ldc)
			for i := 0; i < m; i++ {
				for j := 0; j < ldc; j++ {
					if j >= n {
						if c[i*ldc+j] != c0[i*ldc+j] {
							t.Fatalf("%v alpha=%g beta1=%v: C[%d,%d] outside the product changed", sz, alpha, beta1, i, j)
						}
						continue
					}
					var want, mag float64
					if beta1 {
						want = float64(c0[i*ldc+j])
						mag = math.Abs(want)
					}
					for p := 0; p < k; p++ {
						x := float64(alpha) * float64(a[i*lda+p]) * float64(b[p*ldb+j])
						want += x
						mag += math.Abs(x)
					}
					if d := math.Abs(float64(c[i*ldc+j]) - want); d > 1e-6*(mag+1) {
						t.Fatalf("%v alpha=%g beta1=%v: C[%d,%d] = %g, want %g", sz, alpha, beta1, i, j, c[i*ldc+j], want)
					}
				}
			}
		}
	}
}

// BenchmarkSgemm on convolution shapes of wide_resnet50_2 at 224 (rows =
// output positions of one GEMM chunk, columns = output channels, inner =
// window x input channels), against OpenBLAS's cblas_sgemm in the same run.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range []struct {
		name    string
		m, n, k int
	}{
		{"layer1_3x3", 3136, 128, 1152},
		{"layer2_1x1", 784, 1024, 256},
		{"layer3_3x3", 196, 512, 4608},
	} {
		x := make([]float32, s.m*s.k)
		w := make([]float32, s.k*s.n)
		c := make([]float32, s.m*s.n)
		for i := range x {
			x[i] = float32(i%7) / 7
		}
		for i := range w {
			w[i] = float32(i%5) / 5
		}
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		b.Run(s.name+"/avx512", func(b *testing.B) {
			if !Supported() {
				b.Skip("no AVX-512 kernel here")
			}
			for i := 0; i < b.N; i++ {
				Sgemm(s.m, s.n, s.k, 1, x, s.k, w, s.n, false, c, s.n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(s.name+"/openblas", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				blas.Sgemm(false, false, s.m, s.n, s.k, 1, x, s.k, w, s.n, 0, c, s.n)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestPackedBReuse: one PackedB packed with a large then a smaller B (its
// buffer reused, stale values behind) and multiplied several times must
// match Sgemm of the same operands.
func TestPackedBReuse(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	r := rand.New(rand.NewPCG(4, 4))
	rnd := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
		return s
	}
	var pb PackedB
	for _, sz := range [][2]int{{300, 70}, {40, 33}, {257, 5}} {
		k, n := sz[0], sz[1]
		b := rnd(k * n)
		pb.Pack(k, n, b, n)
		for _, m := range []int{1, 13, 50} {
			a := rnd(m * k)
			got := make([]float32, m*n)
			want := make([]float32, m*n)
			pb.Mul(m, -2, a, k, false, got, n)
			Sgemm(m, n, k, -2, a, k, b, n, false, want, n)
			if !slices.Equal(got, want) {
				t.Fatalf("k=%d n=%d m=%d: PackedB.Mul differs from Sgemm", k, n, m)
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for p := 0; p < k; p++ {
						s += float64(a[i*k+p]) * float64(b[p*n+j])
					}
					if math.Abs(float64(got[i*n+j])+2*s) > 1e-4*(math.Abs(s)+1) {
						t.Fatalf("k=%d n=%d m=%d: C[%d,%d] = %g, want %g", k, n, m, i, j, got[i*n+j], -2*s)
					}
				}
			}
		}
	}
}

// TestSgemmCores: the product is bit-identical however many goroutines take
// its blocks of rows (each element is computed by one of them, in the same
// order).
func TestSgemmCores(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	r := rand.New(rand.NewPCG(5, 5))
	m, n, k := 1000, 70, 300
	a := make([]float32, m*k)
	b := make([]float32, k*n)
	for _, s := range [][]float32{a, b} {
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
	}
	var want []float32
	for _, procs := range []int{1, 2, 3, 8} {
		prev := runtime.GOMAXPROCS(procs)
		c := make([]float32, m*n)
		Sgemm(m, n, k, 1, a, k, b, n, false, c, n)
		runtime.GOMAXPROCS(prev)
		if want == nil {
			want = c
			continue
		}
		for i := range c {
			if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
				t.Fatalf("GOMAXPROCS %d: C[%d] = %g, with 1: %g", procs, i, c[i], want[i])
			}
		}
	}
}

// TestMulRowsEpilogue: the fused epilogue gives, bit for bit, what the
// unfused steps give (the residual copied into C, MulRows accumulating onto
// it, then + bias and the sign-mask ReLU in Go), on shapes with several
// inner parts, partial tiles and masked columns, with the residual apart
// from C, aliasing it, or absent, with and without bias and ReLU. The
// inputs hold -0, values whose sum is -0, NaNs of both signs and
// infinities. Entries of C outside the window must not change.
func TestMulRowsEpilogue(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	r := rand.New(rand.NewPCG(6, 6))
	negNaN := math.Float32frombits(0xffc00001)
	posNaN := math.Float32frombits(0x7fc00002)
	special := []float32{0, float32(math.Copysign(0, -1)), negNaN, posNaN, float32(math.Inf(1)), float32(math.Inf(-1))}
	scratch := make([]float32, MulScratch)
	for _, sz := range [][3]int{{1, 1, 1}, {12, 32, 7}, {13, 33, 257}, {25, 80, 600}, {7, 5, 0}, {50, 64, 256}} {
		m, n, k := sz[0], sz[1], sz[2]
		lda, ldc := k+3, n+4
		a := randMat(max(m*lda, 1), 7)
		b := randMat(max(k*n, 1), 8)
		bias := randMat(n, 9)
		res := randMat(m*ldc, 10)
		for i := 0; i < len(res); i += 7 {
			res[i] = special[(i/7)%len(special)]
		}
		for j := 0; j < n; j += 3 {
			bias[j] = float32(math.Copysign(0, -1))
		}
		if k > 0 {
			a[0] = 0 // row 0: the product is +0 or -0, the sum res + bias decides
		}
		var pb PackedB
		pb.Pack(k, n, b, n)
		for _, tc := range []struct {
			res, alias, bias, relu bool
		}{{false, false, false, true}, {false, false, true, true}, {true, false, true, true}, {true, true, true, true},
			{true, false, true, false}, {false, false, true, false}, {true, true, false, true}} {
			fill := make([]float32, m*ldc)
			for i := range fill {
				fill[i] = float32(r.NormFloat64())
			}
			// The unfused steps.
			want := append([]float32(nil), fill...)
			if tc.res {
				for i := 0; i < m; i++ {
					copy(want[i*ldc:i*ldc+n], res[i*ldc:i*ldc+n])
				}
			}
			pb.MulRows(m, 1, a, lda, tc.res, want, ldc, scratch)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					v := want[i*ldc+j]
					if tc.bias {
						v += bias[j]
					}
					if tc.relu {
						u := math.Float32bits(v)
						v = math.Float32frombits(u &^ uint32(int32(u)>>31))
					}
					want[i*ldc+j] = v
				}
			}
			got := append([]float32(nil), fill...)
			var rs []float32
			if tc.res {
				rs = res
				if tc.alias {
					for i := 0; i < m; i++ {
						copy(got[i*ldc:i*ldc+n], res[i*ldc:i*ldc+n])
					}
					rs = got
				}
			}
			var bs []float32
			if tc.bias {
				bs = bias
			}
			// The same product panel by panel, last panel first.
			byPanel := append([]float32(nil), got...)
			rsp := rs
			if tc.alias {
				rsp = byPanel
			}
			for q := pb.Panels() - 1; q >= 0; q-- {
				pb.MulRowsEpiloguePanels(q, q+1, m, a, lda, rsp, ldc, bs, tc.relu, byPanel, ldc, scratch)
			}
			pb.MulRowsEpilogue(m, a, lda, rs, ldc, bs, tc.relu, got, ldc, scratch)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v %+v: C[%d] = %g (%#x), unfused %g (%#x)", sz, tc, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
				if math.Float32bits(byPanel[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v %+v: C[%d] = %g panel by panel, unfused %g", sz, tc, i, byPanel[i], want[i])
				}
			}
		}
	}
}

// TestMulConv: a product whose tiles of A are read in place (from x, in
// parts at their own offsets) or from gathered rows gives bit for bit what
// MulRowsEpilogue gives on the matrix A written out, packed with the same
// parts and with parts of 256 (the parts do not change the values), with
// and without residual, bias and ReLU, for a last tile cut short.
func TestMulConv(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	parts, k := mulConvParts, mulConvK()
	const n, m, xstride, ldg = 70, 12*5 + 7, 9, 640
	x := randMat(20000, 11)
	g := randMat(ldg*40, 12)
	xoff := []int64{0, 3000, 150, 7000, 9000}
	// Tiles 0, 2 and 4 in place, 1 and 5 (the short last one) gathered,
	// 3 gathered from the last rows of g.
	tiles := []int64{10, -1 - 12, 400, -1 - 28, 1000, -1 - 0}
	nt := len(tiles)
	a := make([]float32, nt*12*k)
	cuts := []int{0}
	for _, l := range parts {
		cuts = append(cuts, cuts[len(cuts)-1]+l)
	}
	for tt, d := range tiles {
		for row := range 12 {
			for p := range parts {
				for j := cuts[p]; j < cuts[p+1]; j++ {
					var v float32
					if d >= 0 {
						v = x[int(d+xoff[p])+row*xstride+j-cuts[p]]
					} else {
						v = g[(int(-1-d)+row)*ldg+j]
					}
					a[(tt*12+row)*k+j] = v
				}
			}
		}
	}
	b := randMat(k*n, 13)
	bias := randMat(n, 14)
	res := randMat(m*n, 15)
	res[5] = float32(math.Copysign(0, -1))
	var pbParts, pbFlat PackedB
	pbParts.PackParts(k, n, b, n, parts)
	pbFlat.Pack(k, n, b, n)
	scratch := make([]float32, MulScratch)
	for _, tc := range epilogueCases {
		rs, bs := tc.pick(res, bias)
		want := make([]float32, m*n)
		pbFlat.MulRowsEpilogue(m, a, k, rs, n, bs, tc.relu, want, n, scratch)
		want2 := make([]float32, m*n)
		pbParts.MulRowsEpilogue(m, a, k, rs, n, bs, tc.relu, want2, n, scratch)
		got := make([]float32, m*n)
		pbParts.MulConv(m, x, xstride, xoff, g, ldg, tiles, rs, n, bs, tc.relu, got, n)
		for i := range got {
			if math.Float32bits(want2[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: C[%d] = %g packed in parts, %g in parts of 256", tc, i, want2[i], want[i])
			}
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: C[%d] = %g from the tiles, %g from A written out", tc, i, got[i], want[i])
			}
		}
		// Panels [1, 3) then [0, 1) give the same values; panel 1 alone
		// touches only columns [32, 64).
		byPanel := make([]float32, m*n)
		pbParts.MulConvPanels(1, 3, m, x, xstride, xoff, g, ldg, tiles, rs, n, bs, tc.relu, byPanel, n)
		pbParts.MulConvPanels(0, 1, m, x, xstride, xoff, g, ldg, tiles, rs, n, bs, tc.relu, byPanel, n)
		one := make([]float32, m*n)
		for i := range one {
			one[i] = -7
		}
		pbParts.MulConvPanels(1, 2, m, x, xstride, xoff, g, ldg, tiles, rs, n, bs, tc.relu, one, n)
		for i := range got {
			if math.Float32bits(byPanel[i]) != math.Float32bits(got[i]) {
				t.Fatalf("%+v: C[%d] = %g by panels, %g at once", tc, i, byPanel[i], got[i])
			}
			if j := i % n; (j >= 32 && j < 64) != (math.Float32bits(one[i]) == math.Float32bits(got[i])) {
				t.Fatalf("%+v: panel 1 alone: C[%d] = %g, want %g in columns [32, 64) and -7 elsewhere", tc, i, one[i], got[i])
			}
		}
		if s := epilogueRef(a, k, b, n, 0, 0, rs, bs, tc.relu); math.Abs(float64(got[0])-s) > 1e-4*(math.Abs(s)+1) {
			t.Fatalf("%+v: C[0] = %g, the float64 sum %g", tc, got[0], s)
		}
	}
	// A tile reading past x panics.
	defer func() {
		if recover() == nil {
			t.Fatal("MulConv read past x without a panic")
		}
	}()
	pbParts.MulConv(m, x, xstride, xoff, g, ldg, []int64{int64(len(x)) - 10, 0, 0, 0, 0, 0}, nil, 0, nil, false, make([]float32, m*n), n)
}

// mulConvParts are the parts of the inner dimension of the MulConv tests:
// of every length class, the last one full.
var mulConvParts = []int{100, 56, 200, 3, 256}

// mulConvK is the inner dimension that mulConvParts make.
func mulConvK() int {
	k := 0
	for _, l := range mulConvParts {
		k += l
	}
	return k
}

// epilogueCases are the residual, bias and ReLU combinations that the
// tests of MulConv and MulConvRowsPanels check.
var epilogueCases = []epilogueCase{{false, false, false}, {true, true, true}, {false, true, true}, {true, false, false}}

// epilogueCase says which of a residual, a bias and the ReLU a product
// fuses.
type epilogueCase struct{ res, bias, relu bool }

// pick returns res and bias, or nil for those the case leaves out.
func (tc epilogueCase) pick(res, bias []float32) (rs, bs []float32) {
	if tc.res {
		rs = res
	}
	if tc.bias {
		bs = bias
	}
	return rs, bs
}

// epilogueRef is C[i][j] of MulRowsEpilogue in float64, for A (row stride
// k) times the k x n B, res (row stride n) and bias nil when absent.
func epilogueRef(a []float32, k int, b []float32, n, i, j int, res, bias []float32, relu bool) float64 {
	var s float64
	for p := range k {
		s += float64(a[i*k+p]) * float64(b[p*n+j])
	}
	if res != nil {
		s += float64(res[i*n+j])
	}
	if bias != nil {
		s += float64(bias[j])
	}
	if relu {
		s = max(s, 0)
	}
	return s
}

// TestMulConvRows: a product whose rows of A are read in place, each at
// its own offset in x (not evenly spaced, some overlapping, in parts at
// their own offsets), or from gathered rows (the first row of a tile, one
// in its middle, the last row of A), gives bit for bit what
// MulRowsEpilogue gives on the matrix A written out, and within float32
// rounding the float64 product, with and without residual, bias and ReLU,
// by panels or at once, for m with a last tile of 12, of 5 (the 8-row
// kernel) and of 3 rows (the 4-row one).
func TestMulConvRows(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	parts, k := mulConvParts, mulConvK()
	const n = 70
	x := randMat(20000, 21)
	const ldg = 640
	g := randMat(ldg*6, 25)
	xoff := []int64{0, 3000, 150, 7000, 9000}
	b := randMat(k*n, 22)
	bias := randMat(n, 23)
	var pbParts PackedB
	pbParts.PackParts(k, n, b, n, parts)
	scratch := make([]float32, MulScratch)
	cuts := []int{0}
	for _, l := range parts {
		cuts = append(cuts, cuts[len(cuts)-1]+l)
	}
	for _, m := range []int{48, 12*4 + 5, 3} {
		rowoff := make([]int64, m)
		for i := range rowoff {
			rowoff[i] = int64((i*7919 + i*i*13) % 10000) // uneven, some rows overlapping
		}
		rowoff[m-2] = int64(len(x)) - 9000 - 256               // the row ends at x's end
		rowoff[0], rowoff[m/2], rowoff[m-1] = -1-5, -1-2, -1-0 // gathered
		a := make([]float32, m*k)
		for i, d := range rowoff {
			for p := range parts {
				for j := cuts[p]; j < cuts[p+1]; j++ {
					if d < 0 {
						a[i*k+j] = g[int(-1-d)*ldg+j]
					} else {
						a[i*k+j] = x[int(d+xoff[p])+j-cuts[p]]
					}
				}
			}
		}
		res := randMat(m*n, 24)
		res[1] = float32(math.Copysign(0, -1))
		for _, tc := range epilogueCases {
			rs, bs := tc.pick(res, bias)
			want := make([]float32, m*n)
			pbParts.MulRowsEpilogue(m, a, k, rs, n, bs, tc.relu, want, n, scratch)
			got := make([]float32, m*n)
			pbParts.MulConvRowsPanels(0, pbParts.Panels(), m, x, xoff, rowoff, g, ldg, rs, n, bs, tc.relu, got, n)
			byPanel := make([]float32, m*n)
			pbParts.MulConvRowsPanels(1, 3, m, x, xoff, rowoff, g, ldg, rs, n, bs, tc.relu, byPanel, n)
			pbParts.MulConvRowsPanels(0, 1, m, x, xoff, rowoff, g, ldg, rs, n, bs, tc.relu, byPanel, n)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("m %d %+v: C[%d] = %g from the rows, %g from A written out", m, tc, i, got[i], want[i])
				}
				if math.Float32bits(byPanel[i]) != math.Float32bits(got[i]) {
					t.Fatalf("m %d %+v: C[%d] = %g by panels, %g at once", m, tc, i, byPanel[i], got[i])
				}
				if s := epilogueRef(a, k, b, n, i/n, i%n, rs, bs, tc.relu); math.Abs(float64(got[i])-s) > 1e-4*(math.Abs(s)+1) {
					t.Fatalf("m %d %+v: C[%d] = %g, the float64 sum %g", m, tc, i, got[i], s)
				}
			}
		}
	}
	// A row reading past x or g panics.
	for _, ro := range [][]int64{{0, int64(len(x)) - 9000 - 255}, {0, -1 - 5}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("MulConvRowsPanels read row offsets %v past x or g (%d rows) without a panic", ro, len(g)/ldg)
				}
			}()
			pbParts.MulConvRowsPanels(0, 1, 2, x, xoff, ro, g[:5*ldg], ldg, nil, 0, nil, false, make([]float32, 2*n), n)
		}()
	}
}

// TestSgemmRowKernels: a last, partial tile of rows runs the 4- or 8-row
// kernel (sgemm.c, stile), whose rows are computed as the 12-row kernel's
// are: the product of A's first m rows (m = 1 to 36, every remainder, with
// more than one inner part) is bit for bit the first m rows of the product
// of all 36, through Sgemm (alpha 1 and -2, beta 0 and 1) and
// MulRowsEpilogue (residual, bias, ReLU). TestSgemm checks the values
// against the float64 product.
func TestSgemmRowKernels(t *testing.T) {
	if !Supported() {
		t.Skip("no AVX-512 kernel here")
	}
	r := rand.New(rand.NewPCG(9, 9))
	const mm, n, k = 36, 70, 300
	a := make([]float32, mm*k)
	b := make([]float32, k*n)
	c0 := make([]float32, mm*n)
	bias := make([]float32, n)
	for _, s := range [][]float32{a, b, c0, bias} {
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
	}
	var pb PackedB
	pb.Pack(k, n, b, n)
	scratch := make([]float32, MulScratch)
	run := func(m, v int) []float32 {
		c := slices.Clone(c0[:m*n])
		switch v {
		case 0:
			Sgemm(m, n, k, 1, a, k, b, n, false, c, n)
		case 1:
			Sgemm(m, n, k, -2, a, k, b, n, true, c, n)
		case 2:
			pb.MulRowsEpilogue(m, a, k, c0, n, bias, true, c, n, scratch)
		}
		return c
	}
	for v := range 3 {
		want := run(mm, v)
		for m := 1; m < mm; m++ {
			got := run(m, v)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("variant %d, %d rows: C[%d] = %g, with %d rows %g", v, m, i, got[i], mm, want[i])
				}
			}
		}
	}
}
