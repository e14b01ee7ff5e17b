package detector

import (
	"github.com/crd-ad/crd/backbone"
	"github.com/crd-ad/crd/nn"
)

// SetPrecision sets the arithmetic of the extractor's backbone
// (backbone.SetPrecision). Call it before the first Run.
func (e *Extractor) SetPrecision(p nn.Precision) error {
	e.net.Lock()
	defer e.net.Unlock()
	return backbone.SetPrecision(e.Net, p)
}
