package synth

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/elk-project/elk/collector/route"
	"github.com/elk-project/elk/collector/sflow"
)

func TestScenarioTotals(t *testing.T) {
	const rate = 1000.0
	d := 9 * time.Second
	tests := []struct {
		name     string
		scenario string
		shape    Shape
		want     float64 // samples due at the end
		at       time.Duration
		wantRate float64 // instantaneous rate at `at`
	}{
		{name: "steady", scenario: ScenarioSteady, want: 9000, at: 4 * time.Second, wantRate: 1000},
		{name: "spike defaults", scenario: ScenarioSpike, want: 9000 + 3*3000, at: 4 * time.Second, wantRate: 4000},
		{name: "spike after", scenario: ScenarioSpike, want: 9000 + 3*3000, at: 7 * time.Second, wantRate: 1000},
		{name: "spike custom", scenario: ScenarioSpike, shape: Shape{SpikeAt: time.Second, SpikeFor: 2 * time.Second, SpikeFactor: 10},
			want: 9000 + 9*2000, at: 2 * time.Second, wantRate: 10000},
		{name: "ramp defaults", scenario: ScenarioRamp, want: 1000 * (0.1*9 + 0.9*9/2), at: 0, wantRate: 100},
		{name: "ramp then hold", scenario: ScenarioRamp, shape: Shape{RampFrom: 0.5, RampFor: 4 * time.Second},
			want: 1000*(0.5*4+0.5*4/2) + 5000, at: 6 * time.Second, wantRate: 1000},
		{name: "diurnal full period", scenario: ScenarioDiurnal, want: 9000, at: 4500 * time.Millisecond, wantRate: 1800},
		{name: "diurnal trough", scenario: ScenarioDiurnal, shape: Shape{DiurnalAmplitude: 0.5}, want: 9000, at: 0, wantRate: 500},
		{name: "spike repeated", scenario: ScenarioSpike, shape: Shape{SpikeAt: time.Second, SpikeFor: time.Second, SpikeEvery: 4 * time.Second, SpikeFactor: 2},
			want: 9000 + 1000*(1+1+0), at: 5500 * time.Millisecond, wantRate: 2000},
		{name: "spike repeated, between", scenario: ScenarioSpike, shape: Shape{SpikeAt: time.Second, SpikeFor: time.Second, SpikeEvery: 4 * time.Second, SpikeFactor: 2},
			want: 11000, at: 6500 * time.Millisecond, wantRate: 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := newProfile(tc.scenario, rate, d, tc.shape)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.due(d); math.Abs(got-tc.want) > 1e-6 {
				t.Errorf("due(%v) = %f, want %f", d, got, tc.want)
			}
			if got := p.rate(tc.at); math.Abs(got-tc.wantRate) > 1e-6 {
				t.Errorf("rate(%v) = %f, want %f", tc.at, got, tc.wantRate)
			}
			// The integral never decreases.
			prev := -1.0
			for x := time.Duration(0); x <= d; x += 10 * time.Millisecond {
				if n := p.due(x); n < prev-1e-9 {
					t.Fatalf("due decreases at %v: %f < %f", x, n, prev)
				} else {
					prev = n
				}
			}
		})
	}
}

func TestScenarioErrors(t *testing.T) {
	tests := []struct {
		name     string
		scenario string
		shape    Shape
	}{
		{name: "unknown", scenario: "tsunami"},
		{name: "negative spike", scenario: ScenarioSpike, shape: Shape{SpikeFactor: -1}},
		{name: "amplitude above one", scenario: ScenarioDiurnal, shape: Shape{DiurnalAmplitude: 1.5}},
		{name: "spike longer than its period", scenario: ScenarioSpike, shape: Shape{SpikeAt: time.Second, SpikeFor: time.Second, SpikeEvery: time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := newProfile(tc.scenario, 10, time.Second, tc.shape); err == nil {
				t.Errorf("newProfile(%q, %+v) succeeded, want an error", tc.scenario, tc.shape)
			}
		})
	}
}

func testConfig() Config {
	c := DefaultConfig()
	c.Rate = 5000
	c.Duration = 2 * time.Second
	c.CounterInterval = 500 * time.Millisecond
	c.SubAgents = 2
	c.Expanded = true
	c.Mix.VLAN = 0.5
	c.Mix.QinQ = 0.2
	return c
}

