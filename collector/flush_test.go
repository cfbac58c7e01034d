package collector

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/sink"
)

// blockingSink's Flush blocks until release is closed (or ctx ends), like an
// Elasticsearch output waiting for its spool to drain.
type blockingSink struct {
	discard
	release chan struct{}
	flushes atomic.Int64
}

func (s *blockingSink) Name() string { return "blocking" }

func (s *blockingSink) Flush(ctx context.Context) error {
	s.flushes.Add(1)
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// countingSink counts its flushes.
type countingSink struct {
	discard
	flushes atomic.Int64
}

func (s *countingSink) Name() string { return "counting" }

func (s *countingSink) Flush(ctx context.Context) error {
	s.flushes.Add(1)
	return nil
}

func TestBlockedSinkDoesNotDelayOtherFlushes(t *testing.T) {
	blocked := &blockingSink{release: make(chan struct{})}
	other := &countingSink{}
	c, err := New(Config{Listen: "127.0.0.1:0", FlushInterval: 10 * time.Millisecond, ShutdownTimeout: 200 * time.Millisecond},
		Deps{Metrics: prometheus.NewRegistry(), Sinks: []sink.Sink{blocked, other}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	deadline := time.Now().Add(5 * time.Second)
	for other.flushes.Load() < 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := blocked.flushes.Load(); got != 1 {
		t.Errorf("blocked sink flushed %d times, want 1 (its Flush never returned)", got)
	}
	if got := other.flushes.Load(); got < 10 {
		t.Errorf("other sink flushed %d times while the first was blocked, want >= 10", got)
	}
	close(blocked.release)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}
