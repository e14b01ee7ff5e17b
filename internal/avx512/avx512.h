//go:build cgo && amd64

// crd's AVX-512 kernels, called from the Go files of package avx512 through
// cgo. Each function is compiled for AVX-512F alone (a target attribute), so
// the rest of the build needs no -mavx512f; callers check the CPU first.
// All matrices are row-major.

#ifndef CRD_AVX512_H
#define CRD_AVX512_H

// Norms (norms.c): register tile of MR rows of the packed T by NR columns.
#define MR 12
#define NR 32

// Gram (gram.c): panels of GN features; register tile GM x GN.
#define GN 24

// Sgemm (sgemm.c): register tile SMR x SNR, inner dimension packed in parts
// of SKC.
#define SMR 12
#define SNR 32
#define SKC 256

// crd_norms adds, for the columns j in [c0, c1) of the d x p matrix y, the
// squared norms of T y_j to out[j - c0]. T is d x d, packed in tiles of MR
// rows, each k-major: a[t*MR*d + k*MR + r] = T[t*MR + r][k] (rows past d
// zero). With upper, T is upper triangular and tile t skips k < t*MR. buf
// holds d*NR floats per panel of NR columns. Sums are float32 within a
// block of rows of T and float64 across blocks. The reference loop:
//
//	for (j = c0; j < c1; j++)
//		for (i = 0; i < d; i++) {
//			float z = 0;
//			for (k = 0; k < d; k++) z += T[i][k] * y[k*p + j];
//			out[j - c0] += z * z;
//		}
void crd_norms(const float *a, int d, int tiles, int upper, const float *y, int p, int c0, int c1,
               float *buf, double *out);

// crd_row_norms adds to acc[j] the squared norm of the first n values of
// row j of the p rows of z (row stride ldz), in double (rows.c). The
// reference loop:
//
//	for (j = 0; j < p; j++)
//		for (i = 0; i < n; i++) acc[j] += (double)z[j*ldz + i] * z[j*ldz + i];
void crd_row_norms(const float *z, long ldz, int n, int p, double *acc);

// crd_neighbour_dots adds to g (5 pc doubles: g0, gr, gdl, gd, gdr, pc
// each) the inner products of the first n values of each row k of z (row
// stride ldz; pc rows, the positions of a grid wc wide, row-major) with
// itself and with rows k+1, k+wc-1, k+wc and k+wc+1 where they exist, in
// double (rows.c). The reference loop:
//
//	for (k = 0; k < pc; k++)
//		for (i = 0; i < n; i++) {
//			double a = z[k*ldz + i];
//			g0[k] += a * z[k*ldz + i];
//			if (k+1 < pc) gr[k] += a * z[(k+1)*ldz + i];
//			if (k+wc-1 < pc) gdl[k] += a * z[(k+wc-1)*ldz + i];
//			if (k+wc < pc) gd[k] += a * z[(k+wc)*ldz + i];
//			if (k+wc+1 < pc) gdr[k] += a * z[(k+wc+1)*ldz + i];
//		}
void crd_neighbour_dots(const float *z, long ldz, int n, int pc, int wc, double *g);

// crd_resize_rows resizes the first n values of the rows of src (row
// stride lds; the positions of a grid wc wide, row-major) bilinearly to an
// h x w grid, into the rows of dst (stride ldd), or adds the result to
// them when add; the taps are given per axis (rows.c). The reference loop:
//
//	for (oy = 0; oy < h; oy++) for (ox = 0; ox < w; ox++) for (i = 0; i < n; i++) {
//		#define S(y, x) src[((y)*wc + (x))*lds + i]
//		float v = wy0[oy]*(wx0[ox]*S(y0[oy], x0[ox]) + wx1[ox]*S(y0[oy], x1[ox])) +
//		          wy1[oy]*(wx0[ox]*S(y1[oy], x0[ox]) + wx1[ox]*S(y1[oy], x1[ox]));
//		dst[(oy*w + ox)*ldd + i] = add ? dst[(oy*w + ox)*ldd + i] + v : v;
//	}
//
// every product and sum rounded to float32 (no fused multiply-add).
void crd_resize_rows(const float *src, long lds, int wc, int n, const int *y0, const int *y1, const float *wy0,
                     const float *wy1, const int *x0, const int *x1, const float *wx0, const float *wx1, int h, int w,
                     float *dst, long ldd, int add);

