package main

import (
	"errors"
	"testing"

	"github.com/crd-ad/crd/detector"
)

// TestOrderedWriter checks that results are emitted in order, synchronously
// or from the writer goroutine, and that the first error stops the rest.
func TestOrderedWriter(t *testing.T) {
	for _, async := range []bool{false, true} {
		var got []int
		w := newOrderedWriter(func(r *detector.Result, _ prediction) error {
			got = append(got, r.Index)
			return nil
		}, async)
		for i := range 20 {
			if err := w.add(&detector.Result{Index: i}, prediction{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.close(); err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("async %v: emitted %v, want 0..19 in order", async, got)
			}
		}
		if len(got) != 20 {
			t.Fatalf("async %v: %d results emitted, want 20", async, len(got))
		}

		boom := errors.New("disk full")
		emitted := 0
		w = newOrderedWriter(func(r *detector.Result, _ prediction) error {
			emitted++
			if r.Index == 3 {
				return boom
			}
			return nil
		}, async)
		var addErr error
		for i := 0; i < 50 && addErr == nil; i++ {
			addErr = w.add(&detector.Result{Index: i}, prediction{})
		}
		if err := w.close(); !errors.Is(err, boom) {
			t.Errorf("async %v: close returned %v, want the emit error", async, err)
		}
		if !errors.Is(addErr, boom) {
			t.Errorf("async %v: add went on after the error (last add: %v)", async, addErr)
		}
		if emitted != 4 {
			t.Errorf("async %v: %d results emitted, want 4 (none after the error)", async, emitted)
		}
	}
}
