package collector

import (
	"bufio"
	"bytes"
	"context"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/receiver"
	"github.com/elk-project/elk/collector/sflow"
	"github.com/elk-project/elk/collector/sink"
)

// hostile builds datagrams of a sender that invents agents, sub-agents,
// sources and sender addresses: every datagram is from a new (agent,
// sub-agent) pair and a new sender address in one IPv6 /64, and carries
// flow and counter samples of sources never seen before. One in every
// garbageEvery datagrams is garbage from a new sender address.
type hostile struct {
	dg    sflow.Datagram
	buf   []byte
	n     uint64
	frame []byte
}

const (
	hostileFlows    = 2
	hostileCounters = 1
	garbageEvery    = 4
)

func newHostile() *hostile {
	h := &hostile{}
	rh := sflow.RawHeader{Protocol: sflow.HeaderEthernet, FrameLength: 100, EtherType: 0x0800, Network: sflow.NetworkIPv4,
		SrcIP: netip.MustParseAddr("198.51.100.1"), DstIP: netip.MustParseAddr("198.51.100.2"), IPProto: 17, TTL: 64, IPLength: 82}
	h.frame = sflow.AppendFrame(nil, &rh, 64)
	rh.Header, rh.HeaderSize = h.frame, uint32(len(h.frame))
	h.dg.Flows = make([]sflow.FlowSample, hostileFlows)
	for i := range h.dg.Flows {
		f := &h.dg.Flows[i]
		f.SamplingRate, f.Sequence = 1000, 1
		f.RawHeader, f.Present, f.Records = rh, sflow.HasRawHeader, []sflow.DataFormat{sflow.FlowRawHeader}
	}
	h.dg.Counters = make([]sflow.CounterSample, hostileCounters)
	for i := range h.dg.Counters {
		c := &h.dg.Counters[i]
		c.Sequence = 1
		c.Generic = sflow.GenericInterfaceCounters{IfSpeed: 1e9, IfStatus: 3, InOctets: 1000, OutOctets: 1000}
		c.Present, c.Records = sflow.HasGenericInterface, []sflow.DataFormat{sflow.CounterGenericInterface}
	}
	h.dg.NumSamples = hostileFlows + hostileCounters
	return h
}

// addr is the i-th address of 2001:db8:bad::/64.
func addr64(i uint64) netip.Addr {
	var b [16]byte
	copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0x0b, 0xad})
	for j := 0; j < 8; j++ {
		b[15-j] = byte(i >> (8 * j))
	}
	return netip.AddrFrom16(b)
}

// next returns the next hostile datagram and its sender; the bytes are
// valid until the next call.
func (h *hostile) next() ([]byte, netip.AddrPort) {
	h.n++
	src := netip.AddrPortFrom(addr64(h.n), 6343)
	if h.n%garbageEvery == 0 {
		h.buf = append(h.buf[:0], 0, 0, 0, 5, 0, 0, 0, 1, 1, 2) // truncated
		return h.buf, src
	}
	h.dg.AgentAddr = addr64(h.n / 4)
	h.dg.SubAgentID = uint32(h.n % 4)
	h.dg.Sequence, h.dg.UptimeMS = uint32(h.n), uint32(h.n)
	for i := range h.dg.Flows {
		h.dg.Flows[i].SourceIDIndex = uint32(h.n*hostileFlows) + uint32(i)
	}
	for i := range h.dg.Counters {
		h.dg.Counters[i].SourceIDIndex = uint32(h.n*hostileCounters) + uint32(i)
		h.dg.Counters[i].Generic.IfIndex = h.dg.Counters[i].SourceIDIndex
	}
	h.buf = sflow.AppendDatagram(h.buf[:0], &h.dg)
	return h.buf, src
}

// hostileRun is the outcome of a hostile flood.
type hostileRun struct {
	datagrams                          int
	legitSent, legitFlows              int
	heapBefore, heapAfter, heapPeak    uint64
	rssKiB                             int
	agentGaps, sampleGaps, legitFlowsM float64
	legitDocs                          int
	w                                  *worker
}

// floodWorker drives n hostile datagrams through one worker, with one
// datagram of a legitimate agent after every 64 hostile ones, and measures
// the heap the worker keeps.
func floodWorker(tb testing.TB, c *Collector, n int) hostileRun {
	tb.Helper()
	legitAgent := netip.MustParseAddr("192.0.2.1")
	cs := &agentDocs{agent: []byte(legitAgent.String())}
	c.sinks = []sink.Sink{cs}
	w := newWorker(c)
	h := newHostile()
	g := &gen{agent: legitAgent}
	legitSrc := netip.MustParseAddrPort("192.0.2.1:6343")
	now := time.Unix(1700000000, 0)
	run := hostileRun{datagrams: n}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	run.heapBefore = ms.HeapInuse
	p := &receiver.Packet{}
	for i := 1; i <= n; i++ {
		b, src := h.next()
		*p = *receiver.NewPacket(b, src, now)
		w.Handle(p)
		if i%64 == 0 {
			*p = *receiver.NewPacket(g.datagram(2, i%640 == 0, "10.0.0.1", "10.0.0.2"), legitSrc, now)
			w.Handle(p)
			run.legitSent++
		}
		if i%(1<<16) == 0 {
			runtime.ReadMemStats(&ms)
			run.heapPeak = max(run.heapPeak, ms.HeapInuse)
		}
	}
	w.Close()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	run.heapAfter = ms.HeapInuse
	run.heapPeak = max(run.heapPeak, ms.HeapInuse)
	run.rssKiB = vmRSS()
	r := &running{c: c, reg: c.reg}
	legit := map[string]string{"agent": legitAgent.String()}
	run.agentGaps = r.metric(tb, "elk_collector_agent_datagram_sequence_gaps_total", legit)
	run.sampleGaps = r.metric(tb, "elk_collector_agent_sample_sequence_gaps_total", legit)
	run.legitFlowsM = r.metric(tb, "elk_collector_agent_samples_total", map[string]string{"agent": legitAgent.String(), "type": "flow"})
	run.legitFlows = g.flows
	run.legitDocs = cs.docs
	run.w = w
	return run
}

