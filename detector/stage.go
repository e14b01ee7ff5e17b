package detector

import (
	"context"
	"runtime/pprof"
)

// StageLabel is the pprof label key that marks what the extractor and the
// predict path are doing, so that a CPU profile (crd's CRD_CPUPROFILE) splits
// by stage with `go tool pprof -tags` or `-tagfocus=crd_stage=trunk`. The
// values are the Stage* constants. Goroutines started inside a stage inherit
// its label, and so do the long-lived workers of internal/parallel: they keep
// the label of the stage whose work started them (the trunk's, in predict)
// whatever tasks they run later, so with several cores a share of the other
// stages' kernels is counted as the trunk's. For an exact split, profile
// with GOMAXPROCS=1: then every kernel runs on its caller's goroutine.
const StageLabel = "crd_stage"

// Stages of one image's path through the detector, as StageLabel values.
const (
	StageDecode = "decode" // read, decode and preprocess (the loader goroutine)
	StageTrunk  = "trunk"  // the backbone's forward pass
	StageEmbed  = "embed"  // patch features from the feature layers (patchfeat)
	StageScore  = "score"  // patch scores (the method)
	StageMap    = "map"    // normalisation, image score, anomaly map, verdict
	StageOutput = "output" // what the caller does with a result (heat maps, files)
)

// InStage runs f with the goroutine's StageLabel set to stage.
func InStage(ctx context.Context, stage string, f func()) {
	pprof.Do(ctx, pprof.Labels(StageLabel, stage), func(context.Context) { f() })
}
