package scrape

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/source"
)

// exporter serves a counter and a labelled gauge whose values the test sets.
type exporter struct {
	mu      sync.Mutex
	counter float64
	queue   float64
	down    bool
}

func (e *exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "# HELP elk_collector_samples_total Samples.\n# TYPE elk_collector_samples_total counter\n")
	fmt.Fprintf(w, "elk_collector_samples_total{agent=\"10.0.0.1\"} %g\n", e.counter/2)
	fmt.Fprintf(w, "elk_collector_samples_total{agent=\"10.0.0.2\",note=\"a \\\"quoted\\\" } value\"} %g 1700000000000\n", e.counter/2)
	fmt.Fprintf(w, "elasticsearch_thread_pool_queue_count{type=\"write\"} %g\n", e.queue)
	fmt.Fprintf(w, "elasticsearch_thread_pool_queue_count{type=\"search\"} 1000\n")
}

func (e *exporter) set(f func(e *exporter)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e)
}

func TestScraper(t *testing.T) {
	a, b := &exporter{}, &exporter{}
	sa, sb := httptest.NewServer(a), httptest.NewServer(b)
	defer sa.Close()
	defer sb.Close()
	urls := []string{sa.URL + "/metrics", sb.URL + "/metrics"}
	s := New(Config{Interval: 5 * time.Second}, TargetsFunc(func(ctx context.Context, app, entity string) ([]string, error) {
		if entity != "collectors" {
			return nil, nil
		}
		return urls, nil
	}), nil, nil)
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	rate := source.Query{App: "demo", Entity: "collectors", Check: policies.Check{Name: "r", Metric: "rate(elk_collector_samples_total[20s])"}}
	queue := source.Query{App: "demo", Entity: "collectors", Check: policies.Check{Name: "q", Metric: `elasticsearch_thread_pool_queue_count{type="write"}`}}
	other := source.Query{App: "demo", Entity: "other", Check: policies.Check{Name: "o", Metric: "up"}}

	for _, q := range []source.Query{rate, queue, other} {
		if _, err := s.Read(ctx, q); !errors.Is(err, source.ErrNoData) {
			t.Fatalf("first read of %s: %v, want ErrNoData", q.Check.Metric, err)
		}
	}
	scrape := func(d time.Duration) {
		now = now.Add(d)
		s.ScrapeOnce(ctx)
	}
	a.set(func(e *exporter) { e.counter, e.queue = 1000, 7 })
	b.set(func(e *exporter) { e.counter, e.queue = 500, 3 })
	scrape(0)
	if _, err := s.Read(ctx, rate); !errors.Is(err, source.ErrNoData) {
		t.Errorf("rate after one scrape: %v, want ErrNoData", err)
	}
	if got, err := s.Read(ctx, queue); err != nil || got.Value != 10 || !got.Time.Equal(now) {
		t.Errorf("gauge: %+v %v, want 10 at %v", got, err, now)
	}
	if _, err := s.Read(ctx, other); !errors.Is(err, source.ErrNoData) {
		t.Errorf("entity without instances: %v", err)
	}
	// 10s later: a +1000, b +2000 → 300/s together.
	a.set(func(e *exporter) { e.counter = 2000 })
	b.set(func(e *exporter) { e.counter = 2500 })
	scrape(10 * time.Second)
	if got, err := s.Read(ctx, rate); err != nil || math.Abs(got.Value-300) > 1e-9 {
		t.Errorf("rate: %+v %v, want 300", got, err)
	}
	// b restarts (counter reset to 400): its increase is 400 over 10s.
	a.set(func(e *exporter) { e.counter = 3000 })
	b.set(func(e *exporter) { e.counter = 400 })
	scrape(10 * time.Second)
	// window 20s covers all three points: a: 2000/20s, b: (2000+400)/20s
	if got, err := s.Read(ctx, rate); err != nil || math.Abs(got.Value-(100+120)) > 1e-9 {
		t.Errorf("rate across a reset: %+v %v, want 220", got, err)
	}
	// One instance down: the other still counts.
	b.set(func(e *exporter) { e.down = true })
	scrape(10 * time.Second)
	if got, err := s.Read(ctx, queue); err != nil || got.Value != 7 {
		t.Errorf("gauge with one instance down: %+v %v, want 7", got, err)
	}
	// All down: a source error, not "no data".
	a.set(func(e *exporter) { e.down = true })
	scrape(10 * time.Second)
	if _, err := s.Read(ctx, queue); err == nil || errors.Is(err, source.ErrNoData) {
		t.Errorf("all instances down: %v, want a source error", err)
	}
	// Idle metrics are dropped.
	now = now.Add(time.Hour)
	s.ScrapeOnce(ctx)
	if got := s.Tracked(); len(got) != 0 {
		t.Errorf("idle groups still tracked: %v", got)
	}
}

type registry struct{ svcs []discovery.Service }

func (r registry) Register(context.Context, discovery.Service) error { return nil }
func (r registry) Deregister(context.Context, string) error          { return nil }
func (r registry) Resolve(ctx context.Context, name string) ([]discovery.Service, error) {
	if name != "demo-collectors" {
		return nil, nil
	}
	return r.svcs, nil
}
func (r registry) Watch(context.Context, string, func([]discovery.Service)) error { return nil }

func TestFromRegistry(t *testing.T) {
	reg := registry{svcs: []discovery.Service{
		{Address: "127.0.0.1", Port: 6343, Meta: map[string]string{"port_metrics": "9101"}},
		{Address: "", Port: 9102},
	}}
	got, err := FromRegistry(reg, "metrics").Targets(context.Background(), "demo", "collectors")
	want := []string{"http://127.0.0.1:9101/metrics", "http://127.0.0.1:9102/metrics"}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v %v, want %v", got, err, want)
	}
}

// TestNonFiniteIsNoData: an exporter reporting NaN or ±Inf, or instances
// whose sum overflows, give ErrNoData (the check's on_missing rule), never a
// value a strategy could turn into a vote.
func TestNonFiniteIsNoData(t *testing.T) {
	tests := []struct {
		name   string
		a, b   float64
		wantOK bool
	}{
		{name: "NaN", a: math.NaN(), b: 1},
		{name: "+Inf", a: math.Inf(1), b: 1},
		{name: "-Inf", a: math.Inf(-1), b: 1},
		{name: "sum overflows", a: 1e308, b: 1e308},
		{name: "large but finite", a: 1e300, b: 1e300, wantOK: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := &exporter{queue: tc.a}, &exporter{queue: tc.b}
			sa, sb := httptest.NewServer(a), httptest.NewServer(b)
			defer sa.Close()
			defer sb.Close()
			s := New(Config{Interval: 5 * time.Second}, TargetsFunc(func(context.Context, string, string) ([]string, error) {
				return []string{sa.URL + "/metrics", sb.URL + "/metrics"}, nil
			}), nil, nil)
			q := source.Query{App: "demo", Entity: "es", Check: policies.Check{Name: "q", Metric: `elasticsearch_thread_pool_queue_count{type="write"}`}}
			ctx := context.Background()
			s.Read(ctx, q) // start tracking
			s.ScrapeOnce(ctx)
			got, err := s.Read(ctx, q)
			if tc.wantOK {
				if err != nil || got.Value != tc.a+tc.b {
					t.Fatalf("Read: %+v, %v; want %g", got, err, tc.a+tc.b)
				}
				return
			}
			if !errors.Is(err, source.ErrNoData) {
				t.Fatalf("Read: %+v, %v; want ErrNoData", got, err)
			}
		})
	}
}
