package sflow

import (
	"net/netip"
	"reflect"
	"testing"
)

// tcpHeader returns a parsed-field description of an Ethernet/IPv4/TCP
// packet; AppendFrame turns it into bytes.
func tcpHeader(i int) RawHeader {
	return RawHeader{
		Protocol:    HeaderEthernet,
		FrameLength: uint32(1000 + i),
		Stripped:    4,
		SrcMAC:      MAC{0x02, 0, 0, 0, 0, byte(i)},
		DstMAC:      MAC{0x02, 0, 0, 0, 1, byte(i)},
		EtherType:   etherTypeIPv4,
		Network:     NetworkIPv4,
		SrcIP:       netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}),
		DstIP:       netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}),
		IPProto:     protoTCP,
		TOS:         0x10,
		TTL:         63,
		IPLength:    uint16(982 + i),
		SrcPort:     uint16(40000 + i),
		DstPort:     443,
		TCPFlags:    0x18,
		Parsed:      LayerEthernet | LayerIPv4 | LayerTCP,
	}
}

// withFrame fills h.Header from its parsed fields, as an agent would send.
func withFrame(h RawHeader, size int) RawHeader {
	h.Header = AppendFrame(nil, &h, size)
	h.HeaderSize = uint32(len(h.Header))
	return h
}

// fullDatagram builds a datagram using every record type the package knows.
func fullDatagram() *Datagram {
	dg := &Datagram{
		AgentAddr:  netip.MustParseAddr("192.0.2.1"),
		SubAgentID: 3,
		Sequence:   77,
		UptimeMS:   123456,
	}
	for i := range 3 {
		f := FlowSample{
			Expanded:      i%2 == 1,
			Sequence:      uint32(100 + i),
			SourceIDType:  SourceIfIndex,
			SourceIDIndex: uint32(7 + i),
			SamplingRate:  1024,
			SamplePool:    uint32(1024 * (100 + i)),
			Drops:         uint32(i),
			Input:         Interface{Format: InterfaceIndex, Value: 7},
			Output:        Interface{Format: InterfaceIndex, Value: 9},
		}
		f.RawHeader = withFrame(tcpHeader(i), 128)
		f.Present = HasRawHeader
		f.Records = []DataFormat{FlowRawHeader}
		dg.Flows = append(dg.Flows, f)
	}
	// One flow sample with every flow record type.
	f := FlowSample{
		Expanded:     true,
		Sequence:     200,
		SourceIDType: SourceSMONVLAN, SourceIDIndex: 0x1000000 + 5,
		SamplingRate: 4096, SamplePool: 1 << 30, Drops: 2,
		Input:  Interface{Format: InterfaceIndex, Value: IfIndexInternal},
		Output: Interface{Format: InterfaceMultiple, Value: 3},
	}
	f.RawHeader = withFrame(tcpHeader(9), 0)
	f.Ethernet = EthernetFrame{Length: 1514, SrcMAC: MAC{1, 2, 3, 4, 5, 6}, DstMAC: MAC{6, 5, 4, 3, 2, 1}, Type: 0x0800}
	f.IPv4 = IPData{Length: 1500, Protocol: 6, SrcIP: netip.MustParseAddr("10.1.1.1"), DstIP: netip.MustParseAddr("10.2.2.2"), SrcPort: 1234, DstPort: 80, TCPFlags: 0x12, TOSOrPriority: 4}
	f.IPv6 = IPData{Length: 1280, Protocol: 17, SrcIP: netip.MustParseAddr("2001:db8::1"), DstIP: netip.MustParseAddr("2001:db8::2"), SrcPort: 53, DstPort: 5353, TOSOrPriority: 1}
	f.Switch = ExtendedSwitch{SrcVLAN: 10, SrcPriority: 1, DstVLAN: 20, DstPriority: 2}
	f.Router = ExtendedRouter{NextHop: netip.MustParseAddr("2001:db8::fe"), SrcMaskLen: 24, DstMaskLen: 48}
	f.Gateway = ExtendedGateway{
		NextHop: netip.MustParseAddr("198.51.100.1"), AS: 65000, SrcAS: 65001, SrcPeerAS: 65002,
		ASPath: []ASPathSegment{
			{Type: ASSequence, ASNs: []uint32{65002, 3356, 15169}},
			{Type: ASSet, ASNs: []uint32{64512}},
		},
		Communities: []uint32{65000<<16 | 100, 65000<<16 | 200},
		LocalPref:   150,
	}
	f.Present = HasRawHeader | HasEthernet | HasIPv4 | HasIPv6 | HasSwitch | HasRouter | HasGateway
	f.Records = []DataFormat{FlowRawHeader, FlowEthernet, FlowIPv4, FlowIPv6, FlowExtendedSwitch, FlowExtendedRouter, FlowExtendedGateway}
	dg.Flows = append(dg.Flows, f)

	c := CounterSample{Sequence: 5, SourceIDType: SourceIfIndex, SourceIDIndex: 7}
	c.Generic = GenericInterfaceCounters{
		IfIndex: 7, IfType: 6, IfSpeed: 10_000_000_000, IfDirection: 1, IfStatus: 3,
		InOctets: 1 << 40, InUcastPkts: 1000, InMulticastPkts: 10, InBroadcastPkts: 1,
		InDiscards: 0, InErrors: 0, InUnknownProtos: Unknown32,
		OutOctets: 1 << 41, OutUcastPkts: 2000, OutMulticastPkts: 20, OutBroadcastPkts: 2,
		OutDiscards: 3, OutErrors: 4, PromiscuousMode: 0,
	}
	c.Ethernet = EthernetInterfaceCounters{AlignmentErrors: 1, FCSErrors: 2, SymbolErrors: Unknown32}
	c.Present = HasGenericInterface | HasEthernetInterface
	c.Records = []DataFormat{CounterGenericInterface, CounterEthernetInterface}
	dg.Counters = append(dg.Counters, c)
	c2 := CounterSample{Expanded: true, Sequence: 6, SourceIDType: SourceEntPhysical, SourceIDIndex: 1 << 28}
	c2.VLAN = VLANCounters{VLANID: 100, Octets: Unknown64, UcastPkts: 5, MulticastPkts: 6, BroadcastPkts: 7, Discards: 8}
	c2.Processor = ProcessorCounters{CPU5s: 1234, CPU1m: 2345, CPU5m: 3456, TotalMemory: 16 << 30, FreeMemory: 8 << 30}
	c2.Present = HasVLAN | HasProcessor
	c2.Records = []DataFormat{CounterVLAN, CounterProcessor}
	dg.Counters = append(dg.Counters, c2)

	d := DiscardSample{Sequence: 9, SourceIDType: SourceIfIndex, SourceIDIndex: 7, Drops: 1, Input: 7, Output: 0, Reason: DiscardACL}
	d.RawHeader = withFrame(tcpHeader(4), 64)
	d.Present = HasRawHeader
	d.Records = []DataFormat{FlowRawHeader}
	dg.Discards = append(dg.Discards, d)
	dg.NumSamples = uint32(len(dg.Flows) + len(dg.Counters) + len(dg.Discards))
	return dg
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		dg   func() *Datagram
	}{
		{"every record type", fullDatagram},
		{"empty ipv6 agent", func() *Datagram {
			return &Datagram{AgentAddr: netip.MustParseAddr("2001:db8::7"), Sequence: 1}
		}},
		{"unknown agent address", func() *Datagram {
			return &Datagram{Sequence: 2, UptimeMS: 9}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.dg()
			b := AppendDatagram(nil, in)
			var d Decoder
			var out Datagram
			if err := d.Decode(b, &out); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			normalize(in)
			normalize(&out)
			if !reflect.DeepEqual(in, &out) {
				t.Errorf("round trip mismatch\n got: %+v\nwant: %+v", out, *in)
			}
			// Re-encoding the decoded datagram gives the same bytes.
			if b2 := AppendDatagram(nil, &out); string(b2) != string(b) {
				t.Errorf("re-encoding differs: %d vs %d bytes", len(b2), len(b))
			}
		})
	}
}

