package metrics

// labeller finds the 8-connected components of binary masks, the regions of
// the PRO metric. The official MVTec AD evaluation code labels ground truth
// with scipy.ndimage.label and a 3x3 all-ones structuring element, that is
// 8-connectivity; anomalib's AUPRO uses OpenCV / kornia connected components,
// also 8-connected. The scratch buffers are reused between calls.
type labeller struct {
	labels []int32 // 0 = background, k = pixel belongs to region k (1-based)
	stack  []int32
}

// label labels the h x w mask (h = len(mask) / w) and returns the label of
// each pixel (valid until the next call) and the size of each region: region k
// has sizes[k-1] pixels. Regions are numbered in raster order of their first
// pixel, as scipy.ndimage.label numbers them.
func (l *labeller) label(mask []bool, w int) (labels []int32, sizes []int64) {
	n := len(mask)
	h := n / w
	if cap(l.labels) < n {
		l.labels = make([]int32, n)
	}
	labels = l.labels[:n]
	clear(labels)
	for start, m := range mask {
		if !m || labels[start] != 0 {
			continue
		}
		id := int32(len(sizes) + 1)
		labels[start] = id
		stack := append(l.stack[:0], int32(start))
		var size int64
		for len(stack) > 0 {
			p := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			size++
			y, x := p/w, p%w
			for dy := -1; dy <= 1; dy++ {
				yy := y + dy
				if yy < 0 || yy >= h {
					continue
				}
				for dx := -1; dx <= 1; dx++ {
					xx := x + dx
					if xx < 0 || xx >= w {
						continue
					}
					q := yy*w + xx
					if mask[q] && labels[q] == 0 {
						labels[q] = id
						stack = append(stack, int32(q))
					}
				}
			}
		}
		l.stack = stack
		sizes = append(sizes, size)
	}
	return labels, sizes
}
