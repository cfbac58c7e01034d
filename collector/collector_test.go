package collector

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/elk-project/elk/collector/internal/logtest"
	"github.com/elk-project/elk/collector/internal/ratelog"
	"github.com/elk-project/elk/collector/receiver"
	"github.com/elk-project/elk/collector/sflow"
	"github.com/elk-project/elk/collector/sink"
	"github.com/elk-project/elk/collector/sink/file"
)

type running struct {
	c      *Collector
	reg    *prometheus.Registry
	out    string
	logs   *logtest.Buffer
	cancel context.CancelFunc
	done   chan error
}

func startCollector(t *testing.T, tenants string) *running {
	t.Helper()
	dir := t.TempDir()
	r := &running{reg: prometheus.NewRegistry(), out: filepath.Join(dir, "out.ndjson"), logs: &logtest.Buffer{}, done: make(chan error, 1)}
	cfg := Config{Listen: "127.0.0.1:0", Metrics: "127.0.0.1:0", Sockets: 2, Workers: 2, Batch: 64}
	if tenants != "" {
		cfg.Tenants = filepath.Join(dir, "tenants.yaml")
		if err := os.WriteFile(cfg.Tenants, []byte(tenants), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := file.New(file.Config{Path: r.out}, file.Deps{Metrics: r.reg})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(r.logs, nil))
	r.c, err = New(cfg, Deps{Logger: log, Metrics: r.reg, Sinks: []sink.Sink{fs}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("collector did not stop")
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(r.logs.String(), "collector listening") {
		if time.Now().After(deadline) {
			t.Fatal("no \"collector listening\" log line")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return r
}

// stop shuts the collector down as SIGTERM would and checks it exits cleanly.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	r.done <- nil
}

func (r *running) metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			for k, v := range labels {
				found := false
				for _, lp := range m.Label {
					if lp.GetName() == k && lp.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			sum += metricValue(m)
		}
	}
	return sum
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// gen builds datagrams of one agent and keeps the truth.
type gen struct {
	agent          netip.Addr
	seq, sampleSeq uint32
	counterSeq     uint32
	drops          uint32 // cumulative drops the agent reports
	uptime         uint32
	packets, bytes uint64
	flows          int
}

func (g *gen) datagram(nflows int, counters bool, src, dst string) []byte {
	g.seq++
	g.uptime += 100
	dg := &sflow.Datagram{AgentAddr: g.agent, Sequence: g.seq, UptimeMS: g.uptime}
	for i := 0; i < nflows; i++ {
		g.sampleSeq++
		h := sflow.RawHeader{
			Protocol: sflow.HeaderEthernet, FrameLength: uint32(100 + i*10),
			SrcMAC: sflow.MAC{2, 0, 0, 0, 0, 1}, DstMAC: sflow.MAC{2, 0, 0, 0, 0, 2},
			EtherType: 0x0800, Network: sflow.NetworkIPv4,
			SrcIP: netip.MustParseAddr(src), DstIP: netip.MustParseAddr(dst),
			IPProto: 17, TTL: 64, IPLength: uint16(82 + i*10), SrcPort: 5000, DstPort: 53,
		}
		h.Header = sflow.AppendFrame(nil, &h, 64)
		h.HeaderSize = uint32(len(h.Header))
		f := sflow.FlowSample{Sequence: g.sampleSeq, SourceIDIndex: 1, SamplingRate: 512, SamplePool: g.sampleSeq * 512, Drops: g.drops,
			Input: sflow.Interface{Value: 1}, Output: sflow.Interface{Value: 2}}
		f.RawHeader = h
		f.Present = sflow.HasRawHeader
		f.Records = []sflow.DataFormat{sflow.FlowRawHeader}
		dg.Flows = append(dg.Flows, f)
		g.packets += 512
		g.bytes += 512 * uint64(h.FrameLength)
		g.flows++
	}
	if counters {
		g.counterSeq++
		c := sflow.CounterSample{Sequence: g.counterSeq, SourceIDIndex: 1}
		c.Generic = sflow.GenericInterfaceCounters{IfIndex: 1, IfSpeed: 1e9, IfStatus: 3, InOctets: uint64(g.seq) * 1000,
			OutOctets: sflow.Unknown64, InUcastPkts: g.seq, InErrors: sflow.Unknown32}
		c.Present = sflow.HasGenericInterface
		c.Records = []sflow.DataFormat{sflow.CounterGenericInterface}
		dg.Counters = append(dg.Counters, c)
	}
	dg.NumSamples = uint32(len(dg.Flows) + len(dg.Counters))
	return sflow.AppendDatagram(nil, dg)
}

type doc struct {
	Event struct {
		Dataset string `json:"dataset"`
	} `json:"event"`
	Network struct {
		Packets   uint64 `json:"packets"`
		Bytes     uint64 `json:"bytes"`
		Direction string `json:"direction"`
	} `json:"network"`
	Organization *struct {
		ID string `json:"id"`
	} `json:"organization"`
	Sflow struct {
		Counters *struct {
			Discontinuity bool     `json:"discontinuity"`
			DeltaSeconds  *float64 `json:"delta_seconds"`
		} `json:"counters"`
	} `json:"sflow"`
}

func readDocs(t *testing.T, path string) []doc {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []doc
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d doc
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("invalid JSON line %q: %v", sc.Text(), err)
		}
		out = append(out, d)
	}
	return out
}

const tenants = `tenants:
  - id: acme
    networks: [10.1.0.0/16]
  - id: globex
    networks: [10.2.0.0/16, 10.1.5.0/24]
  - id: initech
    interfaces:
      - agent: 192.0.2.1
        ifindex: [1]
`

func TestEndToEnd(t *testing.T) {
	r := startCollector(t, tenants)
	conn, err := net.Dial("udp", r.c.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	a := &gen{agent: netip.MustParseAddr("192.0.2.1")}
	b := &gen{agent: netip.MustParseAddr("192.0.2.2")}
	send := func(p []byte) {
		if _, err := conn.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 200; i++ {
		send(a.datagram(5, i%10 == 0, "10.1.1.1", "10.2.2.2")) // acme → globex
		send(b.datagram(3, false, "192.168.1.1", "8.8.8.8"))   // nobody's
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Agent b skips 4 datagrams (a network loss of 4).
	b.seq += 4
	send(b.datagram(1, false, "10.1.5.5", "10.1.5.6")) // acme and globex (longest match), internal
	// Agent a restarts: sequence and uptime start over.
	a.seq, a.uptime = 0, 0
	send(a.datagram(1, true, "10.1.1.1", "10.2.2.2"))

	wantFlows := a.flows + b.flows
	deadline := time.Now().Add(10 * time.Second)
	for r.metric(t, "elk_collector_documents_total", map[string]string{"dataset": "sflow.flow", "stream": "operator"}) < float64(wantFlows) {
		if time.Now().After(deadline) {
			t.Fatalf("only %v flow documents of %d", r.metric(t, "elk_collector_documents_total", map[string]string{"stream": "operator"}), wantFlows)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// /healthz and /metrics are served while running.
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get("http://" + r.c.MetricsAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: status %d", path, resp.StatusCode)
		}
		if path == "/metrics" && !bytes.Contains(body, []byte("elk_collector_loss_total")) {
			t.Errorf("/metrics lacks elk_collector_loss_total")
		}
	}
	r.stop(t)

	docs := readDocs(t, r.out)
	var flows, counters int
	var packets, bytes uint64
	perTenant := map[string]int{}
	tenantCounters := map[string]int{}
	dirs := map[string]string{}
	discontinuities := 0
	for _, d := range docs {
		tenant := ""
		if d.Organization != nil {
			tenant = d.Organization.ID
		}
		switch d.Event.Dataset {
		case "sflow.flow":
			if tenant == "" {
				flows++
				packets += d.Network.Packets
				bytes += d.Network.Bytes
			} else {
				perTenant[tenant]++
				dirs[tenant+"/"+d.Network.Direction] = "seen"
			}
		case "sflow.counters":
			if tenant != "" {
				tenantCounters[tenant]++
				continue
			}
			counters++
			if d.Sflow.Counters != nil && d.Sflow.Counters.Discontinuity {
				discontinuities++
			}
		default:
			t.Errorf("unexpected dataset %q", d.Event.Dataset)
		}
	}
	if flows != wantFlows || packets != a.packets+b.packets || bytes != a.bytes+b.bytes {
		t.Errorf("operator stream: %d flows, %d packets, %d bytes; want %d, %d, %d",
			flows, packets, bytes, wantFlows, a.packets+b.packets, a.bytes+b.bytes)
	}
	if counters != 21 {
		t.Errorf("%d counter documents, want 21", counters)
	}
	if discontinuities != 1 {
		t.Errorf("%d counter discontinuities, want 1 (the restart)", discontinuities)
	}
	// acme: agent a's 1001 flows (source 10.1.1.1); globex: the same as
	// destination, plus b's last flow (10.1.5.0/24 beats acme's /16).
	if perTenant["acme"] != a.flows || perTenant["globex"] != a.flows+1 {
		t.Errorf("tenant copies %v, want acme %d, globex %d", perTenant, a.flows, a.flows+1)
	}
	// initech owns interface 1 of agent a: its flows and its counters.
	if perTenant["initech"] != a.flows || tenantCounters["initech"] != 21 || len(tenantCounters) != 1 {
		t.Errorf("initech has %d flow and %d counter copies (all tenants' counters %v), want %d and 21",
			perTenant["initech"], tenantCounters["initech"], tenantCounters, a.flows)
	}
	for _, want := range []string{"acme/outbound", "globex/inbound", "globex/internal", "initech/"} {
		if dirs[want] == "" {
			t.Errorf("no %s tenant document (saw %v)", want, dirs)
		}
	}

	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"elk_collector_agent_datagram_sequence_gaps_total", map[string]string{"agent": "192.0.2.2"}, 4},
		{"elk_collector_agent_datagram_sequence_gaps_total", map[string]string{"agent": "192.0.2.1"}, 0},
		{"elk_collector_agent_restarts_total", map[string]string{"agent": "192.0.2.1"}, 1},
		{"elk_collector_agent_sample_sequence_gaps_total", nil, 0},
		{"elk_collector_loss_total", map[string]string{"stage": "network", "unit": "datagrams"}, 4},
		{"elk_collector_loss_total", map[string]string{"stage": "queue"}, 0},
		{"elk_collector_agent_samples_total", map[string]string{"agent": "192.0.2.1", "type": "flow"}, float64(a.flows)},
		{"elk_collector_agent_sampling_rate", map[string]string{"agent": "192.0.2.2"}, 512},
		{"elk_collector_estimated_packets_total", nil, float64(a.packets + b.packets)},
		{"elk_collector_estimated_bytes_total", nil, float64(a.bytes + b.bytes)},
		{"elk_collector_tenant_estimated_packets_total", map[string]string{"tenant": "acme"}, float64(a.packets)},
		{"elk_collector_unmatched_flows_total", nil, float64(b.flows - 1)},
		{"elk_collector_received_datagrams_total", nil, 402},
		{"elk_sink_documents_total", map[string]string{"sink": "file", "outcome": "written"}, float64(len(docs))},
	}
	for _, c := range checks {
		if got := r.metric(t, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestDecodeErrorsAreCounted(t *testing.T) {
	r := startCollector(t, "")
	conn, err := net.Dial("udp", r.c.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte{0, 0, 0, 4, 0, 0, 0, 1})         // version 4
	conn.Write([]byte{0, 0, 0, 5, 0, 0, 0, 1, 192, 0}) // truncated
	conn.Write((&gen{agent: netip.MustParseAddr("192.0.2.7")}).datagram(2, false, "10.0.0.1", "10.0.0.2"))
	deadline := time.Now().Add(5 * time.Second)
	for r.metric(t, "elk_collector_received_datagrams_total", nil) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r.stop(t)
	if got := r.metric(t, "elk_collector_decode_errors_total", map[string]string{"agent": "127.0.0.1", "reason": "bad_version"}); got != 1 {
		t.Errorf("bad_version errors = %v, want 1", got)
	}
	if got := r.metric(t, "elk_collector_loss_total", map[string]string{"stage": "decode"}); got != 2 {
		t.Errorf("decode loss = %v, want 2", got)
	}
	if n := len(readDocs(t, r.out)); n != 2 {
		t.Errorf("%d documents, want 2 from the good datagram", n)
	}
}

func TestBadTenantTableRejectedAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.yaml")
	os.WriteFile(path, []byte("tenants:\n  - id: ../x\n"), 0o644)
	fs, _ := file.New(file.Config{Path: filepath.Join(t.TempDir(), "o")}, file.Deps{})
	_, err := New(Config{Listen: "127.0.0.1:0", Tenants: path}, Deps{Sinks: []sink.Sink{fs}, Metrics: prometheus.NewRegistry()})
	if err == nil || !strings.Contains(err.Error(), "t.yaml:2:9") {
		t.Errorf("New error = %v, want a file:line:col error", err)
	}
}

// discard is a sink that drops everything.
type discard struct{}

func (discard) Name() string                                  { return "discard" }
func (discard) Write(ctx context.Context, d []sink.Doc) error { return nil }
func (discard) Flush(ctx context.Context) error               { return nil }
func (discard) Close(ctx context.Context) error               { return nil }

func newTestCollector(t testing.TB, tenantsYAML string) *Collector {
	cfg := Config{Listen: "127.0.0.1:0", Batch: 64}
	if tenantsYAML != "" {
		cfg.Tenants = filepath.Join(t.TempDir(), "t.yaml")
		os.WriteFile(cfg.Tenants, []byte(tenantsYAML), 0o644)
	}
	c, err := New(cfg, Deps{Metrics: prometheus.NewRegistry(), Sinks: []sink.Sink{discard{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.recv.Run(canceled()) })
	return c
}

// TestWorkerSteadyStateAllocations checks that decoding, tracking, routing
// and encoding a datagram allocate nothing once warmed up.
func TestWorkerSteadyStateAllocations(t *testing.T) {
	c := newTestCollector(t, tenants)
	w := newWorker(c)
	g := &gen{agent: netip.MustParseAddr("192.0.2.1")}
	pkts := make([][]byte, 64)
	for i := range pkts {
		pkts[i] = g.datagram(6, i%8 == 0, "10.1.1.1", "10.2.2.2")
	}
	src := netip.MustParseAddrPort("127.0.0.1:5000")
	now := time.Now()
	i := 0
	run := func() {
		w.Handle(receiver.NewPacket(pkts[i%len(pkts)], src, now))
		i++
	}
	for range 200 {
		run()
	}
	// Packets are made up front; the only allocation left is one string
	// of document ids per batch written.
	ps := make([]*receiver.Packet, 1000)
	for j := range ps {
		ps[j] = receiver.NewPacket(pkts[j%len(pkts)], src, now)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, p := range ps {
		w.Handle(p)
	}
	runtime.ReadMemStats(&after)
	perDatagram := float64(after.Mallocs-before.Mallocs) / float64(len(ps))
	t.Logf("%.3f allocations per datagram (%d documents per batch)", perDatagram, c.cfg.Batch)
	if perDatagram > 0.5 {
		t.Errorf("%.3f allocations per datagram, want about one per batch", perDatagram)
	}
}

func BenchmarkWorker(b *testing.B) {
	c := newTestCollector(b, tenants)
	w := newWorker(c)
	g := &gen{agent: netip.MustParseAddr("192.0.2.1")}
	pkts := make([][]byte, 64)
	for i := range pkts {
		pkts[i] = g.datagram(6, false, "10.1.1.1", "10.2.2.2")
	}
	src := netip.MustParseAddrPort("127.0.0.1:5000")
	p := receiver.NewPacket(pkts[0], src, time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		*p = *receiver.NewPacket(pkts[i%len(pkts)], src, p.Received)
		w.Handle(p)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*6), "ns/flow")
}

// failing is a sink that accepts nothing.
type failing struct{ discard }

func (failing) Write(ctx context.Context, d []sink.Doc) error { return errors.New("disk on fire") }

func TestSinkFailuresCountAsLoss(t *testing.T) {
	reg := prometheus.NewRegistry()
	c, err := New(Config{Listen: "127.0.0.1:0"}, Deps{Metrics: reg, Sinks: []sink.Sink{failing{}}})
	if err != nil {
		t.Fatal(err)
	}
	r := &running{c: c, reg: reg, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- c.Run(ctx) }()
	conn, err := net.Dial("udp", c.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write((&gen{agent: netip.MustParseAddr("192.0.2.1")}).datagram(4, true, "10.0.0.1", "10.0.0.2"))
	deadline := time.Now().Add(5 * time.Second)
	for r.metric(t, "elk_collector_loss_total", map[string]string{"stage": "sink"}) < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r.stop(t)
	if got := r.metric(t, "elk_collector_loss_total", map[string]string{"stage": "sink", "unit": "documents"}); got != 5 {
		t.Errorf("sink loss = %v documents, want 5 (4 flows + 1 counter record)", got)
	}
}

// TestAgentHealth drives a worker directly: sample sequence gaps, agent
// reported drops, reordering and restarts land in the right metrics.
func TestAgentHealth(t *testing.T) {
	c := newTestCollector(t, "")
	r := &running{c: c, reg: c.reg}
	w := newWorker(c)
	src := netip.MustParseAddrPort("127.0.0.1:5000")
	now := time.Unix(1700000000, 0)
	g := &gen{agent: netip.MustParseAddr("192.0.2.9"), uptime: 100000}
	handle := func(b []byte) { w.Handle(receiver.NewPacket(b, src, now)) }

	handle(g.datagram(2, false, "10.0.0.1", "10.0.0.2")) // samples 1, 2
	g.sampleSeq += 3                                     // 3 samples lost upstream
	g.drops += 7                                         // and 7 the agent could not sample
	handle(g.datagram(1, false, "10.0.0.1", "10.0.0.2")) // sample 6
	late := g.datagram(1, false, "10.0.0.1", "10.0.0.2")
	handle(g.datagram(1, false, "10.0.0.1", "10.0.0.2"))
	handle(late)             // arrives after its successor
	g.seq, g.uptime = 0, 500 // restart
	handle(g.datagram(1, false, "10.0.0.1", "10.0.0.2"))

	agent := map[string]string{"agent": "192.0.2.9"}
	for name, want := range map[string]float64{
		"elk_collector_agent_sample_sequence_gaps_total":   3 + 1,
		"elk_collector_agent_datagram_sequence_gaps_total": 1,
		"elk_collector_agent_reordered_datagrams_total":    1,
		"elk_collector_agent_restarts_total":               1,
		"elk_collector_agent_datagrams_total":              5,
		"elk_collector_agent_reported_drops_total":         7,
	} {
		if got := r.metric(t, name, agent); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := r.metric(t, "elk_collector_loss_total", map[string]string{"stage": "network", "unit": "samples"}); got != 4 {
		t.Errorf("network sample loss = %v, want 4", got)
	}
}

// TestHostSFlow: a host agent (hsflowd) sends its host counters twice, 10 s
// of its uptime apart; the collector writes one document per host record
// with ECS host metrics from the second one on, and counts nothing as
// unknown.
func TestHostSFlow(t *testing.T) {
	r := startCollector(t, "")
	conn, err := net.Dial("udp", r.c.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dg := &sflow.Datagram{AgentAddr: netip.MustParseAddr("192.0.2.50"), UptimeMS: 5000, NumSamples: 1}
	c := sflow.CounterSample{SourceIDType: 2, SourceIDIndex: 1}
	c.Host = &sflow.HostCounters{
		CPU: sflow.HostCPU{CPUNum: 2, UptimeS: 600, User: 1000, Idle: 9000},
		Net: sflow.HostNetIO{BytesIn: 5000, PktsIn: 50, BytesOut: 7000, PktsOut: 70},
	}
	c.Present = sflow.HasHostCPU | sflow.HasHostNetIO
	dg.Counters = []sflow.CounterSample{c}
	conn.Write(sflow.AppendDatagram(nil, dg))
	dg.Sequence, dg.UptimeMS = 1, 15000
	c.Host.CPU.User += 15000 // 1.5 s of user time per s on 2 cores, 0.5 s idle
	c.Host.CPU.Idle += 5000
	c.Host.Net.BytesIn += 123456
	c.Host.Net.PktsIn += 100
	conn.Write(sflow.AppendDatagram(nil, dg))
	deadline := time.Now().Add(5 * time.Second)
	for r.metric(t, "elk_collector_received_datagrams_total", nil) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r.stop(t)
	if got := r.metric(t, "elk_collector_unknown_structures_total", nil); got != 0 {
		t.Errorf("unknown structures %v, want 0", got)
	}
	data, err := os.ReadFile(r.out)
	if err != nil {
		t.Fatal(err)
	}
	var usage, ingress []any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var d map[string]any
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("invalid JSON line %q: %v", line, err)
		}
		host, _ := d["host"].(map[string]any)
		if cpu, ok := host["cpu"].(map[string]any); ok {
			usage = append(usage, cpu["usage"])
		}
		if nw, ok := host["network"].(map[string]any); ok {
			ingress = append(ingress, nw["ingress"].(map[string]any)["bytes"])
		}
	}
	if got := mustJSON(t, []any{usage, ingress}); got != "[[0.75],[123456]]" {
		t.Errorf("[host.cpu.usage, host.network.ingress.bytes] = %s; want [[0.75],[123456]] (from the second datagram only)", got)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDiscardSamplesBecomeDocuments: a discarded packet sample is
// written as an sflow.discards document, once for the operator and once
// for each tenant it belongs to, and counted.
func TestDiscardSamplesBecomeDocuments(t *testing.T) {
	r := startCollector(t, tenants)
	conn, err := net.Dial("udp", r.c.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := sflow.RawHeader{Protocol: sflow.HeaderIPv4, FrameLength: 60, Network: sflow.NetworkIPv4,
		SrcIP: netip.MustParseAddr("10.1.7.7"), DstIP: netip.MustParseAddr("198.51.100.1"), IPProto: 17, TTL: 1, IPLength: 60,
		SrcPort: 5353, DstPort: 53}
	h.Header = sflow.AppendFrame(nil, &h, 64)
	h.HeaderSize = uint32(len(h.Header))
	ds := sflow.DiscardSample{Sequence: 1, SourceIDIndex: 9, Input: 9, Reason: sflow.DiscardTTLExceeded}
	ds.RawHeader, ds.Present = h, sflow.HasRawHeader
	dg := &sflow.Datagram{AgentAddr: netip.MustParseAddr("192.0.2.60"), NumSamples: 1, Discards: []sflow.DiscardSample{ds}}
	conn.Write(sflow.AppendDatagram(nil, dg))
	deadline := time.Now().Add(5 * time.Second)
	for r.metric(t, "elk_collector_received_datagrams_total", nil) < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r.stop(t)
	data, err := os.ReadFile(r.out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var d struct {
			Event        struct{ Dataset string } `json:"event"`
			Organization struct{ ID string }      `json:"organization"`
			Sflow        struct {
				Discard struct {
					ReasonName string `json:"reason_name"`
				}
			} `json:"sflow"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Event.Dataset+"/"+d.Organization.ID+"/"+d.Sflow.Discard.ReasonName)
	}
	if want := "[sflow.discards//ttl_exceeded sflow.discards/acme/ttl_exceeded]"; fmt.Sprint(got) != want {
		t.Errorf("documents %v, want %s", got, want)
	}
	for scope, want := range map[string]float64{"operator": 1, "tenant": 1} {
		if n := r.metric(t, "elk_collector_documents_total", map[string]string{"dataset": "sflow.discards", "stream": scope}); n != want {
			t.Errorf("documents_total{dataset=sflow.discards,stream=%s} = %v, want %v", scope, n, want)
		}
	}
}

// TestWriteFailedLogBounded: a thousand failed writes in a burst are all
// counted as loss but logged once, and the next line after the interval
// says how many were left out.
func TestWriteFailedLogBounded(t *testing.T) {
	log, buf := logtest.New()
	c, err := New(Config{Listen: "127.0.0.1:0"}, Deps{Logger: log,
		Metrics: prometheus.NewRegistry(), Sinks: []sink.Sink{failing{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.recv.Run(canceled()) })
	c.writeFailLog.Every = time.Hour
	for range 1000 {
		c.writeFailed(failing{}, 3, errors.New("disk on fire"))
	}
	var m dto.Metric
	if err := c.metrics.lossSink.Write(&m); err != nil || m.GetCounter().GetValue() != 3000 {
		t.Errorf("sink loss %v documents (%v), want 3000", m.GetCounter().GetValue(), err)
	}
	if n := strings.Count(buf.String(), "output write failed"); n != 1 {
		t.Errorf("%d log lines for 1000 failed writes within the interval, want 1:\n%s", n, buf.String())
	}
	// After the interval the next line tells how many were left out.
	buf.Reset()
	c.writeFailLog = ratelog.Limiter{Every: 200 * time.Millisecond}
	for range 1000 {
		c.writeFailed(failing{}, 3, errors.New("disk on fire"))
	}
	time.Sleep(250 * time.Millisecond)
	c.writeFailed(failing{}, 3, errors.New("disk on fire"))
	out := buf.String()
	if n := strings.Count(out, "output write failed"); n != 2 || !strings.Contains(out, "suppressed=999") {
		t.Errorf("want 2 lines, the second with suppressed=999:\n%s", out)
	}
}
