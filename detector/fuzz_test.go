package detector

import (
	"testing"

	"github.com/crd-ad/crd/modelfile"
)

// FuzzDecodeHeader: any header, with the arrays of a stored CRD model (or,
// with knn set, of a kNN model), gives a detector or an error; never a
// panic. The seed corpus holds the two models' own headers.
func FuzzDecodeHeader(f *testing.F) {
	files := map[bool]*modelfile.File{}
	for knn, path := range map[bool]string{false: "testdata/crd_v2.crd", true: "testdata/knn_v2.crd"} {
		file, err := modelfile.Read(path)
		if err != nil {
			f.Fatal(err)
		}
		files[knn] = file
	}
	f.Fuzz(func(t *testing.T, header []byte, knn bool) {
		file := *files[knn]
		file.Header = header
		d, err := Decode(&file)
		if err != nil {
			return
		}
		if d.Method == nil || d.Method.Dim() <= 0 {
			t.Fatalf("decoded a detector without a method: %+v", d)
		}
		c := d.Calibration
		if c.PositionMean != nil && len(c.PositionMean) != c.GridH*c.GridW {
			t.Fatalf("%d position means for a %d x %d grid", len(c.PositionMean), c.GridH, c.GridW)
		}
	})
}