// crd_gram adds Y Y^T to the d x d float64 matrix g on and above the
// diagonal (tiles on the diagonal also write their true values just below
// it). Y is d x K, given as panels of GN features: Y[i][j] is at
// buf[(i/GN)*K*GN + j*GN + i%GN], zero padded past d. Several threads may
// call it at once with the same *next (initially 0): each takes the next
// block of rows until none is left. The reference loop:
//
//	for (i = 0; i < d; i++)
//		for (j = i; j < d; j++)
//			for (k = 0; k < K; k++) g[i*d + j] += Y[i][k] * Y[j][k];
void crd_gram(const double *buf, int d, long K, double *g, int *next);

// crd_pack converts the GN x K float32 rows y (row stride K) into one panel
// of crd_gram's layout and adds each row's sum to sum. The reference loop:
//
//	for (t = 0; t < GN; t++)
//		for (j = 0; j < K; j++) {
//			dst[j*GN + t] = y[t*K + j];
//			sum[t] += y[t*K + j];
//		}
void crd_pack(double *dst, const float *y, long K, double *sum);

// The inner dimension of crd_packb, crd_sgemm_epi and crd_sgemm_conv is cut
// into parts (each at most SKC long): part p is [pk[p], pk[p+1]) for p <
// nparts, or with pk NULL, [p*SKC, min(p*SKC + SKC, k)). The parts do not
// change the values: each sum runs over the inner indices in order.

// crd_packb packs column panels [q0, q1) of the k x n matrix B (row stride
// ldb) for crd_sgemm: for each part [pc, pc + kc) of the inner dimension,
// panel q holds the part's rows of columns [q*SNR, q*SNR + SNR), zero
// padded past n. The reference loop, with panels = ceil(n / SNR):
//
//	for each part [pc, pc + kc)
//		for (q = q0; q < q1; q++)
//			for (p = 0; p < kc; p++)
//				for (t = 0; t < SNR; t++)
//					pb[pc*panels*SNR + q*kc*SNR + p*SNR + t] =
//						q*SNR + t < n ? B[(pc + p)*ldb + q*SNR + t] : 0;
void crd_packb(int k, int n, const float *B, long ldb, float *pb, int q0, int q1, const int *pk, int nparts);

// crd_sgemm computes C = alpha A B (+ C when beta1) for the m x k matrix A
// (row stride lda), B k x n packed by crd_packb and C m x n (row stride
// ldc). abuf holds SMR*SKC floats of scratch. The reference loop:
//
//	for (i = 0; i < m; i++)
//		for (j = 0; j < n; j++) {
//			float s = 0;
//			for (p = 0; p < k; p++) s += A[i*lda + p] * B[p][j];
//			C[i*ldc + j] = alpha * s + (beta1 ? C[i*ldc + j] : 0);
//		}
void crd_sgemm(int m, int n, int k, float alpha, const float *A, long lda, const float *pb, int beta1,
               float *C, long ldc, float *abuf);

// crd_sgemm_epi is crd_sgemm, on B packed with the parts pk, with a fused epilogue: the old values added to
// the product are res's (row stride ldr) when res is not NULL (else C's
// when beta1), and each value then gets the bias (bias[j], unless bias is
// NULL) and, with relu, the ReLU that clears any value with the sign bit
// set (negatives, -0, NaNs with the sign bit), all in registers before the
// one store. C may be res. The reference loop:
//
//	for (i = 0; i < m; i++)
//		for (j = 0; j < n; j++) {
//			float s = res ? res[i*ldr + j] : beta1 ? C[i*ldc + j] : 0;
//			for (p = 0; p < k; p++) s += A[i*lda + p] * B[p][j];   // alpha = 1
//			if (bias) s += bias[j];
//			if (relu && signbit(s)) s = +0;
//			C[i*ldc + j] = s;
//		}
//
// (with alpha != 1: s = alpha * (sum of the products) + the old value).
// The products are summed in the same order as crd_sgemm's, so its values
// are those of crd_sgemm into a copy of res, then the bias and ReLU.
// Only the columns of panels [q0, q1) (j in [q0*SNR, min(q1*SNR, n))) are
// computed, each as above; q1 < 0 means all of them.
void crd_sgemm_epi(int m, int n, int k, float alpha, const float *A, long lda, const float *pb, const int *pk, int nparts,
                   int beta1, const float *res, long ldr, const float *bias, int relu, float *C, long ldc, float *abuf,
                   int q0, int q1);

