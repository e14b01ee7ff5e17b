package backbone

import (
	"fmt"
	"testing"
)

// BenchmarkResNetForward times the ResNet trunks at the default 224 x 224 input,
// batch 1 and 8, and reports images/s and the achieved GFLOP/s (2 x conv
// MACs, counted analytically). Compare with testdata/bench_torch.py; run
// with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for that command.
func BenchmarkResNetForward(b *testing.B) {
	for _, name := range []string{"wide_resnet50_2", "resnet18"} {
		a := archByName(b, name)
		info, _ := Lookup(name)
		r, err := newResNet(a, info, formulaWeights(a))
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/batch%d", name, batch), func(b *testing.B) {
				x := fixtureInput(batch, 224, 224)
				if _, err := r.Forward(x); err != nil { // warm the buffers
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					r.Forward(x)
				}
				sec := b.Elapsed().Seconds()
				imgs := float64(b.N * batch)
				b.ReportMetric(imgs/sec, "images/s")
				b.ReportMetric(2*float64(r.MACs(224, 224))*imgs/sec/1e9, "GFLOP/s")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
