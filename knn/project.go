package knn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/crd-ad/crd/internal/kernels"
)

// DefaultProjectionDims is the dimension of the random projection that the
// coreset selection works in when CoresetOptions.Dims is 0.
//
// anomalib projects with a SparseRandomProjection whose dimension comes from
// the Johnson-Lindenstrauss bound at eps = 0.9, 4 ln(N) / (eps^2/2 - eps^3/3):
// about 280 dimensions for N = 100k patches. PatchCore's own code uses a dense
// Gaussian projection to 128 dimensions; this package follows the latter.
const DefaultProjectionDims = 128

// projRowChunk is the number of bank rows projected per GEMM call, so that a
// long projection can be cancelled between calls.
const projRowChunk = 8192

// rng is the package's reproducible random source: PCG (the math/rand/v2
// generator, whose output sequence is fixed) seeded with (seed, a constant),
// with uniforms and normals derived here rather than through rand.Rand, whose
// derived distributions are not promised to stay the same across Go
// releases.
type rng struct{ pcg *rand.PCG }

func newRNG(seed uint64) rng { return rng{rand.NewPCG(seed, 0x6b6e6e2d636f7265)} } // "knn-core"

// intN returns a value in [0, n). The modulo bias is below n / 2^64.
func (r rng) intN(n int) int { return int(r.pcg.Uint64() % uint64(n)) }

// uniform returns a value in the open interval (0, 1).
func (r rng) uniform() float64 { return (float64(r.pcg.Uint64()>>11) + 0.5) / (1 << 53) }

// normals fills dst with independent N(0, sd^2) values (Box-Muller).
func (r rng) normals(dst []float32, sd float64) {
	for i := 0; i < len(dst); i += 2 {
		rad := math.Sqrt(-2*math.Log(r.uniform())) * sd
		s, c := math.Sincos(2 * math.Pi * r.uniform())
		dst[i] = float32(rad * c)
		if i+1 < len(dst) {
			dst[i+1] = float32(rad * s)
		}
	}
}

// ProjectionMatrix returns the d x dims row-major Gaussian matrix that
// Project multiplies by, with entries N(0, 1/dims) drawn from the random
// stream of seed right after the coreset's start index (see StartIndex).
func ProjectionMatrix(d, dims int, seed uint64) []float32 {
	if d <= 0 || dims <= 0 {
		panic(fmt.Sprintf("knn: ProjectionMatrix(d=%d, dims=%d): bad size", d, dims))
	}
	r := newRNG(seed)
	r.pcg.Uint64() // the start index's draw
	p := make([]float32, d*dims)
	r.normals(p, 1/math.Sqrt(float64(dims)))
	return p
}

// StartIndex is the first coreset centre for a bank of n rows: the first draw
// of the random stream of seed, reduced to [0, n).
func StartIndex(n int, seed uint64) int {
	if n <= 0 {
		panic("knn: StartIndex of an empty bank")
	}
	return newRNG(seed).intN(n)
}

// Project returns the n x dims row-major projection bank * P of the n x d
// bank, with P = ProjectionMatrix(d, dims, seed). Squared distances between
// projected rows are unbiased estimates of the original squared distances
// (Johnson-Lindenstrauss). It costs 2 n d dims flops, done in float32 GEMMs
// of projRowChunk rows; it returns ctx.Err() if ctx is cancelled between two.
func Project(ctx context.Context, bank []float32, n, d, dims int, seed uint64) ([]float32, error) {
	return project(ctx, kernels.Detected(), bank, n, d, dims, seed)
}

// project is Project with the products on the path kern chooses for
// kernels.Nearest.
func project(ctx context.Context, kern kernels.Set, bank []float32, n, d, dims int, seed uint64) ([]float32, error) {
	if len(bank) != n*d {
		panic(fmt.Sprintf("knn: Project: %d values are not a %d x %d bank", len(bank), n, d))
	}
	p := ProjectionMatrix(d, dims, seed)
	out := make([]float32, n*dims)
	for r0 := 0; r0 < n; r0 += projRowChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rows := min(projRowChunk, n-r0)
		kern.Sgemm(kernels.Nearest, rows, dims, d, 1, bank[r0*d:], d, p, dims, 0, out[r0*dims:], dims)
	}
	return out, nil
}
