package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/elk-project/elk/collector/internal/logtest"
	"github.com/elk-project/elk/collector/sink"
	"github.com/elk-project/elk/collector/sink/kafka"

	"github.com/elk-project/elk/deploy/dev/servicetest"
)

// recordingSink remembers the IDs it acknowledged; while failing is set it
// refuses to acknowledge (Flush fails), like an unreachable cluster.
type recordingSink struct {
	mu      sync.Mutex
	pending []string
	acked   map[string]int
	failing bool
}

func (s *recordingSink) Name() string { return "recording" }

func (s *recordingSink) Write(_ context.Context, docs []sink.Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range docs {
		s.pending = append(s.pending, d.ID)
	}
	return nil
}

func (s *recordingSink) Flush(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		s.pending = nil
		return errors.New("destination unreachable")
	}
	for _, id := range s.pending {
		s.acked[id]++
	}
	s.pending = nil
	return nil
}

func (s *recordingSink) Close(context.Context) error { return nil }

func (s *recordingSink) count() (unique, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.acked {
		unique++
		total += n
	}
	return
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{}, Deps{})
	if err == nil {
		t.Fatal("New with an empty config: want an error naming every missing setting")
	}
	for _, want := range []string{"broker", "topic", "group", "sink"} {
		if !strings.Contains(strings.ToLower(err.Error()), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestCommitsOnlyAcknowledgedBatches runs against the broker at
// ELK_TEST_KAFKA: a worker whose output refuses everything commits nothing,
// so a second worker of the same group receives every record; once that one
// has acknowledged and committed, a third receives nothing.
func TestCommitsOnlyAcknowledgedBatches(t *testing.T) {
	broker := servicetest.Service(t, "ELK_TEST_KAFKA")
	topic := fmt.Sprintf("elk-ingest-unit-%d", time.Now().UnixNano())
	group := topic
	prod, err := kafka.New(kafka.Config{Brokers: []string{broker}, Topic: topic, Partitions: 2}, kafka.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const n = 300
	docs := make([]sink.Doc, n)
	for i := range docs {
		docs[i] = sink.Doc{ID: fmt.Sprint("doc-", i), Dataset: "sflow.flow", Key: []byte{byte(i % 5)}, Time: time.Now(), Body: []byte(`{}`)}
	}
	if err := prod.Write(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := prod.Close(ctx); err != nil {
		t.Fatal(err)
	}

	runUntil := func(out *recordingSink, want int, wait time.Duration, reg *prometheus.Registry) {
		t.Helper()
		// Small polls: the 300 records arrive in dozens of batches, so
		// several are awaiting acknowledgement at once.
		in, err := New(Config{Brokers: []string{broker}, Topic: topic, Group: group, LagInterval: time.Second, MaxPollRecords: 7},
			Deps{Sink: out, Metrics: reg})
		if err != nil {
			t.Fatal(err)
		}
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- in.Run(rctx) }()
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			if u, _ := out.count(); want > 0 && u >= want {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		stop()
		<-done
	}

	failing := &recordingSink{acked: map[string]int{}, failing: true}
	runUntil(failing, 0, 8*time.Second, prometheus.NewRegistry())
	if u, _ := failing.count(); u != 0 {
		t.Fatalf("failing output acknowledged %d", u)
	}
	ok := &recordingSink{acked: map[string]int{}}
	runUntil(ok, n, 30*time.Second, prometheus.NewRegistry())
	if u, _ := ok.count(); u != n {
		t.Fatalf("after a worker whose output failed, the next one got %d of %d records: offsets were committed without acknowledgement", u, n)
	}
	after := &recordingSink{acked: map[string]int{}}
	reg := prometheus.NewRegistry()
	runUntil(after, 0, 8*time.Second, reg)
	if u, _ := after.count(); u != 0 {
		t.Errorf("a worker joining after everything was acknowledged re-read %d records: offsets not committed", u)
	}
	// The lag gauge reports every partition, caught up.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	partitions := 0
	for _, mf := range mfs {
		if mf.GetName() != "elk_sink_consumer_lag_records" {
			continue
		}
		for _, m := range mf.GetMetric() {
			partitions++
			if v := m.GetGauge().GetValue(); v != 0 {
				t.Errorf("lag %v on %v, want 0 after everything was committed", v, m.GetLabel())
			}
		}
	}
	if partitions != 2 {
		t.Errorf("lag gauge has %d partitions, want 2", partitions)
	}
}

// TestSkippedAndFetchErrorsLogBounded feeds the worker's poll handling
// 100 polls, each with 50 records that are not elk documents, 2 that are
// and 3 failed partitions: every skipped record and fetch error is
// counted, but each kind is logged at most once a second.
func TestSkippedAndFetchErrorsLogBounded(t *testing.T) {
	log, buf := logtest.New()
	reg := prometheus.NewRegistry()
	in, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Topic: "t", Group: "g"},
		Deps{Sink: &recordingSink{acked: map[string]int{}}, Logger: log, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	const polls, bad, good, failed = 100, 50, 2, 3
	start := time.Now()
	docs := 0
	offset := int64(0)
	for range polls {
		var recs []*kgo.Record
		for i := range bad + good {
			r := &kgo.Record{Topic: "t", Partition: 0, Offset: offset, Value: []byte(`{}`)}
			if i < good {
				r.Headers = []kgo.RecordHeader{{Key: kafka.HeaderID, Value: []byte(fmt.Sprint("id-", offset))}}
			}
			offset++
			recs = append(recs, r)
		}
		parts := []kgo.FetchPartition{{Partition: 0, Records: recs}}
		for p := range failed {
			parts = append(parts, kgo.FetchPartition{Partition: int32(p + 1), Err: errors.New("NOT_LEADER_FOR_PARTITION")})
		}
		b := &batch{offsets: map[string]map[int32]kgo.EpochOffset{}, done: make(chan struct{})}
		docs += len(in.collect(kgo.Fetches{{Topics: []kgo.FetchTopic{{Topic: "t", Partitions: parts}}}}, b, nil))
		if b.records != bad+good {
			t.Fatalf("batch holds %d records, want %d", b.records, bad+good)
		}
	}
	elapsed := time.Since(start)
	if docs != polls*good {
		t.Errorf("%d documents kept, want %d", docs, polls*good)
	}
	counter := func(name string) float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == name {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return -1
	}
	if got := counter("elk_sink_consumed_invalid_records_total"); got != polls*bad {
		t.Errorf("skipped records counted %v, want %d", got, polls*bad)
	}
	if got := counter("elk_sink_consumer_fetch_errors_total"); got != polls*failed {
		t.Errorf("fetch errors counted %v, want %d", got, polls*failed)
	}
	out := buf.String()
	most := 1 + int(elapsed/time.Second)
	for _, msg := range []string{`msg="skipping record"`, `msg="fetch error"`} {
		if n := strings.Count(out, msg); n < 1 || n > most {
			t.Errorf("%d lines %s for %d occurrences in %v, want 1 to %d", n, msg, polls*bad, elapsed, most)
		}
	}
	t.Logf("%d skipped records and %d fetch errors in %v: %d log lines", polls*bad, polls*failed, elapsed, strings.Count(out, "\n"))
}
