package bench

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestMarkdownOfStoredRun renders the stored ball_screw run and finds the rows that docs/benchmarks.md and
// docs/accuracy.md show, so the published tables and the JSON they come from cannot drift apart.
func TestMarkdownOfStoredRun(t *testing.T) {
	b, err := os.ReadFile("../docs/bench_ball_screw.json")
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	md := Markdown(&r)
	for _, row := range []string{
		"| crd | 1.6 | 4,460,544 | 7.45 | 134 | 89.9 | 97.4 | 67.5 | 85.5 / 88.7 / 42.9 | 1x | 1x |",
		"| knn full bank | 0.5 | 517,930,000 | 1644 | 1767 | 91.0 | 98.4 | 72.2 | 88.1 / 96.0 / 63.6 | 221x slower | 116x larger |",
		"| knn 10% | 13.4 | 51,793,000 | 149 | 283 | 90.5 | 97.8 | 69.8 | 87.2 / 96.3 / 65.0 | 20x slower | 11.6x larger |",
		"| knn 1% | 2.3 | 5,179,300 | 16.2 | 141 | 91.6 | 97.3 | 69.7 | 88.1 / 95.7 / 64.5 | 2.17x slower | 1.16x larger |",
		"| lambda (x trace(G)/d) | 1e-05 | 0.0001 | 0.001 | 0.01 | 0.1 | 1 |",
		"| ball_screw image AUROC | 78.6 | 84.9 | 90.0 | 89.9 | 89.6 | 87.8 |",
		"| ball_screw pixel AUROC | 92.4 | 93.3 | 96.2 | 97.4 | 97.8 | 97.8 |",
		"| ball_screw AUPRO | 53.0 | 55.1 | 64.2 | 67.5 | 69.2 | 69.7 |",
		"| the same, raw scores: image / pixel AUROC | 72.8 / 73.3 | 79.0 / 77.7 | 83.4 / 84.1 | 85.5 / 88.7 | 84.0 / 89.8 | 81.1 / 88.9 |",
	} {
		if !strings.Contains(md, row+"\n") {
			t.Errorf("rendered tables lack\n%s\ngot:\n%s", row, md)
		}
	}
	// The first table is in benchmarks.md, the lambda sweep in accuracy.md, line for line.
	tables := strings.SplitN(md, "\n\n", 2)
	for k, doc := range []string{"../docs/benchmarks.md", "../docs/accuracy.md"} {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), tables[k]) {
			t.Errorf("%s does not show the stored run's table:\n%s", doc, tables[k])
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 517930000: "517,930,000", -1234567: "-1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
