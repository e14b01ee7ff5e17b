package detector

import (
	"slices"

	"github.com/crd-ad/crd/dataset"
)

// readableHoldout makes sure, before any training, that the held-out images
// can be read: each unreadable one is reported through warn and replaced by
// the next training image that reads, so that an unlucky split cannot make
// calibration fail after the whole training. It returns the new split; the
// training part keeps its order, minus the images moved out. Unreadable
// training images are left for the extractor to report.
func readableHoldout(train, held []string, limits dataset.Limits, warn func(error)) ([]string, []string) {
	if len(held) == 0 {
		return train, held
	}
	var keep []string
	next := len(train) // training images are taken from the end
	for _, p := range held {
		if _, err := limits.LoadImage(p); err == nil {
			keep = append(keep, p)
			continue
		} else if warn != nil {
			warn(err)
		}
		for next > 1 { // leave at least one training image
			next--
			if _, err := limits.LoadImage(train[next]); err == nil {
				keep = append(keep, train[next])
				break
			}
		}
	}
	rest := train[:next:next]
	if next < len(train) {
		// Unreadable training images skipped while looking stay in the
		// training set, where the extractor warns about them.
		for _, p := range train[next:] {
			if !slices.Contains(keep, p) {
				rest = append(rest, p)
			}
		}
	}
	return rest, keep
}