// normalize makes nil and empty slices compare equal.
func normalize(dg *Datagram) {
	if len(dg.Flows) == 0 {
		dg.Flows = nil
	}
	if len(dg.Counters) == 0 {
		dg.Counters = nil
	}
	if len(dg.Discards) == 0 {
		dg.Discards = nil
	}
	if len(dg.Unknown) == 0 {
		dg.Unknown = nil
	}
	for i := range dg.Flows {
		normalizeFlow(&dg.Flows[i].FlowData)
	}
	for i := range dg.Discards {
		normalizeFlow(&dg.Discards[i].FlowData)
	}
	for i := range dg.Counters {
		if len(dg.Counters[i].Records) == 0 {
			dg.Counters[i].Records = nil
		}
	}
}

func normalizeFlow(fd *FlowData) {
	if len(fd.Records) == 0 {
		fd.Records = nil
	}
	if len(fd.RawHeader.Header) == 0 {
		fd.RawHeader.Header = nil
	}
	g := &fd.Gateway
	if len(g.ASPath) == 0 {
		g.ASPath = nil
	}
	if len(g.Communities) == 0 {
		g.Communities = nil
	}
}

func TestDecodeReusesDatagram(t *testing.T) {
	big := AppendDatagram(nil, fullDatagram())
	small := AppendDatagram(nil, &Datagram{Sequence: 1, Flows: []FlowSample{{SamplingRate: 10}}})
	var d Decoder
	var dg Datagram
	for _, b := range [][]byte{big, small} {
		if err := d.Decode(b, &dg); err != nil {
			t.Fatal(err)
		}
	}
	if len(dg.Flows) != 1 || len(dg.Counters) != 0 || len(dg.Discards) != 0 {
		t.Fatalf("after reuse got %d flows %d counters %d discards, want 1 0 0", len(dg.Flows), len(dg.Counters), len(dg.Discards))
	}
	f := dg.Flows[0]
	if f.Present != 0 || len(f.Records) != 0 || f.RawHeader.FrameLength != 0 || f.SamplingRate != 10 {
		t.Errorf("stale data after reuse: %+v", f)
	}
}

func TestDecodeZeroAllocs(t *testing.T) {
	b := AppendDatagram(nil, fullDatagram())
	var d Decoder
	var dg Datagram
	if err := d.Decode(b, &dg); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.Decode(b, &dg); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocated %.1f times per run in steady state, want 0", allocs)
	}
}

func TestAppendDatagramNoAllocWithCapacity(t *testing.T) {
	dg := fullDatagram()
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendDatagram(buf[:0], dg)
	})
	if allocs != 0 {
		t.Errorf("AppendDatagram allocated %.1f times per run, want 0", allocs)
	}
}