// crd_sgemm_conv is crd_sgemm_epi with alpha = 1 and beta1 = 0 for m rows of
// a convolution (an implicit GEMM): B is packed with the parts pk (pk not
// NULL), and A, m x pk[nparts], is read where it lies, tile by tile. Tile t
// (rows [t*SMR, t*SMR + SMR)) is given by tile[t]: d >= 0 reads row r of
// part p at x + d + xoff[p] + r*xstride (the part's indices contiguous
// there: the input pixels under 12 windows of one output row); d < 0 reads
// it at g + (-1 - d + r)*ldg + pk[p] (rows gathered into g). All SMR rows of
// a tile are read, also those of a last, partial tile past m (computed,
// not stored): g must hold them. Only panels [q0, q1) are computed, as in
// crd_sgemm_epi.
void crd_sgemm_conv(int m, int n, const float *pb, const int *pk, int nparts, const float *x, long xstride,
                    const long *xoff, const float *g, long ldg, const long *tile, const float *res, long ldr,
                    const float *bias, int relu, float *C, long ldc, int q0, int q1);

// Winograd F(m x m, r x r): F(2x2, 3x3), F(4x4, 3x3), F(2x2, 5x5) and
// F(3x3, 5x5) (wino.c). An r x r stride-1 convolution's output is cut into tiles of m x
// m pixels: tile t of an n x h x w x cin NHWC input x with th x tw tiles per
// image is image t / (th*tw), tile row ty and column tx of t % (th*tw); it
// reads the q x q input pixels (q = m + r - 1) at rows m ty - pt + a and
// columns m tx - pl + b (a, b in 0..q-1), zero outside the input. Its
// transforms are q^2 matrices, element (a, b) being matrix q a + b. For
// F(2x2, 3x3):
//
//	B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]], A^T = [[1,1,1,0],[0,1,-1,-1]];
//
// for F(4x4, 3x3):
//
//	B^T = [[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]],
//	A^T = [[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]];
//
// for F(2x2, 5x5), on the same points (0, 1, -1, 2, -2, infinity), the same
// B^T and
//
//	A^T = [[1,1,1,1,1,0],[0,1,-1,2,-2,1]];
//
// for F(3x3, 5x5), on the points 0, 1, -1, 2, -2, 1/2, -1/2 (row k of B^T
// the coefficients, lowest degree first, of the product of (x - p) over
// the points other than the k-th):
//
//	B^T = [[-1,0,21/4,0,-21/4,0,1],[0,1,1,-17/4,-17/4,1,1],[0,-1,1,17/4,-17/4,-1,1],
//	       [0,1/2,1/4,-5/2,-5/4,2,1],[0,-1/2,1/4,5/2,-5/4,-2,1],[0,2,4,-5/2,-5,1/2,1],[0,-2,4,5/2,-5,-1/2,1]],
//	A^T = [[1,1,1,1,1,1,1],[0,1,-1,2,-2,1/2,-1/2],[0,1,1,4,4,1/4,1/4]].
//
// crd_wino_in computes, for tiles [t0, t0 + nt), V = B^T d B for each
// channel c:
//
//	for (i = 0; i < nt; i++) for (e = 0; e < q*q; e++) for (c = 0; c < cin; c++)
//		v[e*es + i*ldv + c] = (B^T d(t0 + i, c) B)[e / q][e % q];
void crd_wino_in(int m, int r, const float *x, int h, int w, int cin, int pt, int pl, int th, int tw, long t0, int nt,
                 float *v, long ldv, long es);

// crd_wino_out computes, for tiles [t0, t0 + nt) and channels [j0, j1), Y =
// A^T M A with M[e / q][e % q] = mm[e*es + i*ldm + j] (q = m + r - 1), and
// stores each of its pixels that lies inside the oh x ow output (pixel p =
// (image*oh + oy)*ow + ox) as
//
//	s = Y[a][b] (+ res[p*ldr + j] unless res is NULL) (+ bias[j] unless NULL);
//	if (relu && signbit(s)) s = +0;
//	dst[p*ldd + j] = s;
void crd_wino_out(int m, int r, const float *mm, long ldm, long es, long t0, int nt, int th, int tw, int oh, int ow, int j0,
                  int j1, const float *bias, int relu, const float *res, long ldr, float *dst, long ldd);

