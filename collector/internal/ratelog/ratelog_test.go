package ratelog

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAllowConcurrent: of many concurrent calls within one interval one
// is let through; the next allowed call reports all the others.
func TestAllowConcurrent(t *testing.T) {
	var l Limiter
	l.Every = time.Hour
	const goroutines, calls = 8, 10000
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				if ok, _ := l.Allow(); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 1 {
		t.Fatalf("%d calls allowed within one interval, want 1", allowed)
	}
	l.next.Store(0) // the interval is over
	ok, n := l.Allow()
	if !ok || n != goroutines*calls-1 {
		t.Fatalf("after the interval: allowed %v, suppressed %d, want true, %d", ok, n, goroutines*calls-1)
	}
}

// TestLogBoundedAndCounted: a storm of warnings over 350 ms with a 100 ms
// interval logs at most 5 lines, and the lines plus their suppressed
// counts (plus those still pending after the last line) add up to the
// warnings.
func TestLogBoundedAndCounted(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	l := Limiter{Every: 100 * time.Millisecond}
	calls := 0
	start := time.Now()
	for time.Since(start) < 350*time.Millisecond {
		l.Warn(log, "record not delivered", "error", "boom")
		calls++
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 1 || len(lines) > 5 {
		t.Fatalf("%d lines for %d calls over 350ms at one per 100ms:\n%s", len(lines), calls, out)
	}
	sum := int64(len(lines)) + l.suppressed.Load()
	for i, ln := range lines {
		if !strings.Contains(ln, `msg="record not delivered" error=boom`) {
			t.Errorf("line %q lost its message or attributes", ln)
		}
		_, after, found := strings.Cut(ln, "suppressed=")
		if i == 0 {
			if found {
				t.Errorf("first line reports suppressed lines: %q", ln)
			}
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(after), 10, 64)
		if !found || err != nil {
			t.Fatalf("line %d has no suppressed count: %q", i, ln)
		}
		sum += n
	}
	if sum != int64(calls) {
		t.Errorf("lines + suppressed = %d, want the %d calls", sum, calls)
	}
	t.Logf("%d warnings in 350ms: %d lines", calls, len(lines))
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
