package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/source"
)

// benchScaler keeps counts in memory and signals scale requests.
type benchScaler struct {
	mu     sync.Mutex
	counts map[string]int
	scaled chan string
}

func (s *benchScaler) Current(_ context.Context, app, entity string) (int, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[app+"/"+entity], false, nil
}

func (s *benchScaler) Scale(_ context.Context, app, entity string, n int, _ policies.Decision) error {
	s.mu.Lock()
	s.counts[app+"/"+entity] = n
	s.mu.Unlock()
	if s.scaled != nil {
		select {
		case s.scaled <- app + "/" + entity:
		default:
		}
	}
	return nil
}

func benchPolicy(i int, interval string) *policies.Policy {
	p, err := policies.ParseBytes("bench", fmt.Appendf(nil, `
target: {app: bench, entity: e%d}
min: 1
max: 20
evaluation_interval: %s
checks:
  - name: ingest
    query: sum(rate(elk_collector_agent_samples_total{type="flow",entity="e%d"}[1m]))
    strategy: {target-value: {target: 20000, input: total}}
  - name: queue
    query: sum(elasticsearch_thread_pool_queue_count{type="write"})
    strategy: {threshold: {upper: 200, lower: 10, add: 1, remove: 1}}
controls:
  stabilization: {up: 30s, down: 5m}
  max_step: {up: {count: 4}, down: {count: 1}}
  warmup: 30s
`, i, interval, i), true)
	if err != nil {
		panic(err)
	}
	return p
}

// BenchmarkEvaluate measures policy evaluations per second with 10,000
// policies loaded (run with -cpu 1 for the one-core figure). Metric reads
// and the scaler are in-memory, so this is the engine's own cost: votes,
// stabilization history, controls, journal and Prometheus metrics.
func BenchmarkEvaluate(b *testing.B) {
	const n = 10000
	clock := NewManualClock(t0)
	sc := &benchScaler{counts: map[string]int{}}
	var tick atomic.Int64
	src := source.Func(func(_ context.Context, q source.Query) (source.Sample, error) {
		// Load wanders around 3 instances' worth so every control runs.
		v := 50000 + float64(tick.Load()%7)*3000
		if q.Check.Name == "queue" {
			v = 50
		}
		return source.Sample{Value: v, Time: clock.Now()}, nil
	})
	eng, err := New(Config{}, Deps{Scaler: sc, Source: src, Clock: clock, Metrics: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	entries := make([]*entry, 0, n)
	for i := range n {
		p := benchPolicy(i, "10s")
		sc.counts[p.Target.Key()] = 3
		if _, err := eng.Apply(p, "bench", "api"); err != nil {
			b.Fatal(err)
		}
		en, _ := eng.get(p.Target.Key())
		entries = append(entries, en)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if i%n == 0 {
			clock.Advance(10 * time.Second) // one evaluation interval per round
			tick.Add(1)
		}
		eng.evaluate(ctx, entries[i%n])
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "evals/s")
}

// BenchmarkSpikeToScaleRequest measures, with 10,000 policies running on a
// 1s evaluation interval, the time from a metric spike on one policy to the
// engine's scale request (up window 0). It is bounded by the evaluation
// interval; the figure shows the scheduling overhead on top of it.
func BenchmarkSpikeToScaleRequest(b *testing.B) {
	const n = 10000
	sc := &benchScaler{counts: map[string]int{}, scaled: make(chan string, 1)}
	var spiked atomic.Value
	spiked.Store("")
	src := source.Func(func(_ context.Context, q source.Query) (source.Sample, error) {
		v := 50000.0
		if q.Check.Name == "queue" {
			v = 50
		} else if spiked.Load().(string) == q.App+"/"+q.Entity {
			v = 300000
		}
		return source.Sample{Value: v, Time: time.Now()}, nil
	})
	eng, err := New(Config{Workers: 4}, Deps{Scaler: sc, Source: src})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		p := benchPolicy(i, "1s")
		p.Controls.StabilizationUp = 0
		p.Controls.Warmup = 0
		p.Controls.MaxStepUp = policies.Step{}
		sc.counts[p.Target.Key()] = 3
		if _, err := eng.Apply(p, "bench", "api"); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = eng.Run(ctx) }()
	time.Sleep(2 * time.Second) // let the schedule spread out
	b.ResetTimer()
	var total, worst time.Duration
	for i := 0; b.Loop(); i++ {
		key := fmt.Sprintf("bench/e%d", (i*7919)%n)
		start := time.Now()
		spiked.Store(key)
		for got := ""; got != key; {
			select {
			case got = <-sc.scaled:
			case <-time.After(10 * time.Second):
				b.Fatalf("no scale request for %s", key)
			}
		}
		d := time.Since(start)
		total += d
		worst = max(worst, d)
		spiked.Store("")
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/spike")
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}
