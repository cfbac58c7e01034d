package flowdoc

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/collector/sflow"
)

func testDatagram(t testing.TB) *sflow.Datagram {
	h := sflow.RawHeader{
		Protocol: sflow.HeaderEthernet, FrameLength: 1500, Stripped: 4,
		SrcMAC: sflow.MAC{0x02, 0, 0, 0, 0, 1}, DstMAC: sflow.MAC{0x02, 0, 0, 0, 0, 2},
		VLANs: 2, VLAN: 100, InnerVLAN: 200,
		EtherType: 0x0800, Network: sflow.NetworkIPv4,
		SrcIP: netip.MustParseAddr("10.1.2.3"), DstIP: netip.MustParseAddr("192.0.2.9"),
		IPProto: 6, TOS: 0x2d, TTL: 63, IPLength: 1482, SrcPort: 40000, DstPort: 443, TCPFlags: 0x18,
	}
	h.Header = sflow.AppendFrame(nil, &h, 128)
	h.HeaderSize = uint32(len(h.Header))
	src := &sflow.Datagram{AgentAddr: netip.MustParseAddr("192.0.2.1"), SubAgentID: 1, Sequence: 42, UptimeMS: 60000}
	f := sflow.FlowSample{
		Sequence: 7, SourceIDType: 0, SourceIDIndex: 3, SamplingRate: 1024, SamplePool: 5000, Drops: 2,
		Input:  sflow.Interface{Format: sflow.InterfaceIndex, Value: 3},
		Output: sflow.Interface{Format: sflow.InterfaceIndex, Value: 4},
	}
	f.RawHeader = h
	f.Switch = sflow.ExtendedSwitch{SrcVLAN: 100, DstVLAN: 101}
	f.Gateway = sflow.ExtendedGateway{AS: 65000, SrcAS: 65001, ASPath: []sflow.ASPathSegment{{Type: sflow.ASSequence, ASNs: []uint32{65002, 15169}}}, Communities: []uint32{65000<<16 | 7}}
	f.Present = sflow.HasRawHeader | sflow.HasSwitch | sflow.HasGateway
	f.Records = []sflow.DataFormat{sflow.FlowRawHeader, sflow.FlowExtendedSwitch, sflow.FlowExtendedGateway}
	src.Flows = append(src.Flows, f)
	c := sflow.CounterSample{Sequence: 9, SourceIDIndex: 3}
	c.Generic = sflow.GenericInterfaceCounters{IfIndex: 3, IfType: 6, IfSpeed: 1e9, IfStatus: 3,
		InOctets: 1000, InUcastPkts: 10, InMulticastPkts: 0, InBroadcastPkts: 0, InErrors: sflow.Unknown32,
		OutOctets: sflow.Unknown64, OutUcastPkts: 5, PromiscuousMode: 2}
	c.Processor = sflow.ProcessorCounters{CPU5s: 1250, CPU1m: sflow.Unknown32, TotalMemory: 1 << 30, FreeMemory: sflow.Unknown64}
	c.Present = sflow.HasGenericInterface | sflow.HasProcessor
	c.Records = []sflow.DataFormat{sflow.CounterGenericInterface, sflow.CounterProcessor}
	src.Counters = append(src.Counters, c)
	src.NumSamples = 2
	// Go through the wire format, as the collector does.
	b := sflow.AppendDatagram(nil, src)
	var dg sflow.Datagram
	var d sflow.Decoder
	if err := d.Decode(b, &dg); err != nil {
		t.Fatal(err)
	}
	return &dg
}

func get(t *testing.T, m map[string]any, path string) any {
	t.Helper()
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		o, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: %q is not an object", path, p)
		}
		if cur, ok = o[p]; !ok {
			t.Fatalf("%s: missing %q", path, p)
		}
	}
	return cur
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, b)
	}
	return m
}

var meta = Meta{Received: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC), BootMS: 1}

