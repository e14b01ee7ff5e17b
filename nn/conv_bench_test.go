package nn

import (
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/crd-ad/crd/internal/kernels"
)

// cpuSeconds is the process's user and system CPU time: on a shared
// machine, the CPU time per operation varies less than the wall time.
func cpuSeconds() float64 {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return 0
	}
	return float64(u.Utime.Nano()+u.Stime.Nano()) / 1e9
}

// BenchmarkConv times Forward on convolution shapes of the trunks (random
// weights), on the detected kernels: wide_resnet50_2's layer1 and layer3
// 3x3 convolutions at batch 1, and inception_v3's 1x1 branch heads on its
// 35x35 and 17x17 maps at batch 8, and its 17x17-output convolutions (the
// stride-2 3x3s, the 1x7s and 7x1s, the 768-channel 1x1s) at batch 1.
func BenchmarkConv(b *testing.B) {
	for _, s := range []struct {
		name         string
		n, h, w, cin int
		cout         int
		win          Window
	}{
		{"wrn_layer1_3x3_b1", 1, 56, 56, 128, 128, Square(3, 1, 1)},
		{"r18_layer1_3x3_b1", 1, 56, 56, 64, 64, Square(3, 1, 1)},
		{"inc_147_3x3_32_64_b1", 1, 147, 147, 32, 64, Square(3, 1, 1)},
		{"wrn_layer3_3x3_b1", 1, 14, 14, 512, 512, Square(3, 1, 1)},
		{"wrn_layer3_1x1_b1", 1, 14, 14, 1024, 512, Square(1, 1, 0)},
		{"inc_35_1x1_192_64_b8", 8, 35, 35, 192, 64, Square(1, 1, 0)},
		{"inc_17_1x1_768_192_b8", 8, 17, 17, 768, 192, Square(1, 1, 0)},
		{"inc_35_3x3_64_96_b1", 1, 35, 35, 64, 96, Square(3, 1, 1)},
		{"inc_35_5x5_48_64_b1", 1, 35, 35, 48, 64, Square(5, 1, 2)},
		{"inc_35_3x3s2_288_384_b1", 1, 35, 35, 288, 384, Square(3, 2, 0)},
		{"inc_35_3x3s2_96_96_b1", 1, 35, 35, 96, 96, Square(3, 2, 0)},
		{"inc_17_1x1_768_192_b1", 1, 17, 17, 768, 192, Square(1, 1, 0)},
		{"inc_17_1x7_128_128_b1", 1, 17, 17, 128, 128, Window{KH: 1, KW: 7, StrideH: 1, StrideW: 1, PadW: 3}},
		{"inc_17_7x1_128_128_b1", 1, 17, 17, 128, 128, Window{KH: 7, KW: 1, StrideH: 1, StrideW: 1, PadH: 3}},
		{"inc_17_1x7_160_192_b1", 1, 17, 17, 160, 192, Window{KH: 1, KW: 7, StrideH: 1, StrideW: 1, PadW: 3}},
		{"inc_17_7x1_160_160_b1", 1, 17, 17, 160, 160, Window{KH: 7, KW: 1, StrideH: 1, StrideW: 1, PadH: 3}},
		{"inc_17_1x7_128_128_b8", 8, 17, 17, 128, 128, Window{KH: 1, KW: 7, StrideH: 1, StrideW: 1, PadW: 3}},
		{"inc_35_3x3s2_288_384_b8", 8, 35, 35, 288, 384, Square(3, 2, 0)},
	} {
		b.Run(s.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			x := FromNCHW(nil, randTensor(r, s.n, s.cin, s.h, s.w))
			c := NewConv2D(s.cin, s.cout, s.win)
			for i := range c.Weight {
				c.Weight[i] = float32(r.NormFloat64())
			}
			c.ReLU = true
			var ws Workspace
			ws.kern = kernels.Detected()
			out := &NHWC{}
			c.Forward(out, x, &ws)
			cpu0 := cpuSeconds()
			b.ResetTimer()
			for b.Loop() {
				c.Forward(out, x, &ws)
			}
			b.ReportMetric((cpuSeconds()-cpu0)*1e3/float64(b.N), "cpu-ms/op")
			b.ReportMetric(2*float64(s.n)*float64(c.MACs(s.h, s.w))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