// generate runs the generator to the end without sending.
func generate(t *testing.T, cfg Config) ([]datagram, *Truth) {
	t.Helper()
	a, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	g := newGenerator(&a.cfg, a.prof, a.tenants)
	var out []datagram
	for {
		d, ok := g.next()
		if !ok {
			return out, g.truth
		}
		out = append(out, d)
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	cfg := testConfig()
	a, _ := generate(t, cfg)
	b, _ := generate(t, cfg)
	if len(a) != len(b) {
		t.Fatalf("same seed: %d then %d datagrams", len(a), len(b))
	}
	for i := range a {
		if a[i].at != b[i].at || !bytes.Equal(a[i].payload, b[i].payload) {
			t.Fatalf("same seed: datagram %d differs", i)
		}
	}
	cfg.Seed++
	c, _ := generate(t, cfg)
	if len(c) == len(a) && bytes.Equal(c[0].payload, a[0].payload) {
		t.Errorf("different seeds gave the same first datagram")
	}
}

// TestDatagramsDecode decodes every datagram with the collector's decoder
// and checks them against the truth and the agent's own invariants.
func TestDatagramsDecode(t *testing.T) {
	cfg := testConfig()
	dgs, truth := generate(t, cfg)
	if truth.FlowSamples != 10000 {
		t.Errorf("flow samples %d, want 5000/s × 2s", truth.FlowSamples)
	}
	var (
		dec       sflow.Decoder
		dg        sflow.Datagram
		got       = newTruth()
		seqs      = map[string]uint32{}
		uptimes   = map[string]uint32{}
		pools     = map[uint32][2]uint32{} // ifIndex+agent → last (seq, pool)
		octets    = map[uint32]uint64{}
		lastAt    time.Duration
		formats   = map[bool]int{}
		tagged    int
		qinq      int
		byteCount uint64
	)
	for i, d := range dgs {
		if len(d.payload) > cfg.MaxDatagramSize {
			t.Fatalf("datagram %d: %d bytes, limit %d", i, len(d.payload), cfg.MaxDatagramSize)
		}
		if d.at < lastAt || d.at > cfg.Duration {
			t.Fatalf("datagram %d due at %v after one due at %v (duration %v)", i, d.at, lastAt, cfg.Duration)
		}
		lastAt = d.at
		if err := dec.Decode(d.payload, &dg); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if dg.UnknownTotal() != 0 {
			t.Fatalf("datagram %d: %d unknown structures", i, dg.UnknownTotal())
		}
		got.Datagrams++
		byteCount += uint64(len(d.payload))
		key := dg.AgentAddr.String() + "/" + string(rune('0'+dg.SubAgentID))
		if prev, ok := seqs[key]; ok && dg.Sequence != prev+1 {
			t.Fatalf("datagram %d: sequence of %s goes from %d to %d", i, key, prev, dg.Sequence)
		}
		seqs[key] = dg.Sequence
		if prev, ok := uptimes[key]; ok && dg.UptimeMS < prev {
			t.Fatalf("datagram %d: uptime of %s goes back from %d to %d", i, key, prev, dg.UptimeMS)
		}
		uptimes[key] = dg.UptimeMS
		for _, f := range dg.Flows {
			got.addFlow(f.SamplingRate, int(f.RawHeader.FrameLength))
			got.SamplingRates[f.SamplingRate]++
			formats[f.Expanded]++
			h := &f.RawHeader
			if h.Parsed&sflow.LayerEthernet == 0 || h.Network == sflow.NetworkNone {
				t.Fatalf("datagram %d: header not parsed to the network layer: %+v", i, h.Parsed)
			}
			if want := min(h.FrameLength-4, maxHeaderSize); uint32(len(h.Header)) != want {
				t.Fatalf("datagram %d: header %d bytes for a %d-byte frame", i, len(h.Header), h.FrameLength)
			}
			if f.Has(sflow.HasSwitch) {
				tagged++
				// The switch bridges on the outer tag.
				if h.VLANs == 0 || uint32(h.VLAN) != f.Switch.SrcVLAN || f.Switch.DstVLAN != f.Switch.SrcVLAN {
					t.Fatalf("datagram %d: switch record VLANs %d/%d, header VLAN %d (%d tags)",
						i, f.Switch.SrcVLAN, f.Switch.DstVLAN, h.VLAN, h.VLANs)
				}
				if h.VLANs == 2 {
					qinq++
				}
			}
			k := f.SourceIDIndex ^ uint32(dg.AgentAddr.As4()[3])<<24
			if prev, ok := pools[k]; ok {
				dseq, dpool := f.Sequence-prev[0], f.SamplePool-prev[1]
				if dseq == 0 || dpool != dseq*f.SamplingRate {
					t.Fatalf("datagram %d: Δpool %d over Δseq %d at rate %d", i, dpool, dseq, f.SamplingRate)
				}
			}
			pools[k] = [2]uint32{f.Sequence, f.SamplePool}
		}
		for _, c := range dg.Counters {
			got.CounterSamples++
			if !c.Has(sflow.HasGenericInterface | sflow.HasEthernetInterface) {
				t.Fatalf("datagram %d: counter sample without generic and Ethernet records", i)
			}
			k := c.SourceIDIndex ^ uint32(dg.AgentAddr.As4()[3])<<24
			if c.Generic.InOctets < octets[k] {
				t.Fatalf("datagram %d: in_octets goes back", i)
			}
			octets[k] = c.Generic.InOctets
		}
	}
	if got.Datagrams != truth.Datagrams || got.FlowSamples != truth.FlowSamples || got.CounterSamples != truth.CounterSamples ||
		got.Packets != truth.Packets || got.Bytes != truth.Bytes || byteCount != truth.DatagramBytes {
		t.Errorf("decoded %+v (%d bytes), truth %+v (%d bytes)", got.Totals, byteCount, truth.Totals, truth.DatagramBytes)
	}
	if len(seqs) != cfg.Agents*cfg.SubAgents {
		t.Errorf("%d agent streams, want %d", len(seqs), cfg.Agents*cfg.SubAgents)
	}
	if formats[true] == 0 || formats[false] == 0 || tagged == 0 || qinq == 0 {
		t.Errorf("mix: %d expanded, %d compact, %d tagged (%d QinQ) flow samples; want some of each",
			formats[true], formats[false], tagged, qinq)
	}
	// 4 agents × 2 sub-agents × 8 interfaces, polled 4 times in 2s.
	if want := uint64(4 * 2 * 8 * 4); truth.CounterSamples != want {
		t.Errorf("counter samples %d, want %d", truth.CounterSamples, want)
	}
}

// TestTenantTruthAgreesWithRouter checks the agent's linear tenant matcher
// against the collector's router on the decoded datagrams.
func TestTenantTruthAgreesWithRouter(t *testing.T) {
	path := filepath.Join("testdata", "tenants.yaml")
	table, err := route.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.TenantsFile = path
	cfg.LocalPrefixes = append(cfg.LocalPrefixes, netip.MustParsePrefix("172.16.0.0/12"))
	dgs, truth := generate(t, cfg)

	var (
		dec     sflow.Decoder
		dg      sflow.Datagram
		got     = map[string]*Totals{}
		matches []route.Match
	)
	for i, d := range dgs {
		if err := dec.Decode(d.payload, &dg); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		for _, f := range dg.Flows {
			rf := route.Flow{Src: f.RawHeader.SrcIP, Dst: f.RawHeader.DstIP, Agent: dg.AgentAddr,
				VLAN: uint32(f.RawHeader.VLAN), InIf: f.Input.Value, OutIf: f.Output.Value, HasIfIndex: true}
			matches = table.Match(&rf, matches[:0])
			for _, m := range matches {
				id := table.Tenants[m.Tenant].ID
				if got[id] == nil {
					got[id] = &Totals{}
				}
				got[id].addFlow(f.SamplingRate, int(f.RawHeader.FrameLength))
			}
		}
	}
	var ids []string
	for id := range truth.Tenants {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		want := truth.Tenants[id]
		g := got[id]
		if g == nil {
			g = &Totals{}
		}
		t.Logf("tenant %-12s truth %6d flows %12d packets, router %6d flows", id, want.FlowSamples, want.Packets, g.FlowSamples)
		if *g != *want {
			t.Errorf("tenant %s: router %+v, truth %+v", id, *g, *want)
		}
		if want.FlowSamples == 0 {
			t.Errorf("tenant %s: no flows generated for it", id)
		}
	}
	if len(got) != len(truth.Tenants) {
		t.Errorf("router matched %d tenants, truth has %d", len(got), len(truth.Tenants))
	}
}

// fakeClock advances only when slept on, oversleeping every time like a
// real timer does.
type fakeClock struct {
	mu        sync.Mutex
	now       time.Time
	oversleep time.Duration
	sleeps    int
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d + c.oversleep)
	c.sleeps++
	return ctx.Err()
}

