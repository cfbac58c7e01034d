package collector

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/elk-project/elk/collector/receiver"
	"github.com/elk-project/elk/collector/sink"
)

// checkSink fails the test on any document that is not valid JSON.
type checkSink struct {
	t testing.TB
	n int
}

func (s *checkSink) Name() string { return "check" }
func (s *checkSink) Write(ctx context.Context, docs []sink.Doc) error {
	for _, d := range docs {
		if !json.Valid(d.Body) {
			s.t.Fatalf("invalid JSON document: %s", d.Body)
		}
		if len(d.ID) != 22 {
			s.t.Fatalf("document id %q", d.ID)
		}
		s.n++
	}
	return nil
}
func (s *checkSink) Flush(ctx context.Context) error { return nil }
func (s *checkSink) Close(ctx context.Context) error { return nil }

// FuzzHandle feeds arbitrary datagrams through the whole per-datagram path
// (decode, agent tracking, routing, encoding): it must never panic and
// every document it makes must be valid JSON.
func FuzzHandle(f *testing.F) {
	g := &gen{agent: netip.MustParseAddr("192.0.2.1")}
	f.Add(g.datagram(3, true, "10.1.1.1", "10.2.2.2"))
	f.Add(g.datagram(1, false, "10.1.5.5", "10.1.5.6"))
	g6 := &gen{agent: netip.MustParseAddr("2001:db8::1")}
	f.Add(g6.datagram(2, true, "10.1.1.9", "10.1.1.1"))
	f.Add([]byte{0, 0, 0, 5, 0, 0, 0, 1})
	c := newTestCollector(f, tenants)
	cs := &checkSink{t: f}
	c.sinks = []sink.Sink{cs}
	w := newWorker(c)
	src := netip.MustParseAddrPort("127.0.0.1:5000")
	f.Fuzz(func(t *testing.T, b []byte) {
		cs.t = t
		w.Handle(receiver.NewPacket(b, src, time.Unix(1700000000, 0)))
		w.Idle()
	})
}
