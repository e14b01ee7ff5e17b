package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crd-ad/crd/dataset"
	"github.com/crd-ad/crd/report"
)

// WatchOptions configure Server.Watch.
type WatchOptions struct {
	// Dir is the folder a camera drops images into.
	Dir string
	// Model names the model that scores them ("" for the only one).
	Model string
	// Interval is how often Dir is listed (default 1s). A file is taken
	// once its size and modification time have not changed for one
	// interval, so that half-written files are left alone.
	Interval time.Duration
}

// The watched folder's layout: new images arrive in Dir; a taken image waits
// in processing while it is scored, then moves to ok/ or defect/ beside its
// heat map (or to rejected/ when it is not a readable image). LogName, in
// Dir, gets one JSON line per image.
const (
	processingDir = ".crd-processing"
	// LogName is the watched folder's JSON-lines results log.
	LogName = "crd-results.jsonl"
)

// WatchRecord is one line of the watched folder's log.
type WatchRecord struct {
	Time time.Time `json:"time"`
	// File is the image's name as it arrived; SHA256 its content's hash.
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	// MovedTo and Heatmap are the image's and its heat map's paths
	// relative to the watched folder.
	MovedTo string `json:"moved_to"`
	Heatmap string `json:"heatmap,omitempty"`
	// Error says why a rejected image could not be scored.
	Error      string      `json:"error,omitempty"`
	Prediction *Prediction `json:"prediction,omitempty"`
}

// Watch scores each new complete image file in opts.Dir once, appends the
// result to Dir/crd-results.jsonl and moves the file to Dir/ok or
// Dir/defect beside its heat map, until ctx ends. An image is first moved
// into Dir/.crd-processing; after a crash or restart, images found there
// whose result is already in the log are moved on without being scored
// again, the others are scored. Files are never deleted or overwritten.
func (s *Server) Watch(ctx context.Context, opts WatchOptions) error {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	st, err := s.station(opts.Model)
	if err != nil {
		return fmt.Errorf("watch %s: %w", opts.Dir, err)
	}
	w := &watcher{s: s, st: st, dir: opts.Dir}
	for _, sub := range []string{processingDir, "ok", "defect", "rejected"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, sub), 0o755); err != nil {
			return fmt.Errorf("watch: %w", err)
		}
	}
	if err := w.recover(ctx); err != nil {
		return err
	}
	seen := map[string]fileStamp{}
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		ents, err := os.ReadDir(opts.Dir)
		if err != nil {
			return fmt.Errorf("watch: %w", err)
		}
		next := map[string]fileStamp{}
		for _, e := range ents {
			name := e.Name()
			if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || !dataset.IsImageFile(name) {
				continue
			}
			now, err := stampOf(filepath.Join(opts.Dir, name))
			if err != nil {
				continue
			}
			if prev, ok := seen[name]; !ok || prev != now {
				next[name] = now // new or still growing: look again next time
				continue
			}
			if err := w.take(ctx, name); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		seen = next
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

type watcher struct {
	s   *Server
	st  *station
	dir string
}

// take moves name into processing and handles it.
func (w *watcher) take(ctx context.Context, name string) error {
	dst, err := uniquePath(filepath.Join(w.dir, processingDir), name)
	if err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(w.dir, name), dst); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	return w.handle(ctx, dst, name)
}

// recover finishes the images left in processing by an earlier run.
func (w *watcher) recover(ctx context.Context) error {
	ents, err := os.ReadDir(filepath.Join(w.dir, processingDir))
	if err != nil || len(ents) == 0 {
		return err
	}
	done, err := readLog(filepath.Join(w.dir, LogName))
	if err != nil {
		return err
	}
	for _, e := range ents {
		path := filepath.Join(w.dir, processingDir, e.Name())
		sum, err := fileSHA(path)
		if err != nil {
			return err
		}
		if rec, ok := done[e.Name()+" "+sum]; ok { // scored, not yet moved
			if err := w.move(path, rec.MovedTo); err != nil {
				return err
			}
			w.s.log.Info("watch: moved an image scored before a restart", "file", e.Name(), "to", rec.MovedTo)
			continue
		}
		if err := w.handle(ctx, path, e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// readLog indexes the log's records by "file sha256".
func readLog(path string) (map[string]WatchRecord, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	defer f.Close()
	out := map[string]WatchRecord{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var r WatchRecord
		if json.Unmarshal(sc.Bytes(), &r) == nil { // a torn last line is skipped
			out[r.File+" "+r.SHA256] = r
		}
	}
	return out, sc.Err()
}

func fileSHA(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("watch: %w", err)
	}
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:]), nil
}