// TestPacingDoesNotDrift runs with a clock that oversleeps by 300µs on
// every sleep: the run must still end on time, because each wait targets
// an absolute offset from the start.
func TestPacingDoesNotDrift(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := testConfig()
	cfg.Target = pc.LocalAddr().String()
	clock := &fakeClock{now: time.Unix(1e9, 0), oversleep: 300 * time.Microsecond}
	a, err := New(cfg, Deps{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Duration(a.Truth().ElapsedSeconds * float64(time.Second))
	t.Logf("%d sleeps, elapsed %v for a %v run", clock.sleeps, elapsed, cfg.Duration)
	if clock.sleeps < 1000 {
		t.Errorf("only %d sleeps: datagrams are not spread over the run", clock.sleeps)
	}
	if elapsed < cfg.Duration || elapsed > cfg.Duration+time.Millisecond {
		t.Errorf("elapsed %v, want %v (+ at most one oversleep)", elapsed, cfg.Duration)
	}
}

// TestRunSendsEverything sends over loopback with the real clock and counts
// what arrives.
func TestRunSendsEverything(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_ = pc.(*net.UDPConn).SetReadBuffer(8 << 20)
	var (
		received, bytesIn int
		done              = make(chan struct{})
	)
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			_ = pc.SetReadDeadline(time.Now().Add(time.Second))
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			received++
			bytesIn += n
		}
	}()
	cfg := testConfig()
	cfg.Duration = 500 * time.Millisecond
	cfg.Target = pc.LocalAddr().String()
	cfg.TruthPath = filepath.Join(t.TempDir(), "truth.json")
	a, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	<-done
	truth, err := ReadTruth(cfg.TruthPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d datagrams (%d bytes) in %v, received %d (%d bytes)", truth.Datagrams, truth.DatagramBytes, took, received, bytesIn)
	if uint64(received) != truth.Datagrams || uint64(bytesIn) != truth.DatagramBytes {
		t.Errorf("received %d datagrams / %d bytes, truth %d / %d", received, bytesIn, truth.Datagrams, truth.DatagramBytes)
	}
	if took < cfg.Duration-5*time.Millisecond || took > cfg.Duration+300*time.Millisecond {
		t.Errorf("run took %v, want about %v", took, cfg.Duration)
	}
}

// TestRunInterrupted stops a run early: the truth must still describe
// exactly what was sent.
func TestRunInterrupted(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_ = pc.(*net.UDPConn).SetReadBuffer(8 << 20)
	var received int
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			_ = pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			received++
		}
	}()
	cfg := testConfig()
	cfg.Duration = time.Minute
	cfg.Target = pc.LocalAddr().String()
	a, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := a.Run(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	tr := a.Truth()
	if !tr.Interrupted || uint64(received) != tr.Datagrams || tr.FlowSamples == 0 || tr.FlowSamples > 5000 {
		t.Errorf("interrupted=%v, received %d datagrams, truth %d datagrams / %d flow samples",
			tr.Interrupted, received, tr.Datagrams, tr.FlowSamples)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{name: "zero rate", change: func(c *Config) { c.Rate = 0 }},
		{name: "no duration", change: func(c *Config) { c.Duration = 0 }},
		{name: "no agents", change: func(c *Config) { c.Agents = 0 }},
		{name: "sampling rate zero", change: func(c *Config) { c.SamplingRates = []uint32{256, 0} }},
		{name: "tiny datagrams", change: func(c *Config) { c.MaxDatagramSize = 100 }},
		{name: "fraction above one", change: func(c *Config) { c.Mix.VLAN = 2 }},
		{name: "bad scenario", change: func(c *Config) { c.Scenario = "flat" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(&c)
			if err := c.Validate(); err == nil {
				t.Errorf("Validate accepted %s", tc.name)
			}
		})
	}
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}

