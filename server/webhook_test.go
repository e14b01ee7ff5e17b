package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// receiver is a local webhook endpoint that fails the first failures
// requests with 500 and records the bodies it accepts.
type receiver struct {
	mu       sync.Mutex
	failures int
	attempts int
	events   []WebhookEvent
	block    chan struct{} // when set, requests wait for it
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc.block != nil {
		select {
		case <-rc.block:
		case <-r.Context().Done():
		}
	}
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	if rc.attempts <= rc.failures {
		w.WriteHeader(500)
		return
	}
	var ev WebhookEvent
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &ev) != nil {
		w.WriteHeader(400)
		return
	}
	rc.events = append(rc.events, ev)
}

func (rc *receiver) snapshot() (int, []WebhookEvent) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.attempts, append([]WebhookEvent(nil), rc.events...)
}

func TestWebhookRetries(t *testing.T) {
	rc := &receiver{failures: 2}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	s := New(Options{Logger: quiet(), Webhook: hook.URL})
	s.hook.backoff = time.Millisecond
	if err := s.addFake("m", &fakeModel{score: 3}); err != nil {
		t.Fatal(err)
	}
	ts := start(t, s)
	code, out, _ := call(t, "POST", ts.URL+"/v1/predict", "image/png", pngBytes(t, 8, 8))
	if code != 200 || out["defect"] != true {
		t.Fatalf("%d %v", code, out)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		attempts, events := rc.snapshot()
		if len(events) == 1 {
			if attempts != 3 || events[0].Event != "defect" || events[0].Source != "http" || events[0].Prediction.Score != 3 ||
				events[0].Prediction.Model.Name != "m" {
				t.Fatalf("%d attempts, events %+v", attempts, events[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivery after a minute (%d attempts)", attempts)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The counter moves once the receiver's answer is back.
	for !strings.Contains(scrape(t, ts.URL), `crd_webhook_deliveries_total{result="ok"} 1`) {
		if time.Now().After(deadline) {
			t.Fatal("metrics lack the delivery")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWebhookGivesUpAndNeverBlocks(t *testing.T) {
	rc := &receiver{failures: 1 << 30}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	n := newNotifier(hook.URL, quiet(), New(Options{}).metrics.webhook)
	n.backoff = time.Millisecond
	n.notifyEvent(WebhookEvent{Event: "defect", Prediction: &Prediction{}})
	for attempts, _ := rc.snapshot(); attempts < n.attempts; attempts, _ = rc.snapshot() {
		time.Sleep(time.Millisecond)
	}
	n.close(time.Minute)
	if attempts, events := rc.snapshot(); attempts != n.attempts || len(events) != 0 {
		t.Errorf("%d attempts (want %d), %d events", attempts, n.attempts, len(events))
	}

	// A receiver that never answers: notifying does not wait, the buffer
	// overflows into drops, and close gives up after its grace period.
	stuck := &receiver{block: make(chan struct{})}
	hook2 := httptest.NewServer(stuck)
	defer hook2.Close()
	defer close(stuck.block)
	m := New(Options{}).metrics
	n2 := newNotifier(hook2.URL, quiet(), m.webhook)
	for range cap(n2.events) + 10 {
		n2.notifyEvent(WebhookEvent{Event: "defect", Prediction: &Prediction{}})
	}
	n2.close(10 * time.Millisecond)
	n2.notifyEvent(WebhookEvent{Event: "defect"}) // after close: ignored, no panic
	// The buffer holds cap events and the delivery goroutine one more.
	if got := testutil.ToFloat64(m.webhook.WithLabelValues("dropped")); got < 9 {
		t.Errorf("%g events dropped, want at least 9", got)
	}
}
