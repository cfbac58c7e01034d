package kafka

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/elk-project/elk/collector/internal/logtest"
	"github.com/elk-project/elk/collector/sink"
	"github.com/elk-project/elk/collector/sink/sinkmetrics"

	"github.com/elk-project/elk/deploy/dev/servicetest"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	d := sink.Doc{
		ID: "abc123", Dataset: "sflow.flow", Tenant: "blue", Key: []byte("192.0.2.7"),
		Time: time.Date(2026, 11, 27, 3, 4, 5, 6, time.UTC), Body: []byte(`{"a":1}`),
	}
	r := Encode(&d)
	d.Body[2] = 'X' // the record must not share the caller's memory
	got, err := Decode(r)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "abc123" || got.Dataset != "sflow.flow" || got.Tenant != "blue" ||
		!bytes.Equal(got.Key, []byte("192.0.2.7")) || string(got.Body) != `{"a":1}` || !got.Time.Equal(d.Time) {
		t.Errorf("round trip = %+v", got)
	}
	if _, err := Decode(&kgo.Record{Value: []byte("{}")}); err == nil {
		t.Error("Decode of a record without id header: want error")
	}
}

// TestProduceToRealBroker publishes to the broker at ELK_TEST_KAFKA and reads
// the records back.
func TestProduceToRealBroker(t *testing.T) {
	broker := servicetest.Service(t, "ELK_TEST_KAFKA")
	topic := fmt.Sprintf("elk-unit-%d", time.Now().UnixNano())
	s, err := New(Config{Brokers: []string{broker}, Topic: topic, Partitions: 3}, Deps{Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	docs := make([]sink.Doc, 100)
	for i := range docs {
		docs[i] = sink.Doc{ID: fmt.Sprint(i), Dataset: "sflow.flow", Key: []byte(fmt.Sprint("agent", i%3)), Time: time.Now(), Body: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	if err := s.Write(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	lastByKey := map[string]int{}
	n := 0
	for n < 100 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			d, err := Decode(r)
			if err != nil {
				t.Error(err)
				return
			}
			var i int
			fmt.Sscan(d.ID, &i)
			if prev, ok := lastByKey[string(d.Key)]; ok && i < prev {
				t.Errorf("agent %s: document %d after %d: per-agent order lost", d.Key, i, prev)
			}
			lastByKey[string(d.Key)] = i
			n++
		})
	}
	if n != 100 {
		t.Fatalf("read %d records back, want 100", n)
	}
}

// TestUnreachableBrokerCounted: with no broker listening, the producer's
// failed connections show in elk_sink_bulk_request_errors_total, and
// records that time out are counted as failed, not dropped silently:
// every one of 2000 in the metric, but "record not delivered" is logged
// about once a second, not per record.
func TestUnreachableBrokerCounted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	reg := prometheus.NewRegistry()
	log, logBuf := logtest.New()
	s, err := New(Config{Brokers: []string{addr}, Topic: "t", DeliveryTimeout: 2 * time.Second}, Deps{Metrics: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	docs := make([]sink.Doc, n)
	for i := range docs {
		docs[i] = sink.Doc{ID: fmt.Sprint("d", i), Dataset: "sflow.flow", Key: []byte("192.0.2.1"), Body: []byte(`{}`), Time: time.Now()}
	}
	start := time.Now()
	if err := s.Write(context.Background(), docs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.Close(ctx)
	elapsed := time.Since(start)
	if s.Failed() != n {
		t.Errorf("failed records %d, want %d", s.Failed(), n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var reqErrs, failed float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "elk_sink_bulk_request_errors_total":
				reqErrs += m.GetCounter().GetValue()
			case "elk_sink_documents_total":
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" && l.GetValue() == sinkmetrics.OutcomeFailed {
						failed += m.GetCounter().GetValue()
					}
				}
			}
		}
	}
	if reqErrs == 0 {
		t.Error("elk_sink_bulk_request_errors_total{sink=\"kafka\"} is 0 with no broker")
	}
	if failed != n {
		t.Errorf("documents counted as failed: %v, want %d", failed, n)
	}
	out := logBuf.String()
	lines := strings.Count(out, `msg="record not delivered"`)
	if most := 1 + int(elapsed/time.Second); lines < 1 || lines > most {
		t.Errorf("%d \"record not delivered\" lines for %d records in %v, want 1 to %d:\n%s", lines, n, elapsed, most, out)
	}
	t.Logf("%d records failed in %v: %d log lines", n, elapsed.Round(time.Millisecond), lines)
}