func BenchmarkGenerate(b *testing.B) {
	cfg := testConfig()
	cfg.Duration = time.Hour
	a, err := New(cfg, Deps{})
	if err != nil {
		b.Fatal(err)
	}
	g := newGenerator(&a.cfg, a.prof, a.tenants)
	b.ReportAllocs()
	b.ResetTimer()
	samples := g.emitted
	for i := 0; i < b.N; i++ {
		if _, ok := g.next(); !ok {
			b.Fatal("run ended")
		}
	}
	b.ReportMetric(float64(g.emitted-samples)/b.Elapsed().Seconds(), "samples/s")
}

// readPcap returns the timestamps and sFlow payloads of a capture written
// by the agent.
func readPcap(t *testing.T, path string) ([]time.Time, [][]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 1 {
		t.Fatalf("%s: not a little-endian Ethernet pcap", path)
	}
	var times []time.Time
	var payloads [][]byte
	for off := 24; off < len(b); {
		sec, usec := binary.LittleEndian.Uint32(b[off:]), binary.LittleEndian.Uint32(b[off+4:])
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		frame := b[off+16 : off+16+n]
		off += 16 + n
		if binary.BigEndian.Uint16(frame[12:]) != etherTypeIPv4 || frame[23] != 17 || binary.BigEndian.Uint16(frame[36:]) != SFlowPort {
			t.Fatalf("pcap record is not UDP/IPv4 to port %d", SFlowPort)
		}
		times = append(times, time.Unix(int64(sec), int64(usec)*1000))
		payloads = append(payloads, frame[42:])
	}
	return times, payloads
}

