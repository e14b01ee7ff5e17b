package server

import "testing"

func TestPercentile(t *testing.T) {
	v := []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	for _, c := range []struct{ q, want float64 }{{0, 10}, {0.1, 10}, {0.11, 20}, {0.5, 50}, {0.95, 100}, {0.99, 100}, {1, 100}} {
		if got := Percentile(v, c.q); got != c.want {
			t.Errorf("Percentile(%g) = %g, want %g", c.q, got, c.want)
		}
	}
	if Percentile(nil, 0.5) != 0 {
		t.Error("Percentile of nothing")
	}
}

func TestRecentKeepsTheLast(t *testing.T) {
	rc := newRecent(3, 4)
	for i := range 5 {
		rc.add(&Prediction{LatencyMs: float64(i + 1), Defect: i%2 == 0, Heatmap: "big"}, "thumb")
	}
	items, st := rc.since(3)
	if len(items) != 2 || items[0].ID != 4 || items[1].ID != 5 || items[0].Heatmap != "" {
		t.Fatalf("items %+v", items)
	}
	// Latencies 2..5 are kept (ring of 4); 3 of 5 are defects.
	if st.Predictions != 5 || st.Defects != 3 || st.DefectRate != 0.6 || st.P50Ms != 3 || st.P99Ms != 5 {
		t.Fatalf("stats %+v", st)
	}
}