// The kinds of crd_pool.
#define CRD_POOL_MAX 0
#define CRD_POOL_AVG_INCLUDE 1
#define CRD_POOL_AVG_EXCLUDE 2

// crd_pool_shape is one pooling of an n x h x w x c NHWC map x into the
// n x oh x ow x c map dst: windows of kh x kw cells, strides sh and sw,
// padding pt, pl, pb and pr on the top, left, bottom and right; output
// pixels lie ldo floats apart in dst (at least c).
struct crd_pool_shape {
	int h, w, c, oh, ow;
	int kh, kw, sh, sw;
	int pt, pl, pb, pr;
	int kind;
	long ldo;
};

// crd_pool computes output rows [r0, r1) (row r is image r / oh, output row
// r % oh) of the max (CRD_POOL_MAX) or average pooling of x. A max pooling
// ignores the padded cells; an average divides by the number of cells of
// the window inside the padded map (CRD_POOL_AVG_INCLUDE) or inside the
// image (CRD_POOL_AVG_EXCLUDE). The reference loop, for each output pixel
// (n, oy, ox) and channel ch, with ys = oy*sh - pt and xs = ox*sw - pl:
//
//	float acc = max ? -INFINITY : 0;
//	for (y = max(ys, 0); y < min(ys + kh, h); y++)
//		for (x = max(xs, 0); x < min(xs + kw, w); x++)
//			acc = max ? (v(n, y, x, ch) > acc ? v(n, y, x, ch) : acc) : acc + v(n, y, x, ch);
//	dst = max ? acc : acc * (1.0f / count);
//	if (bias) dst += bias[ch];
//	if (relu) dst = the ReLU of nn's addBiasReLU (values with the sign bit set cleared);
//
// except that a max over a window holding a NaN is NaN, as with Go's max
// (-0 and +0 count as equal: the first one seen is kept).
void crd_pool(const float *x, const struct crd_pool_shape *s, float *dst, int r0, int r1, const float *bias, int relu);

// crd_transpose converts channels [c0, c1) of one image's p x c NHWC map
// src (pixel q's channels at src + q*c) to NCHW: for c0 <= ch < c1 and
// 0 <= q < p,
//
//	dst[ch*ldd + q] = src[q*c + ch];
//
// 16 x 16 blocks at a time. Nothing else of dst is written.
void crd_transpose(const float *src, int p, int c, int c0, int c1, float *dst, long ldd);

// CPN is the number of output channels of crd_conv_planes.
#define CPN 32

// crd_conv_planes computes output rows [r0, r1) (row r: output row r % outh
// of image r / outh) of an unpadded convolution of n images of cin planes
// of h x w (x: NCHW) with CPN outputs, kh x kw windows and stride `stride`
// on both axes, into out (NHWC, ldc floats a pixel). wt holds the weights,
// rows (ky, kx, c) ldw floats apart of which the first CPN are read (CPN
// columns of a Keras HWIO kernel). For each output pixel and channel o, the
// reference loop:
//
//	float s = 0;
//	for (ky) for (kx) for (c) s = fmaf(x[n][c][oy*stride+ky][ox*stride+kx], wt[((ky*kw+kx)*cin+c)*ldw + o], s);
//	s += bias[o];
//	out[pixel*ldc + o] = relu ? max(s, 0) : s;
//
// (the ReLU clears values with the sign bit set, as nn's addBiasReLU).
void crd_conv_planes(const float *x, int cin, int h, int w, int kh, int kw, int stride, int outh, int outw,
                     const float *wt, long ldw, const float *bias, int relu, float *out, long ldc, int r0, int r1);

// crd_blur_sum is one row of a separable blur with the symmetric kernel g
// (2r + 1 taps), its taps r - k and r + k paired, on rows of src that lie
// lo[k] and hi[k] values into it (lo[0]: the centre row). For 0 <= x < n,
// the reference loop:
//
//	float s = g[r] * src[lo[0] + x];
//	for (k = 1; k <= r; k++)
//		s += g[r + k] * (src[lo[k] + x] + src[hi[k] + x]);
//	out[x] = s;
//
// with every product and sum rounded to float32 (no fused multiply-add).
void crd_blur_sum(const float *src, const long *lo, const long *hi, const float *g, int r, float *out, int n);