// TestScenarioShapeOnTheWire runs each scenario on a virtual clock and
// checks, from the capture's timestamps, that the flow samples went out at
// the rate the scenario prescribes, window by window.
func TestScenarioShapeOnTheWire(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	const window = 250 * time.Millisecond
	for _, scenario := range Scenarios {
		t.Run(scenario, func(t *testing.T) {
			cfg := testConfig()
			cfg.Rate = 4000
			cfg.Duration = 3 * time.Second
			cfg.Scenario = scenario
			cfg.Target = pc.LocalAddr().String()
			cfg.PcapPath = filepath.Join(t.TempDir(), "run.pcap")
			start := time.Unix(1e9, 0)
			a, err := New(cfg, Deps{Clock: &fakeClock{now: start}})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			times, payloads := readPcap(t, cfg.PcapPath)
			counts := make([]float64, int(cfg.Duration/window)+1)
			var dec sflow.Decoder
			var dg sflow.Datagram
			for i, p := range payloads {
				if err := dec.Decode(p, &dg); err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				counts[min(int(times[i].Sub(start)/window), len(counts)-1)] += float64(len(dg.Flows))
			}
			for w := 0; w < int(cfg.Duration/window); w++ {
				from, to := time.Duration(w)*window, time.Duration(w+1)*window
				want := a.prof.due(to) - a.prof.due(from)
				// Samples wait at most MaxDelay in a datagram, or until it
				// fills: allow that much at each edge of the window.
				slack := 2 * (math.Max(a.prof.rate(from), a.prof.rate(to))*cfg.MaxDelay.Seconds() + 10)
				if math.Abs(counts[w]-want) > slack {
					t.Errorf("window %v-%v: %.0f flow samples sent, want %.0f ± %.0f", from, to, counts[w], want, slack)
				}
			}
		})
	}
}

// TestLongRunDefaults checks that the default shapes of a long-running
// agent play out within ShapeSpan rather than over its whole duration.
func TestLongRunDefaults(t *testing.T) {
	year := 8760 * time.Hour
	tests := []struct {
		scenario string
		at       time.Duration
		wantRate float64
	}{
		{scenario: ScenarioSpike, at: 15 * time.Minute, wantRate: 4000},
		{scenario: ScenarioSpike, at: 25 * time.Minute, wantRate: 1000},
		{scenario: ScenarioSpike, at: 24*time.Hour + 15*time.Minute, wantRate: 4000},
		{scenario: ScenarioRamp, at: time.Hour, wantRate: 1000},
		{scenario: ScenarioDiurnal, at: 15 * time.Minute, wantRate: 1800},
		{scenario: ScenarioDiurnal, at: 30 * time.Minute, wantRate: 200},
	}
	for _, tc := range tests {
		p, err := newProfile(tc.scenario, 1000, year, Shape{})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.rate(tc.at); math.Abs(got-tc.wantRate) > 1e-6 {
			t.Errorf("%s at %v of a year-long run: rate %f, want %f", tc.scenario, tc.at, got, tc.wantRate)
		}
	}
}
