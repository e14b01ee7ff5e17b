package detector_test

import (
	"testing"
	"time"

	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/nn"
)

func TestZBackbone(t *testing.T) {
	b, err := backbone.Load("inception_v3")
	if err != nil {
		t.Fatal(err)
	}
	x := nn.NewTensor(1, 3, 299, 299)
	t1 := time.Now()
	b.(backbone.NHWCForwarder).ForwardNHWC(x)
	t2 := time.Now()
	b.(backbone.NHWCForwarder).ForwardNHWC(x)
	t.Logf("first forward %v, second %v", t2.Sub(t1), time.Since(t2))
}
