package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// logEvery is how often a progress line is printed when stderr is not a
// terminal (a log file, CI, a service manager).
const logEvery = 5 * time.Second

// progress reports the progress of each stage on stderr: one redrawn bar
// when stderr is a terminal, else a plain line every logEvery and when the
// stage ends; nothing with --quiet.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	on       bool
	terminal bool
	every    time.Duration
	stage    string
	start    time.Time
	lastDraw time.Time
}

func newProgress(quiet bool) *progress {
	terminal := false
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		terminal = true
	}
	return &progress{w: os.Stderr, on: !quiet, terminal: terminal, every: logEvery}
}

// update is a detector.Stage.
func (p *progress) update(stage string, done, total int) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	first := stage != p.stage
	if first {
		if p.stage != "" && p.terminal {
			fmt.Fprintln(p.w)
		}
		p.stage, p.start = stage, now
	}
	eta := ""
	if done > 0 && done < total {
		left := time.Duration(float64(now.Sub(p.start)) / float64(done) * float64(total-done))
		eta = " eta " + left.Round(time.Second).String()
	}
	if !p.terminal {
		if !first && done < total && now.Sub(p.lastDraw) < p.every {
			return
		}
		p.lastDraw = now
		fmt.Fprintf(p.w, "%s: %d/%d%s\n", stage, done, total, eta)
		return
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
	fmt.Fprintf(p.w, "\r%-10s [%s%s] %d/%d%s   ", stage, strings.Repeat("=", n), strings.Repeat(" ", width-n), done, total, eta)
}

// done ends the current line.
func (p *progress) done() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stage != "" && p.terminal {
		fmt.Fprintln(p.w)
	}
	p.stage = ""
}
