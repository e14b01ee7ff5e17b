package server

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// readRecords reads the watched folder's log.
func readRecords(t *testing.T, dir string) []WatchRecord {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, LogName))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []WatchRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r WatchRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// runWatch runs Watch until the log has n records, then stops it.
func runWatch(t *testing.T, s *Server, dir string, n int) []WatchRecord {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, WatchOptions{Dir: dir, Interval: 20 * time.Millisecond}) }()
	deadline := time.Now().Add(2 * time.Minute)
	for len(readRecords(t, dir)) < n {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("Watch returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the log has %d records after two minutes, want %d", len(readRecords(t, dir)), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return readRecords(t, dir)
}

func listNames(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func TestWatchFolder(t *testing.T) {
	td := fixture(t)
	s := New(Options{Logger: quiet()})
	if err := s.AddModel("m", td.model); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	good, defect := read(t, td.good), read(t, td.defect)
	for name, data := range map[string][]byte{"a.png": good, "b.png": defect, "junk.png": []byte("not an image"),
		"notes.txt": []byte("left alone"), ".hidden.png": good} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recs := runWatch(t, s, dir, 3)
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3: %+v", len(recs), recs)
	}
	want := directScores(t, td.model, td.good, td.defect)
	byFile := map[string]WatchRecord{}
	for _, r := range recs {
		byFile[r.File] = r
	}
	for i, name := range []string{"a.png", "b.png"} {
		r := byFile[name]
		p := r.Prediction
		if p == nil || p.Score != want[i] && (p.Score-want[i])*(p.Score-want[i]) > 1e-8*want[i]*want[i] {
			t.Fatalf("%s: %+v, want score %g", name, r, want[i])
		}
		sub := map[bool]string{true: "defect", false: "ok"}[p.Defect]
		stem := strings.TrimSuffix(name, ".png")
		if r.MovedTo != sub+"/"+name || r.Heatmap != sub+"/"+stem+"_heatmap.png" {
			t.Errorf("%s: moved to %q with heat map %q, want both in %s/", name, r.MovedTo, r.Heatmap, sub)
		}
	}
	if r := byFile["junk.png"]; r.MovedTo != "rejected/junk.png" || !strings.Contains(r.Error, "unknown image format") {
		t.Errorf("junk: %+v", r)
	}
	files := listNames(t, dir)
	for _, r := range recs {
		for _, f := range []string{r.MovedTo, r.Heatmap} {
			if f != "" && !slices.Contains(files, f) {
				t.Errorf("%s is not in the folder: %v", f, files)
			}
		}
	}
	for _, f := range []string{"notes.txt", ".hidden.png"} {
		if !slices.Contains(files, f) {
			t.Errorf("%s was moved: %v", f, files)
		}
	}

	// A restart finds two images in processing: one whose result is in the
	// log (the crash came before the move), one that was never scored.
	proc := filepath.Join(dir, processingDir)
	a := byFile["a.png"]
	if err := os.Rename(filepath.Join(dir, a.MovedTo), filepath.Join(proc, "a.png")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "c.png"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	// And a new file with a name already used in ok/ or defect/.
	if err := os.WriteFile(filepath.Join(dir, "b.png"), defect, 0o644); err != nil {
		t.Fatal(err)
	}
	recs = runWatch(t, s, dir, 5)
	if len(recs) != 5 || recs[3].File != "c.png" || recs[4].File != "b.png" {
		t.Fatalf("after the restart: %+v", recs)
	}
	files = listNames(t, dir)
	b2 := recs[4]
	if b2.MovedTo == byFile["b.png"].MovedTo || !slices.Contains(files, b2.MovedTo) || !slices.Contains(files, a.MovedTo) {
		t.Errorf("files after the restart: %v; second b.png at %s", files, b2.MovedTo)
	}
	if ents, _ := os.ReadDir(proc); len(ents) != 0 {
		t.Errorf("processing still holds %d files", len(ents))
	}
	// Every image the test wrote is somewhere in the folder: 5 images + 4
	// heat maps + notes.txt + .hidden.png + the log.
	if len(files) != 12 {
		t.Errorf("%d files, want 12: %v", len(files), files)
	}
}
