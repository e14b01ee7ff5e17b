package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws one progress line per stage on stderr when it is a
// terminal, and nothing otherwise or with --quiet.
type progress struct {
	mu       sync.Mutex
	on       bool
	stage    string
	start    time.Time
	lastDraw time.Time
}

func newProgress(quiet bool) *progress {
	on := false
	if !quiet {
		if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			on = true
		}
	}
	return &progress{on: on}
}

// update is a detector.Stage.
func (p *progress) update(stage string, done, total int) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if stage != p.stage {
		if p.stage != "" {
			fmt.Fprintln(os.Stderr)
		}
		p.stage, p.start = stage, now
	}
	if done < total && now.Sub(p.lastDraw) < 100*time.Millisecond {
		return
	}
	p.lastDraw = now
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	n := int(frac * width)
	eta := ""
	if done > 0 && done < total {
		left := time.Duration(float64(now.Sub(p.start)) / float64(done) * float64(total-done))
		eta = " eta " + left.Round(time.Second).String()
	}
	fmt.Fprintf(os.Stderr, "\r%-10s [%s%s] %d/%d%s   ", stage, strings.Repeat("=", n), strings.Repeat(" ", width-n), done, total, eta)
}

// done ends the current line.
func (p *progress) done() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stage != "" {
		fmt.Fprintln(os.Stderr)
		p.stage = ""
	}
}
