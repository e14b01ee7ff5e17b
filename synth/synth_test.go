package synth

import (
	"bytes"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crd-ad/crd/dataset"
)

var small = Options{Seed: 7, Size: 96, NumTrain: 3, NumTestGood: 2, NumPerDefect: 2}

// readTree returns every file under dir keyed by its slash path relative to dir.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestGenerateDeterministic(t *testing.T) {
	root := t.TempDir()
	a, b, c := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")
	if err := Generate(a, small); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(b, 0o755); err != nil { // an existing empty folder is fine
		t.Fatal(err)
	}
	if err := Generate(b, small); err != nil {
		t.Fatal(err)
	}
	other := small
	other.Seed++
	other.NumTrain++ // adding images must not change the others
	if err := Generate(c, other); err != nil {
		t.Fatal(err)
	}
	fa, fb, fc := readTree(t, a), readTree(t, b), readTree(t, c)
	want := small.NumTrain + small.NumTestGood + 2*len(DefectTypes())*small.NumPerDefect
	if len(fa) != want {
		t.Fatalf("%d files, want %d: %v", len(fa), want, keys(fa))
	}
	for name, data := range fa {
		if !bytes.Equal(data, fb[name]) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
		if bytes.Equal(data, fc[name]) && !strings.HasPrefix(name, "ground_truth") {
			t.Errorf("%s is the same for seeds %d and %d", name, small.Seed, other.Seed)
		}
	}
	// Image i of a split depends only on the seed and i, not on the counts.
	d := filepath.Join(root, "d")
	more := small
	more.NumTrain = 5
	if err := Generate(d, more); err != nil {
		t.Fatal(err)
	}
	fd := readTree(t, d)
	if !bytes.Equal(fd["train/good/002.png"], fa["train/good/002.png"]) || len(fd) != want+2 {
		t.Error("adding training images changed existing ones")
	}

	// A non-empty target is refused and left alone.
	if err := Generate(a, small); err == nil || !strings.Contains(err.Error(), a) {
		t.Errorf("non-empty target: error %v", err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(root, "*.tmp-*")); len(leftovers) != 0 {
		t.Errorf("temporary folders left: %v", leftovers)
	}
	if err := Generate(filepath.Join(root, "e"), Options{Size: 10}); err == nil {
		t.Error("size 10 accepted")
	}
}

func keys(m map[string][]byte) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

// TestLayoutLoads checks that the output is a valid MVTec AD category for the dataset package, with masks
// non-empty exactly for the defective images.
func TestLayoutLoads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "synth")
	if err := Generate(dir, small); err != nil {
		t.Fatal(err)
	}
	c, err := dataset.OpenCategory(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Train) != small.NumTrain || len(c.Test) != small.NumTestGood+len(DefectTypes())*small.NumPerDefect ||
		len(c.NoMasks) != 0 || strings.Join(c.Defects, ",") != "missing,scratch,spot" {
		t.Fatalf("category = %+v", c)
	}
	for _, s := range c.Test {
		img, mask, err := dataset.LoadPair(s.Path, s.MaskPath)
		if err != nil {
			t.Fatal(err)
		}
		if img.W != small.Size || img.H != small.Size {
			t.Errorf("%s is %dx%d", s.Path, img.W, img.H)
		}
		if s.Anomalous() != (mask != nil) {
			t.Errorf("%s: defect %q but mask %v", s.Path, s.Defect, s.MaskPath)
		}
		if mask != nil && mask.Count() == 0 {
			t.Errorf("%s: empty mask", s.MaskPath)
		}
	}
}

// TestMaskCoversDefect renders each defective image with its defect-free surface and checks that the mask holds
// exactly the changed pixels: nothing outside it differs, nearly everything inside it does, and visibly so.
func TestMaskCoversDefect(t *testing.T) {
	o := DefaultOptions()
	for k := kindScratch; k <= kindMissing; k++ {
		for idx := 0; idx < 4; idx++ {
			clean, img, mask := render(o, k, idx)
			n := o.Size
			inside, changed, sumDiff := 0, 0, 0.0
			minX, minY, maxX, maxY := n, n, -1, -1
			for i := 0; i < n*n; i++ {
				diff := 0.0
				for c := 0; c < 3; c++ {
					diff = math.Max(diff, math.Abs(float64(img.Pix[4*i+c])-float64(clean.Pix[4*i+c])))
				}
				if mask.Pix[i] == 0 {
					if diff != 0 {
						t.Fatalf("%v %d: pixel %d changed outside the mask", k, idx, i)
					}
					continue
				}
				if mask.Pix[i] != 255 {
					t.Fatalf("mask value %d", mask.Pix[i])
				}
				inside++
				sumDiff += diff
				if diff > 0 {
					changed++
				}
				x, y := i%n, i/n
				minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
			}
			if inside < 20 {
				t.Errorf("%v %d: only %d mask pixels", k, idx, inside)
			}
			if float64(changed) < 0.95*float64(inside) {
				t.Errorf("%v %d: %d of %d mask pixels changed", k, idx, changed, inside)
			}
			// Clearly visible: mean change over the mask at least 25 grey levels.
			if mean := sumDiff / float64(inside); mean < 25 {
				t.Errorf("%v %d: mean change %.1f levels", k, idx, mean)
			}
			// Inside the central part that a 224/256 centre crop keeps.
			if lo, hi := n/16, n-n/16; minX < lo || minY < lo || maxX >= hi || maxY >= hi {
				t.Errorf("%v %d: defect box (%d,%d)-(%d,%d) reaches the border", k, idx, minX, minY, maxX, maxY)
			}
		}
	}
	// Normal kinds: no mask, image is the surface.
	clean, img, mask := render(o, kindTrain, 0)
	if mask != nil || clean != img {
		t.Error("normal image has a defect")
	}
}

func BenchmarkGenerateDefault(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if err := Generate(filepath.Join(b.TempDir(), "s"), DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
}
