package knn

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/crd-ad/crd/internal/avx512"
	"github.com/crd-ad/crd/internal/blas"
	"github.com/crd-ad/crd/internal/kernels"
)

// scratchBytes bounds the GEMM output block of one Score call (bank chunk
// rows x p float32), so that the running-minimum pass reads it from cache.
// A variable so that tests can force several chunks.
var scratchBytes = 2 << 20

// Model is a PatchCore memory bank ready for scoring: M rows m_j of dimension
// d (float32, row-major) and their squared norms ||m_j||^2. A patch feature x
// scores min_j ||x - m_j||.
//
// Score is safe for concurrent use; the Model must not be modified meanwhile.
type Model struct {
	d     int
	bank  []float32 // M x d
	norms []float32 // M

	// ratio, patches and images describe how the bank was made: the coreset
	// ratio, the bank size before selection and the number of training
	// images.
	ratio           float64
	patches, images int64

	pool sync.Pool // *scoreScratch

	// kern chooses the distance products (kernels.Nearest; the zero Set:
	// kernels.Detected).
	kern kernels.Set
}

type scoreScratch struct {
	pb   avx512.PackedB // y packed once for all chunks, where the AVX-512 kernel runs
	c    []float32      // chunk x p products, then partial squared distances
	mins []float32      // p running minima of ||m||^2 - 2 x.m
	xn   []float64      // p squared norms of the query patches
}

// NewModel wraps an M x d row-major bank (kept, not copied) and computes its
// squared norms. It panics if len(bank) is not a positive multiple of d.
func NewModel(d int, bank []float32) *Model {
	if d <= 0 || len(bank) == 0 || len(bank)%d != 0 {
		panic(fmt.Sprintf("knn: NewModel: %d values are not a bank of %d-dimensional rows", len(bank), d))
	}
	m := &Model{d: d, bank: bank, ratio: 1, patches: int64(len(bank) / d)}
	m.norms = make([]float32, len(bank)/d)
	for j := range m.norms {
		var s float64
		for _, v := range bank[j*d : (j+1)*d] {
			s += float64(v) * float64(v)
		}
		m.norms[j] = float32(s)
	}
	return m
}

// Build selects the coreset of the bank (see Coreset) and returns the model
// of the selected rows. The builder hands its bank over and is left empty:
// with opt.Ratio = 1 the model keeps the bank without a copy; otherwise the
// selected rows are copied out and the bank becomes garbage. Build returns
// an error for a bad ratio, an empty bank, or ctx's error if cancelled.
func (b *BankBuilder) Build(ctx context.Context, opt CoresetOptions) (*Model, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	if b.Len() == 0 {
		return nil, fmt.Errorf("knn: the memory bank is empty: no training patches were added")
	}
	rows, n, images := b.take()
	d := b.d
	var sel []float32
	if CoresetSize(n, opt.Ratio) == n {
		sel = rows
	} else {
		idx, err := Coreset(ctx, rows, n, d, opt)
		if err != nil {
			return nil, err
		}
		sel = make([]float32, len(idx)*d)
		for i, j := range idx {
			copy(sel[i*d:(i+1)*d], rows[j*d:(j+1)*d])
		}
	}
	m := NewModel(d, sel)
	m.ratio, m.patches, m.images = opt.Ratio, int64(n), int64(images)
	return m, nil
}

// D is the patch-feature dimension.
func (m *Model) D() int { return m.d }

// Len is the number of bank rows M.
func (m *Model) Len() int { return len(m.norms) }

// Bank returns the M x d row-major bank (shared, not copied).
func (m *Model) Bank() []float32 { return m.bank }

// Ratio is the coreset ratio the bank was selected with (1: the whole bank).
func (m *Model) Ratio() float64 { return m.ratio }

// NumPatches is the bank size before coreset selection.
func (m *Model) NumPatches() int64 { return m.patches }

// NumImages is the number of training images the bank was built from (0 if
// unknown).
func (m *Model) NumImages() int64 { return m.images }

// Score writes into out the p patch scores of one image: the Euclidean
// distance of each patch feature to its nearest bank row. y is the image's
// d x p row-major feature map (column j is patch j). The products x.m_j are
// float32 GEMMs over chunks of bank rows; the squared distance
// ||x||^2 + ||m||^2 - 2 x.m is clamped at 0 before the square root, as in
// anomalib. Score panics if len(y) != d*p or len(out) != p.
//
// Score is safe for concurrent use and does not allocate once its pooled
// scratch has grown to the largest p seen.
func (m *Model) Score(y []float32, p int, out []float32) {
	d := m.d
	if p < 0 || len(y) != d*p || len(out) != p {
		panic(fmt.Sprintf("knn: Score: %d values and %d outputs do not fit a %d x %d feature map", len(y), len(out), d, p))
	}
	if p == 0 {
		return
	}
	rowsPer := max(1, min(m.Len(), scratchBytes/(4*p)))
	s := m.scratch(rowsPer*p, p)
	defer m.pool.Put(s)

	xn := s.xn[:p]
	clear(xn)
	for c := 0; c < d; c++ {
		row := y[c*p : (c+1)*p : (c+1)*p]
		for j, v := range row {
			xn[j] += float64(v) * float64(v)
		}
	}
	mins := s.mins[:p]
	for j := range mins {
		mins[j] = float32(math.Inf(1))
	}
	useAVX512 := m.kern.UsesAVX512(kernels.Nearest)
	if useAVX512 {
		s.pb.Pack(d, p, y, p)
	}
	for r0 := 0; r0 < m.Len(); r0 += rowsPer {
		rows := min(rowsPer, m.Len()-r0)
		c := s.c[:rows*p]
		if useAVX512 {
			s.pb.Mul(rows, -2, m.bank[r0*d:], d, false, c, p)
		} else {
			blas.Sgemm(false, false, rows, p, d, -2, m.bank[r0*d:], d, y, p, 0, c, p)
		}
		for r, nm := range m.norms[r0 : r0+rows] {
			runningMin(mins, c[r*p:(r+1)*p], nm)
		}
	}
	for j, v := range mins {
		out[j] = float32(math.Sqrt(max(0, xn[j]+float64(v))))
	}
}

// runningMin sets mins[j] = min(mins[j], row[j] + a).
func runningMin(mins, row []float32, a float32) {
	row = row[:len(mins)]
	for j, v := range row {
		mins[j] = min(mins[j], v+a)
	}
}

func (m *Model) scratch(nc, p int) *scoreScratch {
	s, _ := m.pool.Get().(*scoreScratch)
	if s == nil {
		s = new(scoreScratch)
	}
	if cap(s.c) < nc {
		s.c = make([]float32, nc)
	}
	if cap(s.mins) < p {
		s.mins = make([]float32, p)
		s.xn = make([]float64, p)
	}
	s.c, s.mins, s.xn = s.c[:cap(s.c)], s.mins[:cap(s.mins)], s.xn[:cap(s.xn)]
	return s
}
