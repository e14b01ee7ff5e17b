package knn_test

import (
	"context"
	"fmt"

	"github.com/crd-ad/crd/knn"
)

// A memory bank of two 2-dimensional "images" with three patches each,
// thinned to half by the greedy coreset, scores a query image's patches by
// their distance to the nearest kept patch.
func Example() {
	const d, p = 2, 3
	b := knn.NewBankBuilder(d, 2*p)
	// Feature maps are d x p: row c holds channel c of every patch.
	b.Add([]float32{0, 1, 0, 0, 0, 1}, p) // patches (0,0) (1,0) (0,1)
	b.Add([]float32{5, 5, 0, 5, 6, 0}, p) // patches (5,5) (5,6) (0,0)
	m, err := b.Build(context.Background(), knn.CoresetOptions{Ratio: 0.5, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("kept", m.Len(), "of", m.NumPatches(), "patches:", m.Bank())

	query := []float32{0, 5, 3, 0, 5, 4} // patches (0,0) (5,5) (3,4)
	scores := make([]float32, p)
	m.Score(query, p, scores)
	fmt.Printf("%.3f\n", scores)
	// The kept rows are (0,0), (5,6) and (1,0).

	// Output:
	// kept 3 of 6 patches: [0 0 5 6 1 0]
	// [0.000 1.000 2.828]
}
