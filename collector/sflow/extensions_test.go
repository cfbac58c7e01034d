package sflow

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// extensionsSample is a flow sample carrying every NAT and tunnel record:
// a VXLAN packet decapsulated on the way in (outer IPv4, VNI 5001) and
// encapsulated again on the way out (outer IPv6, VNI 7002), with NAT.
func extensionsSample() FlowSample {
	f := FlowSample{Sequence: 3, SourceIDIndex: 7, SamplingRate: 512, SamplePool: 5120,
		Input: Interface{Value: 7}, Output: Interface{Value: 8}}
	f.Ext = &FlowExtensions{
		NAT: ExtendedNAT{Src: netip.MustParseAddr("198.51.100.10"), Dst: netip.MustParseAddr("2001:db8::20")},
		Ingress: TunnelHeaders{
			Ethernet: EthernetFrame{Length: 1550, SrcMAC: MAC{2, 0, 0, 0, 0, 1}, DstMAC: MAC{2, 0, 0, 0, 0, 2}, Type: 0x0800},
			IP:       IPData{Length: 1536, Protocol: 17, SrcIP: netip.MustParseAddr("10.0.0.1"), DstIP: netip.MustParseAddr("10.0.0.2"), SrcPort: 51000, DstPort: 4789},
		},
		Egress: TunnelHeaders{
			IP: IPData{Length: 1556, Protocol: 17, SrcIP: netip.MustParseAddr("2001:db8::1"), DstIP: netip.MustParseAddr("2001:db8::2"), SrcPort: 52000, DstPort: 4789, TOSOrPriority: 8},
		},
	}
	f.NATPort = ExtendedNATPort{SrcPort: 40000, DstPort: 443}
	f.Tunnel = TunnelIDs{EgressVNI: 7002, IngressVNI: 5001, IngressDecapOffset: 50}
	f.Present = HasNAT | HasNATPort | HasL2TunnelIngress | HasIPv4TunnelIngress | HasDecapIngress | HasVNIIngress |
		HasIPv6TunnelEgress | HasVNIEgress
	f.Records = []DataFormat{FlowExtendedNAT, FlowExtendedNATPort, FlowIPv6TunnelEgress, FlowVNIEgress,
		FlowL2TunnelIngress, FlowIPv4TunnelIngress, FlowDecapIngress, FlowVNIIngress}
	return f
}

func TestExtensionsRoundTrip(t *testing.T) {
	in := &Datagram{AgentAddr: netip.MustParseAddr("192.0.2.1"), Sequence: 9, NumSamples: 1}
	in.Flows = append(in.Flows, extensionsSample())
	b := AppendDatagram(nil, in)
	var d Decoder
	var out Datagram
	if err := d.Decode(b, &out); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(out.Unknown) != 0 {
		t.Errorf("records counted as unknown: %+v", out.Unknown)
	}
	normalize(in)
	normalize(&out)
	if !reflect.DeepEqual(in, &out) {
		t.Fatalf("round trip mismatch\n got: %+v %+v\nwant: %+v %+v", out.Flows[0].FlowData, out.Flows[0].Ext, in.Flows[0].FlowData, in.Flows[0].Ext)
	}
	// The slot is reused: a sample without extensions clears them.
	plain := &Datagram{AgentAddr: in.AgentAddr, Flows: []FlowSample{{SamplingRate: 1}}}
	if err := d.Decode(AppendDatagram(nil, plain), &out); err != nil {
		t.Fatal(err)
	}
	if f := &out.Flows[0]; f.Present != 0 || (f.Ext != nil && *f.Ext != FlowExtensions{}) || f.NATPort != (ExtendedNATPort{}) || f.Tunnel != (TunnelIDs{}) {
		t.Errorf("extensions left over from the previous datagram: %b %+v %+v %+v", f.Present, f.Ext, f.NATPort, f.Tunnel)
	}
}

