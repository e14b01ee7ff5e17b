package main

import (
	"github.com/crd-ad/crd/internal/kernels"
	"github.com/crd-ad/crd/nn"
)

// precisionRuns says how the convolutions run in precision p on this
// machine: float32, the bf16 kernel, or the bf16 emulation.
func precisionRuns(p nn.Precision) string {
	switch {
	case p == nn.Float32:
		return "float32"
	case kernels.Detected().UsesAVX512(kernels.ConvBF16):
		return "bf16 on the AVX512_BF16 kernel (vdpbf16ps)"
	}
	return "bf16 emulated (operands rounded to bf16, float32 products: no AVX512_BF16 kernel here)"
}

// bf16Runs is precisionRuns for a model not in float32, "" for one in
// float32 (crd info's output for it is as before).
func bf16Runs(p nn.Precision) string {
	if p == nn.Float32 {
		return ""
	}
	return precisionRuns(p)
}
