package backbone

import (
	"slices"
	"testing"

	"github.com/crd-ad/crd/nn"
)

// TestForwardProfile checks, for every registered backbone with random
// weights, that the profiled pass returns what Forward returns, that its
// convolution steps add up to the trunk's multiply-accumulates, and that
// every step has a kind, a name and an output shape.
func TestForwardProfile(t *testing.T) {
	for _, name := range Names() {
		net, err := NewRandom(name, 3)
		if err != nil {
			t.Fatal(err)
		}
		info := net.Info()
		side := max(info.MinInput, 80)
		x := nn.NewTensor(2, 3, side, side)
		for i := range x.Data {
			x.Data[i] = float32(i%97)/97 - 0.5
		}
		plain, err := net.Forward(x)
		if err != nil {
			t.Fatal(err)
		}
		var want [][]float32
		for _, o := range plain {
			want = append(want, slices.Clone(o.Data))
		}
		var steps []LayerTime
		got, err := net.(Profiler).ForwardProfile(x, func(l LayerTime) { steps = append(steps, l) })
		if err != nil {
			t.Fatal(err)
		}
		for k := range got {
			if !slices.Equal(got[k].Data, want[k]) {
				t.Errorf("%s: profiled output %d differs from Forward's", name, k)
			}
		}
		var macs int64
		kinds := map[string]int{}
		for _, s := range steps {
			if s.Name == "" || s.Out == "" || s.Time < 0 {
				t.Errorf("%s: incomplete step %+v", name, s)
			}
			kinds[s.Kind]++
			macs += s.MACs
		}
		want2 := 2 * net.(interface{ MACs(h, w int) int64 }).MACs(side, side)
		if macs != want2 {
			t.Errorf("%s: steps add up to %d MACs for 2 images, the trunk has %d", name, macs, want2)
		}
		if kinds["conv"] == 0 || kinds["layout"] < 2 || kinds["maxpool"] == 0 {
			t.Errorf("%s: step kinds %v", name, kinds)
		}
		if name == InceptionName && (kinds["concat"] == 0 || kinds["avgpool"] == 0) {
			t.Errorf("%s: step kinds %v, want concats and average pools", name, kinds)
		}
	}
}