// agentDocs is a sink that counts the documents whose key is one agent.
type agentDocs struct {
	discard
	agent []byte
	docs  int
}

func (s *agentDocs) Write(_ context.Context, d []sink.Doc) error {
	for i := range d {
		if bytes.Equal(d[i].Key, s.agent) {
			s.docs++
		}
	}
	return nil
}

func vmRSS() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
			n, _ := strconv.Atoi(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))))
			return n
		}
	}
	return 0
}

func hostileCollector(tb testing.TB, stateMemory int) *Collector {
	tb.Helper()
	c, err := New(Config{Listen: "127.0.0.1:0", Batch: 64, Workers: 1, StateMemory: stateMemory}, Deps{Metrics: prometheus.NewRegistry(), Sinks: []sink.Sink{discard{}}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.recv.Run(canceled()) })
	return c
}

const mib = 1 << 20

// BenchmarkHostileAgents floods one worker with 1,000,000 hostile
// datagrams (see hostile) and reports the heap the collector keeps.
func BenchmarkHostileAgents(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("ELK_HOSTILE_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	var run hostileRun
	for i := 0; i < b.N; i++ {
		mem := 0
		if s := os.Getenv("ELK_HOSTILE_STATE_MIB"); s != "" {
			m, _ := strconv.Atoi(s)
			mem = m << 20
		}
		c := hostileCollector(b, mem)
		run = floodWorker(b, c, n)
	}
	b.ReportMetric(float64(run.heapAfter-run.heapBefore)/mib, "retained-MiB")
	b.ReportMetric(float64(run.heapPeak-run.heapBefore)/mib, "peak-heap-MiB")
	b.ReportMetric(float64(run.rssKiB)/1024, "VmRSS-MiB")
	b.ReportMetric(run.agentGaps+run.sampleGaps, "legit-loss")
	b.Logf("%d hostile datagrams: heap in use %.1f MiB before, %.1f MiB after (peak %.1f), VmRSS %.1f MiB; legitimate agent: %d flows sent, %v counted, %v datagram and %v sample gaps, %d documents",
		run.datagrams, float64(run.heapBefore)/mib, float64(run.heapAfter)/mib, float64(run.heapPeak)/mib, float64(run.rssKiB)/1024,
		run.legitFlows, run.legitFlowsM, run.agentGaps, run.sampleGaps, run.legitDocs)
}

// TestHostileAgentsStayWithinBudget floods a collector with a 1 MiB state
// budget: the agents it remembers stay within it, the least recently heard
// are forgotten and counted, senders without their own series are not
// remembered, and a legitimate agent keeps its own series and loses
// nothing.
func TestHostileAgentsStayWithinBudget(t *testing.T) {
	const budget = 1 << 20
	c := hostileCollector(t, budget)
	run := floodWorker(t, c, 200_000)
	w := run.w
	r := &running{c: c, reg: c.reg}

	if got := r.metric(t, "elk_collector_state_budget_bytes", nil); got != budget {
		t.Errorf("state budget gauge = %v, want %d", got, budget)
	}
	used := r.metric(t, "elk_collector_state_bytes", nil)
	if used <= 0 || used > budget || int(used) != w.agents.used {
		t.Errorf("state bytes gauge = %v (table %d), want within (0, %d]", used, w.agents.used, budget)
	}
	if n := len(w.agents.m); n > budget/agentCost {
		t.Errorf("%d agents remembered, budget allows %d", n, budget/agentCost)
	}
	// 3 hostile datagrams in 4 invent an agent; all but the remembered
	// ones were forgotten.
	if ev := r.metric(t, "elk_collector_state_evictions_total", nil); ev < 150_000-float64(budget/agentCost) {
		t.Errorf("evictions = %v, want about 150,000", ev)
	}
	if n := len(w.senders); n > c.cfg.MaxAgents {
		t.Errorf("%d senders cached, want at most --max-agents (%d)", n, c.cfg.MaxAgents)
	}
	if run.legitFlowsM != float64(run.legitFlows) || run.legitFlows == 0 {
		t.Errorf("legitimate agent: %v flows counted in its own series, %d sent", run.legitFlowsM, run.legitFlows)
	}
	if run.agentGaps+run.sampleGaps != 0 {
		t.Errorf("legitimate agent: %v datagram and %v sample gaps, want none", run.agentGaps, run.sampleGaps)
	}
	if run.legitDocs < run.legitFlows {
		t.Errorf("legitimate agent: %d documents for %d flows", run.legitDocs, run.legitFlows)
	}
}