// crd_blend blends a heat map over n pixels of an image (package report's
// Overlay) into dst, step bytes a pixel (3, or 4 with an opaque alpha byte
// 255): the reference loop, in double precision, for pixel i:
//
//	double v = m[i], u;
//	if (hi <= lo) u = v > lo ? 1 : 0;
//	else u = min(max((v - lo) / (hi - lo), 0), 1);   // NaN stays NaN
//	int j = u > 0 ? min((int)(min(u, 1) * 256), 255) : 0;
//	for (k = 0; k < 3; k++) {                          // r, g, b
//		double c = min(max(channel_k[i], 0), 1);      // NaN stays NaN
//		double x = keep * (255 * c) + heat[3*j + k];
//		dst[i*step + k] = (unsigned char)round_half_away(x);
//	}
//
// every product and sum rounded to double (no fused multiply-add), x
// rounded by truncation plus one when the fraction is 0.5 or more; a NaN
// x gives 0.
void crd_blend(const float *r, const float *g, const float *b, const float *m, int n, double lo, double hi, double keep,
               const double *heat, unsigned char *dst, int step);

// crd_resize_plane is package preprocess's resize of one w x h plane src to
// the cw x ch window: a horizontal pass into tmp (h x cw), then a vertical
// one into out (ch x cw), normalised. Output column x sums the xn[x] taps
// from source column xs[x], with weights xw[k*cw + x] (k < xn[x] <= xstep
// <= 64); output row y sums the yn[y] rows of tmp from ys[y], with weights
// yw[y*ystep + k]. The reference loops:
//
//	tmp[y*cw + x] = 0 + xw[0*cw + x] * src[y*w + xs[x]] + ... (xn[x] taps, in order)
//	v = 0 + yw[y*ystep] * tmp[ys[y]*cw + x] + ...           (yn[y] taps, in order)
//	out[y*cw + x] = (v - mean) * inv
//
// every product and sum rounded to float32 (no fused multiply-add).
void crd_resize_plane(const float *src, int w, int h, const int *xs, const int *xn, const float *xw, int xstep, int cw,
                      const int *ys, const int *yn, const float *yw, int ystep, int ch, float mean, float inv,
                      float *tmp, float *out);

// crd_resize_bilinear resizes n planes of H x W (x, one after the other) to
// h x w (dst) bilinearly with the taps given per axis: each source row's
// outputs first, into rows (H x w scratch), then the blend of two of those
// rows. The reference loops, for each plane:
//
//	rows[sy*w + ox] = wx0[ox] * src[sy*W + xi0[ox]] + wx1[ox] * src[sy*W + xi1[ox]];
//	out[oy*w + ox] = wy0[oy] * rows[yi0[oy]*w + ox] + wy1[oy] * rows[yi1[oy]*w + ox];
//
// every product and sum rounded to float32 (no fused multiply-add).
void crd_resize_bilinear(const float *x, int n, int H, int W, int h, int w, const int *yi0, const int *yi1,
                         const float *wy0, const float *wy1, const int *xi0, const int *xi1, const float *wx0,
                         const float *wx1, float *rows, float *dst);

// crd_sgemm_rows is crd_sgemm_conv with A given row by row: row i (i < m)
// holds part p at x + rowoff[i] + xoff[p] (the part's indices contiguous
// there) when rowoff[i] >= 0, else at g + (-1 - rowoff[i])*ldg + pk[p] (a
// row gathered into g): for convolutions whose tiles of 12 output pixels
// are not evenly spaced in the input (they cross an output row), with the
// pixels whose windows reach the padding gathered. The reference loop is
// crd_sgemm_epi's (alpha = 1, beta1 = 0) with, for 0 <= j < pk[p+1] - pk[p],
// A[i][pk[p] + j] = rowoff[i] >= 0 ? x[rowoff[i] + xoff[p] + j] : g[(-1 - rowoff[i])*ldg + pk[p] + j].
void crd_sgemm_rows(int m, int n, const float *pb, const int *pk, int nparts, const float *x, const long *xoff,
                    const long *rowoff, const float *g, long ldg, const float *res, long ldr, const float *bias, int relu,
                    float *C, long ldc, int q0, int q1);

#endif
