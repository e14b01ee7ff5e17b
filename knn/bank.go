package knn

import (
	"fmt"
	"sync"
)

// BankBuilder accumulates the memory bank: every normal patch feature, one
// per row, in the order they were added. The bank (N x d float32) is the only
// object whose size grows with the number of patches N.
//
// BankBuilder is safe for concurrent use, but the coreset selection depends on
// the row order, so a reproducible model needs a reproducible order of Add
// calls.
type BankBuilder struct {
	mu     sync.Mutex
	d      int
	rows   []float32 // n x d, row-major
	n      int
	images int
}

// NewBankBuilder returns an empty bank for d-dimensional patch features.
// capacity is the expected number of patches (images times patches per
// image, 0 if unknown): with the right capacity the bank is allocated once,
// without the transient copies of a growing slice.
func NewBankBuilder(d, capacity int) *BankBuilder {
	if d <= 0 || capacity < 0 {
		panic(fmt.Sprintf("knn: NewBankBuilder(d=%d, capacity=%d): bad size", d, capacity))
	}
	return &BankBuilder{d: d, rows: make([]float32, 0, capacity*d)}
}

// D is the patch-feature dimension.
func (b *BankBuilder) D() int { return b.d }

// Len is the number of patches in the bank.
func (b *BankBuilder) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// Images is the number of Add calls (images) so far.
func (b *BankBuilder) Images() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.images
}

// Add appends one image's p patch features. y is d x p row-major (a CHW
// feature map with C = d channels and p = H*W positions); its columns become
// p new bank rows. y is not retained. Add panics if len(y) != d*p.
func (b *BankBuilder) Add(y []float32, p int) {
	d := b.d
	if p < 0 || len(y) != d*p {
		panic(fmt.Sprintf("knn: Add: %d values are not a %d x %d feature map", len(y), d, p))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	start := len(b.rows)
	b.rows = grow(b.rows, d*p)
	transpose(b.rows[start:], y, d, p)
	b.n += p
	b.images++
}

// grow extends s by n elements, reallocating with about 25% headroom only
// when the capacity is exhausted.
func grow(s []float32, n int) []float32 {
	if len(s)+n <= cap(s) {
		return s[:len(s)+n]
	}
	t := make([]float32, len(s)+n, len(s)+n+len(s)/4)
	copy(t, s)
	return t
}

// transpose writes the r x c row-major matrix src into dst as c x r, in
// square tiles so that both sides stay in cache.
func transpose(dst, src []float32, r, c int) {
	const tile = 32
	for i0 := 0; i0 < r; i0 += tile {
		i1 := min(i0+tile, r)
		for j0 := 0; j0 < c; j0 += tile {
			j1 := min(j0+tile, c)
			for i := i0; i < i1; i++ {
				row := src[i*c+j0 : i*c+j1]
				for j, v := range row {
					dst[(j0+j)*r+i] = v
				}
			}
		}
	}
}

// take hands the bank over to the caller and empties the builder.
func (b *BankBuilder) take() (rows []float32, n, images int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rows, n, images = b.rows[:b.n*b.d:b.n*b.d], b.n, b.images
	b.rows, b.n, b.images = nil, 0, 0
	return rows, n, images
}
