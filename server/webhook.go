package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WebhookEvent is the JSON body POSTed to the webhook for each defect.
type WebhookEvent struct {
	Event string `json:"event"` // "defect"
	// Source is "http" or "watch"; File names the watched file (its base
	// name) when Source is "watch".
	Source     string      `json:"source"`
	File       string      `json:"file,omitempty"`
	Prediction *Prediction `json:"prediction"`
}

// notifier delivers webhook events from a bounded buffer on a goroutine of
// its own, so that scoring never waits for the receiver: when the buffer is
// full the event is dropped and counted.
type notifier struct {
	url      string
	client   *http.Client
	log      *slog.Logger
	counts   *prometheus.CounterVec
	events   chan WebhookEvent
	stopped  chan struct{}
	attempts int           // per event
	backoff  time.Duration // before the second attempt, doubling after
	cancel   context.CancelFunc
	ctx      context.Context

	mu     sync.RWMutex // guards closed against sends on a closed channel
	closed bool
}

func newNotifier(url string, log *slog.Logger, counts *prometheus.CounterVec) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	n := &notifier{url: url, client: &http.Client{Timeout: 5 * time.Second}, log: log, counts: counts,
		events: make(chan WebhookEvent, 256), stopped: make(chan struct{}), attempts: 4,
		backoff: 250 * time.Millisecond, ctx: ctx, cancel: cancel}
	go n.run()
	return n
}

// notifyEvent queues an event without blocking.
func (n *notifier) notifyEvent(ev WebhookEvent) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		return
	}
	select {
	case n.events <- ev:
	default:
		n.counts.WithLabelValues("dropped").Inc()
		n.log.Error("webhook buffer full, event dropped", "url", n.url)
	}
}

func (n *notifier) run() {
	defer close(n.stopped)
	for ev := range n.events {
		if err := n.deliver(ev); err != nil {
			n.counts.WithLabelValues("failed").Inc()
			n.log.Error("webhook delivery failed", "url", n.url, "attempts", n.attempts, "err", err)
		} else {
			n.counts.WithLabelValues("ok").Inc()
		}
	}
}

// deliver POSTs ev, retrying with exponential backoff on network errors and
// 5xx or 429 answers, at most n.attempts times.
func (n *notifier) deliver(ev WebhookEvent) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	wait := n.backoff
	for a := 1; ; a++ {
		err = n.post(body)
		if err == nil || a == n.attempts {
			return err
		}
		if _, final := err.(finalError); final {
			return err
		}
		select {
		case <-time.After(wait):
		case <-n.ctx.Done():
			return fmt.Errorf("stopped while retrying: %w", err)
		}
		wait *= 2
	}
}

// finalError is a receiver's answer that retrying will not change (4xx).
type finalError struct{ error }

func (n *notifier) post(body []byte) error {
	req, err := http.NewRequestWithContext(n.ctx, "POST", n.url, bytes.NewReader(body))
	if err != nil {
		return finalError{err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	discard(resp.Body)
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return finalError{fmt.Errorf("webhook answered %s", resp.Status)}
}

// close stops taking events and waits up to grace for the pending ones,
// then abandons the rest.
func (n *notifier) close(grace time.Duration) {
	n.mu.Lock()
	n.closed = true
	close(n.events)
	n.mu.Unlock()
	select {
	case <-n.stopped:
	case <-time.After(grace):
		n.cancel()
		<-n.stopped
	}
	n.cancel()
}
