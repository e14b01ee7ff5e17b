package main

import (
	"fmt"
	"os"

	"github.com/crd-ad/crd/dataset"
)

// warnSkipped prints one warning line for the files a folder listing left
// out, if any.
func warnSkipped(skipped []dataset.Skipped) {
	if len(skipped) > 0 {
		fmt.Fprintf(os.Stderr, "warning: %s\n", oneLine(dataset.SkippedSummary(skipped)))
	}
}
