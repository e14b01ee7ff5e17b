package backbone

import (
	"fmt"

	"github.com/crd-ad/crd/nn"
)

// PrecisionSetter is implemented by backbones whose convolutions can run
// in another precision than float32 (all the registered ones).
type PrecisionSetter interface {
	// SetPrecision sets the precision of every convolution of the trunk
	// (nn.Conv2D.SetPrecision).
	SetPrecision(p nn.Precision)
}

// SetPrecision sets the precision of b's convolutions. Float32 needs
// nothing of b; another precision is an error for a backbone that is not a
// PrecisionSetter.
func SetPrecision(b Backbone, p nn.Precision) error {
	s, ok := b.(PrecisionSetter)
	if !ok {
		if p == nn.Float32 {
			return nil
		}
		return fmt.Errorf("backbone %s cannot run in %s precision", b.Info().Name, p)
	}
	s.SetPrecision(p)
	return nil
}

// SetPrecision sets the precision of every convolution.
func (b *inception) SetPrecision(p nn.Precision) {
	for _, c := range b.convs {
		if c != nil {
			c.SetPrecision(p)
		}
	}
}

// SetPrecision sets the precision of every convolution.
func (r *resNet) SetPrecision(p nn.Precision) {
	r.stem.SetPrecision(p)
	for _, l := range r.layers {
		for _, b := range l {
			for _, c := range b.convs {
				c.SetPrecision(p)
			}
			if b.down != nil {
				b.down.SetPrecision(p)
			}
		}
	}
}