func TestFlowDocument(t *testing.T) {
	dg := testDatagram(t)
	body := AppendFlowBody(nil, dg, &dg.Flows[0], &meta)
	op := decodeJSON(t, AppendFlowTail(append([]byte(nil), body...), "", ""))
	tn := decodeJSON(t, AppendFlowTail(append([]byte(nil), body...), "acme", DirectionOutbound))
	want := map[string]any{
		"@timestamp":                     "2026-01-02T03:04:05.006Z",
		"event.kind":                     "event",
		"event.dataset":                  "sflow.flow",
		"event.module":                   "sflow",
		"ecs.version":                    ECSVersion,
		"observer.ip":                    "192.0.2.1",
		"observer.ingress.interface.id":  "3",
		"observer.egress.interface.id":   "4",
		"observer.ingress.vlan.id":       "100",
		"observer.egress.vlan.id":        "101",
		"source.ip":                      "10.1.2.3",
		"source.port":                    40000.0,
		"source.mac":                     "02-00-00-00-00-01",
		"source.as.number":               65001.0,
		"destination.ip":                 "192.0.2.9",
		"destination.port":               443.0,
		"destination.as.number":          15169.0,
		"network.type":                   "ipv4",
		"network.transport":              "tcp",
		"network.iana_number":            "6",
		"network.packets":                1024.0,
		"network.bytes":                  1500.0 * 1024,
		"network.vlan.id":                "100",
		"network.inner.vlan.id":          "200",
		"sflow.agent.sub_id":             1.0,
		"sflow.agent.uptime_ms":          60000.0,
		"sflow.datagram.sequence":        42.0,
		"sflow.sample.sequence":          7.0,
		"sflow.sample.source_id_index":   3.0,
		"sflow.sampling_rate":            1024.0,
		"sflow.sample_pool":              5000.0,
		"sflow.drops":                    2.0,
		"sflow.header.frame_length":      1500.0,
		"sflow.header.stripped":          4.0,
		"sflow.header.protocol":          1.0,
		"sflow.ip.dscp":                  11.0,
		"sflow.ip.ecn":                   1.0,
		"sflow.ip.ttl":                   63.0,
		"sflow.tcp_flags":                24.0,
		"sflow.gateway.local_pref":       0.0,
		"sflow.gateway.src_as":           65001.0,
		"sflow.output.format":            0.0,
		"sflow.frame_length":             1500.0,
		"network.community_id":           communityIDOf(t, dg),
		"sflow.sample.type":              "flow",
		"sflow.sample.source_id_type":    0.0,
		"sflow.gateway.as":               65000.0,
		"sflow.gateway.src_peer_as":      0.0,
		"sflow.header.size":              128.0,
		"sflow.input.value":              3.0,
		"sflow.output.value":             4.0,
		"event.created":                  "2026-01-02T03:04:05.006Z",
		"observer.type":                  "sflow",
		"sflow.ip.tos":                   45.0,
		"sflow.input.format":             0.0,
		"destination.mac":                "02-00-00-00-00-02",
		"event.category":                 []any{"network"},
		"event.type":                     []any{"connection"},
		"related.ip":                     []any{"10.1.2.3", "192.0.2.9"},
		"sflow.records":                  []any{"0:1", "0:1001", "0:1003"},
		"sflow.gateway.as_path":          []any{65002.0, 15169.0},
		"sflow.gateway.communities":      []any{"65000:7"},
		"observer.ingress.interface":     map[string]any{"id": "3"},
		"sflow.agent":                    map[string]any{"sub_id": 1.0, "uptime_ms": 60000.0},
		"sflow.datagram":                 map[string]any{"sequence": 42.0},
		"observer.egress.vlan":           map[string]any{"id": "101"},
		"network.inner":                  map[string]any{"vlan": map[string]any{"id": "200"}},
		"sflow.output":                   map[string]any{"format": 0.0, "value": 4.0},
		"sflow.input":                    map[string]any{"format": 0.0, "value": 3.0},
		"source.as":                      map[string]any{"number": 65001.0},
		"destination.as":                 map[string]any{"number": 15169.0},
		"network.vlan":                   map[string]any{"id": "100"},
		"observer.egress.interface":      map[string]any{"id": "4"},
		"observer.ingress.vlan":          map[string]any{"id": "100"},
		"sflow.sample.source_id_index+0": nil,
	}
	delete(want, "sflow.sample.source_id_index+0")
	for path, w := range want {
		got := get(t, op, path)
		if gj, wj := mustJSON(got), mustJSON(w); gj != wj {
			t.Errorf("%s = %s, want %s", path, gj, wj)
		}
	}
	if _, ok := op["organization"]; ok {
		t.Error("operator copy has organization")
	}
	if got := get(t, tn, "organization.id"); got != "acme" {
		t.Errorf("tenant copy organization.id = %v", got)
	}
	if got := get(t, tn, "network.direction"); got != "outbound" {
		t.Errorf("tenant copy network.direction = %v", got)
	}
}