// TestExtensionsFromTheWire decodes hand-built records (as an agent such as
// Open vSwitch sends them) rather than the encoder's output.
func TestExtensionsFromTheWire(t *testing.T) {
	b := dgram(flowSample(
		tlv(1007, w(1, 0xC6336401, 2), w(0x20010db8, 0, 0, 0x20)), // NAT: 198.51.100.1 → 2001:db8::20
		tlv(1020, w(1234, 80)),
		tlv(1023, w(1500, 17, 0x0A000001, 0x0A000002, 1111, 4789, 0, 0)), // outer IPv4, egress
		tlv(1029, w(42)),
		tlv(1030, w(43)),
		tlv(1028, w(50)),
	))
	var d Decoder
	var dg Datagram
	if err := d.Decode(b, &dg); err != nil {
		t.Fatal(err)
	}
	f := &dg.Flows[0]
	want := FlowExtensions{
		NAT: ExtendedNAT{Src: netip.MustParseAddr("198.51.100.1"), Dst: netip.MustParseAddr("2001:db8::20")},
		Egress: TunnelHeaders{IP: IPData{Length: 1500, Protocol: 17, SrcIP: netip.MustParseAddr("10.0.0.1"),
			DstIP: netip.MustParseAddr("10.0.0.2"), SrcPort: 1111, DstPort: 4789}},
	}
	if f.Ext == nil || *f.Ext != want {
		t.Errorf("got %+v\nwant %+v", f.Ext, want)
	}
	if wantIDs := (TunnelIDs{EgressVNI: 42, IngressVNI: 43, IngressDecapOffset: 50}); f.Tunnel != wantIDs {
		t.Errorf("tunnel ids %+v, want %+v", f.Tunnel, wantIDs)
	}
	if f.NATPort != (ExtendedNATPort{SrcPort: 1234, DstPort: 80}) {
		t.Errorf("nat ports %+v", f.NATPort)
	}
	if wantBits := HasNAT | HasNATPort | HasIPv4TunnelEgress | HasVNIEgress | HasVNIIngress | HasDecapIngress; f.Present != wantBits {
		t.Errorf("present %b, want %b", f.Present, wantBits)
	}
}

func TestExtensionsMalformed(t *testing.T) {
	tests := []struct {
		name, what string
		rec        []byte
	}{
		{"nat without destination", "extended_nat", tlv(1007, w(1, 0x01020304))},
		{"nat bad address type", "extended_nat", tlv(1007, w(9, 0x01020304, 1, 0x01020304))},
		{"nat port short", "extended_nat_port", tlv(1020, w(1))},
		{"ipv4 tunnel short", "ipv4_tunnel", tlv(1024, w(1, 2, 3))},
		{"ipv6 tunnel short", "ipv6_tunnel", tlv(1025, w(1, 2, 3, 4, 5, 6, 7, 8, 9, 10))},
		{"l2 tunnel short", "l2_tunnel", tlv(1021, w(1))},
		{"vni empty", "vni", tlv(1029)},
		{"decap empty", "decapsulate", tlv(1027)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			var dg Datagram
			err := d.Decode(dgram(flowSample(tc.rec)), &dg)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v, want a *DecodeError", err)
			}
			if de.Reason != ReasonBadLength && de.Reason != ReasonBadAddressType {
				t.Errorf("reason %q", de.Reason)
			}
			if de.Context != tc.what {
				t.Errorf("context %q, want %q (%v)", de.Context, tc.what, err)
			}
		})
	}
}

// TestTunnelHeadersFromTheWire decodes hand-built L2 and IPv6 tunnel
// records (sflow.org/sflow_tunnels.txt: sampled_ethernet, sampled_ipv6).
func TestTunnelHeadersFromTheWire(t *testing.T) {
	b := dgram(flowSample(
		// L2 ingress: length, src MAC (+2 pad), dst MAC (+2 pad), type.
		tlv(1022, w(1514, 0x02000000, 0x00010000, 0x02000000, 0x00020000, 0x86DD)),
		// IPv6 egress: length, protocol, src, dst, ports, flags, priority.
		tlv(1025, w(1400, 17, 0x20010db8, 0, 0, 1, 0x20010db8, 0, 0, 2, 51000, 6081, 0, 3)),
	))
	var d Decoder
	var dg Datagram
	if err := d.Decode(b, &dg); err != nil {
		t.Fatal(err)
	}
	f := &dg.Flows[0]
	want := FlowExtensions{
		Ingress: TunnelHeaders{Ethernet: EthernetFrame{Length: 1514, SrcMAC: MAC{2, 0, 0, 0, 0, 1}, DstMAC: MAC{2, 0, 0, 0, 0, 2}, Type: 0x86DD}},
		Egress: TunnelHeaders{IP: IPData{Length: 1400, Protocol: 17, SrcIP: netip.MustParseAddr("2001:db8::1"),
			DstIP: netip.MustParseAddr("2001:db8::2"), SrcPort: 51000, DstPort: 6081, TOSOrPriority: 3}},
	}
	if f.Ext == nil || *f.Ext != want {
		t.Errorf("got  %+v\nwant %+v", f.Ext, want)
	}
	if f.Present != HasL2TunnelIngress|HasIPv6TunnelEgress {
		t.Errorf("present %b", f.Present)
	}
}
