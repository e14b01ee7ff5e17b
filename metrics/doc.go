// Package metrics computes the evaluation metrics of visual anomaly detection
// the way the field computes them (scikit-learn, anomalib and the official
// MVTec AD evaluation code): image and pixel AUROC, F1-max, the PRO curve and
// its normalised area AUPRO, and confusion counts at a threshold.
//
// Every curve is exact: thresholds are all the distinct scores, swept in
// descending order after one sort, and tied scores form a single step of the
// curve, as in scikit-learn's roc_curve and precision_recall_curve. A sample
// is predicted anomalous when its score is >= the threshold.
//
// Image-level metrics take []float64 scores. Pixel-level metrics go through a
// PixelSet, which accumulates the anomaly maps and ground-truth masks of many
// images in about 4 bytes per normal pixel and 8 bytes per defect pixel, and
// computes AUROC, F1-max and AUPRO from one radix sort.
//
// Bad data (no samples, one class only, NaN scores, masks without defects) is
// reported as an error wrapping one of the Err values below. Mismatched
// lengths are programmer errors and panic.
package metrics

import "errors"

var (
	// ErrEmpty is returned when there are no samples.
	ErrEmpty = errors.New("metrics: no samples")
	// ErrOneClass is returned when a metric needs both normal and anomalous
	// samples and one of the two classes is missing.
	ErrOneClass = errors.New("metrics: only one class present")
	// ErrNaN is returned when a score is NaN.
	ErrNaN = errors.New("metrics: NaN score")
	// ErrNoRegion is returned by AUPRO when the masks hold no defect pixel.
	ErrNoRegion = errors.New("metrics: no defect region in the ground-truth masks")
)