// handle scores the image at path (in processing), writes its heat map,
// logs it and moves it on.
func (w *watcher) handle(ctx context.Context, path, name string) error {
	t0 := time.Now()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	h := sha256.Sum256(data)
	rec := WatchRecord{File: name, SHA256: hex.EncodeToString(h[:])}
	var v *scored
	img, err := decodeImage(data, w.s.opts.Limits)
	if err == nil {
		v, err = w.scoreWaiting(ctx, img)
		if ctx.Err() != nil {
			return ctx.Err() // stays in processing; scored after the restart
		}
	}
	sub := "rejected"
	if err != nil {
		rec.Error = err.Error()
		w.s.metrics.watched.WithLabelValues("rejected").Inc()
		w.s.log.Error("watch: image rejected", "file", name, "err", err)
	} else {
		sub = "ok"
		if v.v.Defect {
			sub = "defect"
		}
		rec.Prediction = w.s.prediction(v.v, v.info, img, t0)
		w.s.metrics.watched.WithLabelValues(sub).Inc()
	}
	dst, err := uniquePath(filepath.Join(w.dir, sub), name)
	if err != nil {
		return err
	}
	rec.MovedTo, _ = filepath.Rel(w.dir, dst)
	if rec.Prediction != nil {
		stem := strings.TrimSuffix(filepath.Base(dst), filepath.Ext(dst))
		hm, err := uniquePath(filepath.Join(w.dir, sub), stem+"_heatmap.png")
		if err != nil {
			return err
		}
		if err := writePNGAtomic(hm, v.v); err != nil {
			return err
		}
		rec.Heatmap, _ = filepath.Rel(w.dir, hm)
	}
	rec.Time = time.Now().UTC()
	if err := appendLog(filepath.Join(w.dir, LogName), rec); err != nil {
		return err
	}
	if err := w.move(path, rec.MovedTo); err != nil {
		return err
	}
	if rec.Prediction != nil {
		w.s.record(rec.Prediction, thumbnail(img), "watch", rec.MovedTo)
	}
	return nil
}

// scored is a verdict with the model version that gave it.
type scored struct {
	v    *verdict
	info ModelInfo
}

// scoreWaiting scores img, waiting for room in the queue rather than
// giving up (the folder is not a client that can retry).
func (w *watcher) scoreWaiting(ctx context.Context, img *dataset.RGB) (*scored, error) {
	for {
		release, err := w.st.admit()
		if err == nil {
			v, info, err := w.s.score(ctx, w.st, img)
			release()
			var he *httpError
			if !errors.As(err, &he) || he.code != 503 {
				if err != nil {
					return nil, err
				}
				return &scored{v, info}, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// move renames path to rel (relative to the watched folder), never over an
// existing file.
func (w *watcher) move(path, rel string) error {
	dst := filepath.Join(w.dir, rel)
	if _, err := os.Lstat(dst); err == nil {
		if dst, err = uniquePath(filepath.Dir(dst), filepath.Base(dst)); err != nil {
			return err
		}
	}
	if err := os.Rename(path, dst); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	return nil
}

// uniquePath returns dir/name, or dir/stem-N.ext for the first N that is
// free.
func uniquePath(dir, name string) (string, error) {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for n := 0; n < 100000; n++ {
		p := filepath.Join(dir, name)
		if n > 0 {
			p = filepath.Join(dir, fmt.Sprintf("%s-%d%s", stem, n, ext))
		}
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p, nil
		}
	}
	return "", fmt.Errorf("watch: no free name for %s in %s", name, dir)
}

func writePNGAtomic(path string, v *verdict) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	err = report.EncodePNG(f, v.heatmap())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("watch: heat map %s: %w", path, err)
	}
	return nil
}

// appendLog appends rec as one JSON line and syncs the file.
func appendLog(path string, rec WatchRecord) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("watch: log %s: %w", path, err)
	}
	return nil
}
