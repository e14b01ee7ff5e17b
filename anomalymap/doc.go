// Package anomalymap turns a grid of patch scores into a pixel anomaly map, the
// way PatchCore and anomalib do: the grid is resized to the image size and
// smoothed with a Gaussian blur (sigma 4, kernel 33, reflect padding).
//
// Resizing follows PyTorch's F.interpolate without antialiasing: bilinear
// with align_corners=False, or the legacy "nearest" mode. The blur follows
// anomalib's GaussianBlur2d (a kornia Gaussian kernel normalised to sum 1 of
// size 2*int(4*sigma+0.5)+1, PyTorch "reflect" padding), computed as two 1-D
// passes. Grids and maps are values of type Map: single-channel float32,
// row-major, with their width and height.
//
// The reference implementations differ in two details, and Options selects
// them. Upsampling: the PatchCore paper's code (and docs/method.md in this
// repository) is bilinear, anomalib's PatchCore AnomalyMapGenerator calls F.interpolate
// with its default mode, nearest. Blur borders: anomalib pads with PyTorch's
// "reflect" (edge pixel not repeated), the PatchCore paper's code calls
// scipy.ndimage.gaussian_filter, whose "reflect" repeats the edge pixel
// (Symmetric here). Map and DefaultOptions follow docs/method.md: bilinear
// and PyTorch reflect.
//
// Shape mismatches (a Map whose Pix does not hold W*H values, a
// non-positive size) are programmer errors and panic.
package anomalymap