func communityIDOf(t *testing.T, dg *sflow.Datagram) string {
	e := FlowEndpoints(&dg.Flows[0].FlowData)
	id, ok := appendCommunityID(nil, &e)
	if !ok {
		t.Fatal("no community id")
	}
	return string(id[:])
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCommunityID checks the reference vector of the Community ID spec
// (TCP 128.232.110.120:34855 → 66.35.250.204:80, seed 0).
func TestCommunityID(t *testing.T) {
	e := Endpoints{Src: netip.MustParseAddr("128.232.110.120"), Dst: netip.MustParseAddr("66.35.250.204"),
		SrcPort: 34855, DstPort: 80, Proto: 6, HasProto: true, HasPorts: true}
	id, ok := appendCommunityID(nil, &e)
	if want := "1:LQU9qZlK+B5F3KDmev6m5PMibrg="; !ok || string(id[:]) != want {
		t.Errorf("community id %q, want %q", id, want)
	}
	e.Src, e.Dst, e.SrcPort, e.DstPort = e.Dst, e.Src, e.DstPort, e.SrcPort
	if id2, _ := appendCommunityID(nil, &e); id2 != id {
		t.Errorf("reversed flow has id %q, want %q", id2, id)
	}
}

func TestCounterDocuments(t *testing.T) {
	dg := testDatagram(t)
	c := &dg.Counters[0]
	var rt RateTracker
	r0 := rt.Generic(dg, c, false)
	if r0.Valid || r0.Discontinuity {
		t.Errorf("first record rates %+v, want none", r0)
	}
	recs := CounterRecords(c, nil)
	if len(recs) != 2 {
		t.Fatalf("records %v, want generic and processor", recs)
	}
	doc := decodeJSON(t, AppendCounterTail(AppendCounterBody(nil, dg, c, recs[0], &r0, &meta), "acme"))
	for path, w := range map[string]any{
		"event.kind":                          "metric",
		"event.dataset":                       "sflow.counters",
		"organization.id":                     "acme",
		"observer.ip":                         "192.0.2.1",
		"sflow.counters.if.index":             3.0,
		"sflow.counters.if.in_octets":         1000.0,
		"sflow.counters.if.in_errors":         nil,
		"sflow.counters.if.out_octets":        nil,
		"sflow.counters.if.oper_up":           true,
		"sflow.counters.if.promiscuous":       false,
		"sflow.counters.discontinuity":        false,
		"sflow.sample.sequence":               9.0,
		"sflow.counters.if.in_unknown_protos": 0.0,
	} {
		if gj, wj := mustJSON(get(t, doc, path)), mustJSON(w); gj != wj {
			t.Errorf("%s = %s, want %s", path, gj, wj)
		}
	}
	proc := decodeJSON(t, AppendCounterTail(AppendCounterBody(nil, dg, c, recs[1], nil, &meta), ""))
	if got := mustJSON(get(t, proc, "sflow.counters.processor")); got != `{"cpu_1m_pct":null,"cpu_5m_pct":0,"cpu_5s_pct":12.5,"free_memory_bytes":null,"total_memory_bytes":1073741824}` {
		t.Errorf("processor = %s", got)
	}

	// 10 s later: 8000 more octets, 100 more packets.
	dg.UptimeMS += 10000
	c.Generic.InOctets += 10000
	c.Generic.InUcastPkts += 100
	r1 := rt.Generic(dg, c, false)
	doc = decodeJSON(t, AppendCounterTail(AppendCounterBody(nil, dg, c, recs[0], &r1, &meta), ""))
	for path, w := range map[string]any{
		"sflow.counters.delta_seconds":   10.0,
		"sflow.counters.if.in_bps":       8000.0,
		"sflow.counters.if.in_pps":       10.0,
		"sflow.counters.if.out_bps":      nil,
		"sflow.counters.if.in_errors_ps": nil,
		"sflow.counters.discontinuity":   false,
	} {
		if gj, wj := mustJSON(get(t, doc, path)), mustJSON(w); gj != wj {
			t.Errorf("%s = %s, want %s", path, gj, wj)
		}
	}
	// A counter going backwards is a discontinuity.
	dg.UptimeMS += 10000
	c.Generic.InOctets = 5
	if r := rt.Generic(dg, c, false); !r.Discontinuity || r.Valid {
		t.Errorf("counter went backwards: rates %+v, want a discontinuity", r)
	}
	dg.UptimeMS += 10000
	if r := rt.Generic(dg, c, true); !r.Discontinuity {
		t.Errorf("restart: rates %+v, want a discontinuity", r)
	}
}

func TestIDs(t *testing.T) {
	k := IDKey{Agent: netip.MustParseAddr("192.0.2.1"), SubAgent: 1, BootMS: 1000, Sequence: 5, Sample: 2}
	id := string(AppendID(nil, &k))
	if len(id) != IDLen {
		t.Fatalf("id %q has length %d, want %d", id, len(id), IDLen)
	}
	if again := string(AppendID(nil, &k)); again != id {
		t.Errorf("id not deterministic: %q then %q", id, again)
	}
	seen := map[string]string{id: "base"}
	for name, mod := range map[string]func(*IDKey){
		"agent":    func(k *IDKey) { k.Agent = netip.MustParseAddr("192.0.2.2") },
		"subagent": func(k *IDKey) { k.SubAgent = 2 },
		"boot":     func(k *IDKey) { k.BootMS = 2000 },
		"sequence": func(k *IDKey) { k.Sequence = 6 },
		"sample":   func(k *IDKey) { k.Sample = 3 },
		"record":   func(k *IDKey) { k.Record = 1 },
		"counter":  func(k *IDKey) { k.Counter = true },
		"tenant":   func(k *IDKey) { k.Tenant = "acme" },
	} {
		k2 := k
		mod(&k2)
		id2 := string(AppendID(nil, &k2))
		if other, dup := seen[id2]; dup {
			t.Errorf("changing %s gives the same id as %s", name, other)
		}
		seen[id2] = name
	}
	// Boot time is stable across datagrams despite receive jitter.
	r := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	if a, b := BootTime(r, 5000), BootTime(r.Add(40*time.Millisecond), 5010); a != b {
		t.Errorf("boot time moved with jitter: %d vs %d", a, b)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"plain", `q"b\s`, "ctl\x01\n\t", "ünï", "bad\xff"} {
		var back string
		if err := json.Unmarshal(appendString(nil, s), &back); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestEncodeZeroAllocs(t *testing.T) {
	dg := testDatagram(t)
	buf := make([]byte, 0, 8192)
	var rt RateTracker
	recs := make([]sflow.DataFormat, 0, 4)
	k := IDKey{Agent: dg.AgentAddr}
	allocs := testing.AllocsPerRun(200, func() {
		buf = AppendFlowBody(buf[:0], dg, &dg.Flows[0], &meta)
		buf = AppendFlowTail(buf, "acme", DirectionInbound)
		buf = AppendID(buf, &k)
		c := &dg.Counters[0]
		r := rt.Generic(dg, c, false)
		for _, rec := range CounterRecords(c, recs[:0]) {
			buf = AppendCounterTail(AppendCounterBody(buf, dg, c, rec, &r, &meta), "")
		}
	})
	if allocs != 0 {
		t.Errorf("encoding allocates %.1f times, want 0", allocs)
	}
}

func BenchmarkFlowDocument(b *testing.B) {
	dg := testDatagram(b)
	buf := make([]byte, 0, 8192)
	k := IDKey{Agent: dg.AgentAddr}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendFlowBody(buf[:0], dg, &dg.Flows[0], &meta)
		buf = AppendFlowTail(buf, "", "")
		buf = AppendID(buf, &k)
	}
	b.SetBytes(int64(len(buf)))
}

func TestFlowDocumentVariants(t *testing.T) {
	v6 := sflow.RawHeader{Protocol: sflow.HeaderIPv6, FrameLength: 200, Network: sflow.NetworkIPv6,
		SrcIP: netip.MustParseAddr("2001:db8::1"), DstIP: netip.MustParseAddr("2001:db8::2"),
		IPProto: 17, TTL: 9, IPLength: 200, SrcPort: 53, DstPort: 5353}
	v6.Header = sflow.AppendFrame(nil, &v6, 0)
	v6.HeaderSize = uint32(len(v6.Header))
	tests := []struct {
		name string
		f    sflow.FlowSample
		want map[string]any
	}{
		{"ipv6 raw header", func() sflow.FlowSample {
			f := sflow.FlowSample{SamplingRate: 10, Output: sflow.Interface{Format: sflow.InterfaceDiscarded, Value: sflow.DiscardACL}}
			f.RawHeader, f.Present, f.Records = v6, sflow.HasRawHeader, []sflow.DataFormat{sflow.FlowRawHeader}
			return f
		}(), map[string]any{
			"network.type": "ipv6", "network.transport": "udp", "source.ip": "2001:db8::1", "destination.port": 5353.0,
			"network.bytes": 2000.0, "sflow.output.discard_reason": 258.0, "sflow.ip.ttl": 9.0,
		}},
		{"ipv4 data record only", func() sflow.FlowSample {
			f := sflow.FlowSample{SamplingRate: 4, Output: sflow.Interface{Format: sflow.InterfaceMultiple, Value: 3}}
			f.IPv4 = sflow.IPData{Length: 1000, Protocol: 6, SrcIP: netip.MustParseAddr("10.0.0.1"), DstIP: netip.MustParseAddr("10.0.0.2"), SrcPort: 1, DstPort: 2, TCPFlags: 2}
			f.Present, f.Records = sflow.HasIPv4, []sflow.DataFormat{sflow.FlowIPv4}
			return f
		}(), map[string]any{
			"network.type": "ipv4", "network.transport": "tcp", "network.bytes": 4000.0, "network.packets": 4.0,
			"sflow.output.count": 3.0, "sflow.tcp_flags": 2.0, "sflow.frame_length": 1000.0,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := &sflow.Datagram{AgentAddr: netip.MustParseAddr("2001:db8::fe"), Sequence: 1, NumSamples: 1, Flows: []sflow.FlowSample{tc.f}}
			var dg sflow.Datagram
			var d sflow.Decoder
			if err := d.Decode(sflow.AppendDatagram(nil, src), &dg); err != nil {
				t.Fatal(err)
			}
			doc := decodeJSON(t, AppendFlowTail(AppendFlowBody(nil, &dg, &dg.Flows[0], &meta), "", ""))
			tc.want["observer.ip"] = "2001:db8::fe"
			for path, w := range tc.want {
				if gj, wj := mustJSON(get(t, doc, path)), mustJSON(w); gj != wj {
					t.Errorf("%s = %s, want %s", path, gj, wj)
				}
			}
		})
	}
}

// TestFlowDocumentNATAndTunnels: the NAT records fill ECS source.nat.* and
// destination.nat.*, the tunnel records sflow.tunnel.{egress,ingress}.
func TestFlowDocumentNATAndTunnels(t *testing.T) {
	src := &sflow.Datagram{AgentAddr: netip.MustParseAddr("192.0.2.1"), NumSamples: 1}
	f := sflow.FlowSample{SamplingRate: 100, Input: sflow.Interface{Value: 1}, Output: sflow.Interface{Value: 2}}
	f.IPv4 = sflow.IPData{Length: 1400, Protocol: 6, SrcIP: netip.MustParseAddr("10.0.0.5"), DstIP: netip.MustParseAddr("203.0.113.9"), SrcPort: 5555, DstPort: 443}
	f.Ext = &sflow.FlowExtensions{
		NAT:    sflow.ExtendedNAT{Src: netip.MustParseAddr("198.51.100.1"), Dst: netip.MustParseAddr("203.0.113.9")},
		Egress: sflow.TunnelHeaders{IP: sflow.IPData{Length: 1450, Protocol: 17, SrcIP: netip.MustParseAddr("192.0.2.10"), DstIP: netip.MustParseAddr("192.0.2.20"), SrcPort: 49152, DstPort: 4789}},
		Ingress: sflow.TunnelHeaders{Ethernet: sflow.EthernetFrame{Length: 1464, SrcMAC: sflow.MAC{2, 0, 0, 0, 0, 9}, DstMAC: sflow.MAC{2, 0, 0, 0, 0, 8}, Type: 0x86dd},
			IP: sflow.IPData{Protocol: 17, SrcIP: netip.MustParseAddr("2001:db8::1"), DstIP: netip.MustParseAddr("2001:db8::2"), DstPort: 6081}},
	}
	f.NATPort = sflow.ExtendedNATPort{SrcPort: 61000, DstPort: 443}
	f.Tunnel = sflow.TunnelIDs{EgressVNI: 5001, IngressVNI: 77, IngressDecapOffset: 54}
	f.Present = sflow.HasIPv4 | sflow.HasNAT | sflow.HasNATPort | sflow.HasIPv4TunnelEgress | sflow.HasVNIEgress |
		sflow.HasL2TunnelIngress | sflow.HasIPv6TunnelIngress | sflow.HasDecapIngress | sflow.HasVNIIngress
	src.Flows = []sflow.FlowSample{f}
	var dg sflow.Datagram
	var d sflow.Decoder
	if err := d.Decode(sflow.AppendDatagram(nil, src), &dg); err != nil {
		t.Fatal(err)
	}
	doc := decodeJSON(t, AppendFlowTail(AppendFlowBody(nil, &dg, &dg.Flows[0], &meta), "", ""))
	want := map[string]any{
		"source.ip":                             "10.0.0.5",
		"source.nat.ip":                         "198.51.100.1",
		"source.nat.port":                       61000.0,
		"destination.nat.ip":                    "203.0.113.9",
		"destination.nat.port":                  443.0,
		"sflow.tunnel.egress.vni":               5001.0,
		"sflow.tunnel.egress.ip.src":            "192.0.2.10",
		"sflow.tunnel.egress.ip.dst":            "192.0.2.20",
		"sflow.tunnel.egress.ip.dst_port":       4789.0,
		"sflow.tunnel.ingress.vni":              77.0,
		"sflow.tunnel.ingress.decap_offset":     54.0,
		"sflow.tunnel.ingress.ip.src":           "2001:db8::1",
		"sflow.tunnel.ingress.ip.dst_port":      6081.0,
		"sflow.tunnel.ingress.ethernet.src_mac": "02-00-00-00-00-09",
		"sflow.tunnel.ingress.ethernet.type":    34525.0,
	}
	for path, v := range want {
		if got := get(t, doc, path); got != v {
			t.Errorf("%s = %v (%T), want %v", path, got, got, v)
		}
	}
	recs := get(t, doc, "sflow.records").([]any)
	if len(recs) != 9 {
		t.Errorf("sflow.records %v, want the 9 records", recs)
	}
	// A plain sample has neither.
	plain := testDatagram(t)
	op := decodeJSON(t, AppendFlowTail(AppendFlowBody(nil, plain, &plain.Flows[0], &meta), "", ""))
	if _, ok := op["sflow"].(map[string]any)["tunnel"]; ok {
		t.Error("sflow.tunnel in a document without tunnel records")
	}
	if _, ok := op["source"].(map[string]any)["nat"]; ok {
		t.Error("source.nat in a document without NAT records")
	}
}

// TestHostCounterDocuments: host sFlow records get their own counter
// documents with raw values under sflow.counters.host.*, rates from the
// previous record, and ECS host.* metrics (uptime, cpu.usage, the bytes and
// packets of the interval).
func TestHostCounterDocuments(t *testing.T) {
	src := &sflow.Datagram{AgentAddr: netip.MustParseAddr("192.0.2.9"), UptimeMS: 100000, NumSamples: 1}
	c := sflow.CounterSample{SourceIDType: 2, SourceIDIndex: 1}
	c.Host = &sflow.HostCounters{
		CPU: sflow.HostCPU{LoadOne: 0.5, LoadFive: 0.25, LoadFifteen: 0.125, CPUNum: 4, UptimeS: 3600,
			User: 10000, System: 5000, Idle: 80000, HasVirtTimes: true, Steal: 100},
		Memory: sflow.HostMemory{Total: 8 << 30, Free: 2 << 30},
		Disk:   sflow.HostDiskIO{Total: 100 << 30, Free: 40 << 30, PartMaxUsed: 6000, BytesRead: 1 << 20, BytesWritten: 2 << 20, Reads: 10, Writes: 20},
		Net:    sflow.HostNetIO{BytesIn: 1000, PktsIn: 10, BytesOut: 2000, PktsOut: 20},
	}
	c.Present = sflow.HasHostCPU | sflow.HasHostMemory | sflow.HasHostDiskIO | sflow.HasHostNetIO
	src.Counters = []sflow.CounterSample{c}
	var d sflow.Decoder
	var dg sflow.Datagram
	if err := d.Decode(sflow.AppendDatagram(nil, src), &dg); err != nil {
		t.Fatal(err)
	}
	dc := &dg.Counters[0]
	recs := CounterRecords(dc, nil)
	want := []sflow.DataFormat{sflow.CounterHostCPU, sflow.CounterHostMemory, sflow.CounterHostDiskIO, sflow.CounterHostNetIO}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Fatalf("records %v, want %v", recs, want)
	}
	var rt RateTracker
	rt.HostCPU(&dg, dc, false)
	rt.HostDisk(&dg, dc, false)
	rt.HostNet(&dg, dc, false)

	// 10 s later: 1 s of user time, 3 s idle per 10 s (of 4 cores), 5 MB
	// read, 1 MB in and 2 MB out.
	src.UptimeMS += 10000
	h := src.Counters[0].Host
	h.CPU.User += 10000
	h.CPU.Idle += 30000
	h.Disk.BytesRead += 5e6
	h.Net.BytesIn += 1e6
	h.Net.PktsIn += 1000
	h.Net.BytesOut += 2e6
	if err := d.Decode(sflow.AppendDatagram(nil, src), &dg); err != nil {
		t.Fatal(err)
	}
	rc, rd, rn := rt.HostCPU(&dg, dc, false), rt.HostDisk(&dg, dc, false), rt.HostNet(&dg, dc, false)
	docs := map[sflow.DataFormat]map[string]any{}
	for _, rec := range recs {
		var r *Rates
		switch rec {
		case sflow.CounterHostCPU:
			r = &rc
		case sflow.CounterHostDiskIO:
			r = &rd
		case sflow.CounterHostNetIO:
			r = &rn
		}
		docs[rec] = decodeJSON(t, AppendCounterTail(AppendCounterBody(nil, &dg, dc, rec, r, &meta), "acme"))
	}
	for rec, fields := range map[sflow.DataFormat]map[string]any{
		sflow.CounterHostCPU: {
			"event.dataset":                          "sflow.counters",
			"organization.id":                        "acme",
			"sflow.record":                           "0:2003",
			"sflow.counters.host.cpu.load_1":         0.5,
			"sflow.counters.host.cpu.num":            4.0,
			"sflow.counters.host.cpu.ms_per_s.user":  1000.0,
			"sflow.counters.host.cpu.ms_per_s.idle":  3000.0,
			"sflow.counters.host.cpu.ms_per_s.steal": 0.0,
			"sflow.counters.host.cpu.usage_pct":      25.0,
			"sflow.counters.delta_seconds":           10.0,
			"host.uptime":                            3600.0,
			"host.cpu.usage":                         0.25,
		},
		sflow.CounterHostMemory: {
			"sflow.counters.host.memory.total_bytes": float64(8 << 30),
			"sflow.counters.host.memory.free_bytes":  float64(2 << 30),
		},
		sflow.CounterHostDiskIO: {
			"sflow.counters.host.disk.part_max_used_pct": 60.0,
			"sflow.counters.host.disk.read_bytes_ps":     5e5,
			"host.disk.read.bytes":                       5e6,
			"host.disk.write.bytes":                      0.0,
		},
		sflow.CounterHostNetIO: {
			"sflow.counters.host.net.in_bps": 8e5,
			"sflow.counters.host.net.in_pps": 100.0,
			"host.network.ingress.bytes":     1e6,
			"host.network.ingress.packets":   1000.0,
			"host.network.egress.bytes":      2e6,
			"host.network.egress.packets":    0.0,
		},
	} {
		for path, w := range fields {
			if gj, wj := mustJSON(get(t, docs[rec], path)), mustJSON(w); gj != wj {
				t.Errorf("%s: %s = %s, want %s", rec, path, gj, wj)
			}
		}
	}
	if _, ok := docs[sflow.CounterHostMemory]["host"]; ok {
		t.Error("the memory record has no ECS host metrics, but the document has host.*")
	}
}

// TestDiscardDocument: a discarded packet sample (drops extension) becomes
// an sflow.discards document naming who sent the dropped packet to whom,
// where and why.
func TestDiscardDocument(t *testing.T) {
	h := sflow.RawHeader{Protocol: 1, FrameLength: 1000, Parsed: sflow.LayerEthernet | sflow.LayerIPv4 | sflow.LayerTCP,
		SrcMAC: sflow.MAC{2, 0, 0, 0, 0, 1}, DstMAC: sflow.MAC{2, 0, 0, 0, 0, 2}, EtherType: 0x0800, Network: sflow.NetworkIPv4,
		SrcIP: netip.MustParseAddr("10.1.2.3"), DstIP: netip.MustParseAddr("10.9.9.9"), IPProto: 6, TTL: 1, IPLength: 986,
		SrcPort: 40000, DstPort: 22, TCPFlags: 2}
	h.Header = sflow.AppendFrame(nil, &h, 64)
	h.HeaderSize = uint32(len(h.Header))
	ds := sflow.DiscardSample{Sequence: 5, SourceIDIndex: 3, Drops: 2, Input: 3, Reason: sflow.DiscardACL}
	ds.RawHeader, ds.Present = h, sflow.HasRawHeader
	src := &sflow.Datagram{AgentAddr: netip.MustParseAddr("192.0.2.1"), NumSamples: 1, Discards: []sflow.DiscardSample{ds}}
	var d sflow.Decoder
	var dg sflow.Datagram
	if err := d.Decode(sflow.AppendDatagram(nil, src), &dg); err != nil {
		t.Fatal(err)
	}
	doc := decodeJSON(t, AppendFlowTail(AppendDiscardBody(nil, &dg, &dg.Discards[0], &meta), "acme", DirectionOutbound))
	for path, w := range map[string]any{
		"event.kind":                    "event",
		"event.type":                    []any{"denied"},
		"event.dataset":                 "sflow.discards",
		"observer.ingress.interface.id": "3",
		"source.ip":                     "10.1.2.3",
		"source.port":                   40000.0,
		"destination.ip":                "10.9.9.9",
		"destination.port":              22.0,
		"sflow.sample.type":             "discard",
		"sflow.discard.reason":          258.0,
		"sflow.discard.reason_name":     "acl",
		"sflow.drops":                   2.0,
		"sflow.frame_length":            1000.0,
		"network.transport":             "tcp",
		"network.direction":             "outbound",
		"organization.id":               "acme",
	} {
		if gj, wj := mustJSON(get(t, doc, path)), mustJSON(w); gj != wj {
			t.Errorf("%s = %s, want %s", path, gj, wj)
		}
	}
	if _, ok := doc["observer"].(map[string]any)["egress"]; ok {
		t.Error("observer.egress for an unknown output interface")
	}
	for r, want := range map[uint32]string{0: "net_unreachable", 4: "frag_needed", 200: "icmp_unreachable",
		256: "unknown", 257: "ttl_exceeded", 262: "pkt_too_big", 279: "unresolved_neigh", 285: "unknown_l3", 9999: "other"} {
		if got := DiscardReasonName(r); got != want {
			t.Errorf("reason %d = %q, want %q", r, got, want)
		}
	}
}

// TestHostCPUNonFiniteLoad: a load average of NaN or ±Inf off the wire is
// written as null; the document stays valid JSON.
func TestHostCPUNonFiniteLoad(t *testing.T) {
	dg := &sflow.Datagram{AgentAddr: netip.MustParseAddr("192.0.2.9")}
	c := &sflow.CounterSample{Present: sflow.HasHostCPU,
		Host: &sflow.HostCounters{CPU: sflow.HostCPU{LoadOne: float32(math.NaN()), LoadFive: float32(math.Inf(1)), LoadFifteen: float32(math.Inf(-1))}}}
	b := AppendCounterTail(AppendCounterBody(nil, dg, c, sflow.CounterHostCPU, nil, &meta), "")
	doc := decodeJSON(t, b)
	for _, f := range []string{"load_1", "load_5", "load_15"} {
		if v := get(t, doc, "sflow.counters.host.cpu."+f); v != nil {
			t.Errorf("%s = %v, want null", f, v)
		}
	}
	// A hand-built sample whose presence bits promise records it does not
	// carry yields no host documents rather than a panic.
	if recs := CounterRecords(&sflow.CounterSample{Present: sflow.HasHostNetIO}, nil); len(recs) != 0 {
		t.Errorf("records %v for a sample without host counters", recs)
	}
}
