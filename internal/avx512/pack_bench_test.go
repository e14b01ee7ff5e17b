package avx512

import "testing"

func BenchmarkPackPanels(b *testing.B) {
	const d, k = 1536, 784
	y := randMat(d*k, 1)
	buf := make([]float64, PanelLen(d, k))
	sum := make([]float64, d)
	b.SetBytes(int64(d * k * 12))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for q := 0; q < d/GN; q++ {
			PackPanel(buf, y, d, k, q, sum)
		}
	}
}
