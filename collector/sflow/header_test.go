package sflow

import (
	"net/netip"
	"reflect"
	"testing"
)

// Hand-written packet pieces, independent of AppendFrame.
var (
	ethDst = []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	ethSrc = []byte{0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb}
	// IPv4 header: TOS 0x28, total length 60, DF, TTL 64, proto set by ipv4(), 10.0.0.1 -> 10.0.0.2.
	ipv4Base = []byte{0x45, 0x28, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x00, 0x00, 0x00, 10, 0, 0, 1, 10, 0, 0, 2}
	// TCP header 12345 -> 80, flags SYN|ACK.
	tcpBytes = []byte{0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x12, 0xff, 0xff, 0, 0, 0, 0}
	udpBytes = []byte{0x00, 0x35, 0xc0, 0x00, 0x00, 0x10, 0x00, 0x00}
)

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func ipv4(proto byte) []byte {
	b := append([]byte(nil), ipv4Base...)
	b[9] = proto
	return b
}

// ipv6 returns an IPv6 header with traffic class 0xb8, flow label 0x12345,
// payload length 100, the given next header, hop limit 60, 2001:db8::1 -> 2001:db8::2.
func ipv6(next byte) []byte {
	b := []byte{0x6b, 0x81, 0x23, 0x45, 0x00, 0x64, next, 60}
	src := netip.MustParseAddr("2001:db8::1").As16()
	dst := netip.MustParseAddr("2001:db8::2").As16()
	return cat(b, src[:], dst[:])
}

func TestParseHeader(t *testing.T) {
	v4src, v4dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	v6src, v6dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	tests := []struct {
		name     string
		protocol uint32
		header   []byte
		check    func(t *testing.T, h *RawHeader)
	}{
		{"ethernet ipv4 tcp", HeaderEthernet, cat(ethDst, ethSrc, []byte{0x08, 0x00}, ipv4(6), tcpBytes), func(t *testing.T, h *RawHeader) {
			want(t, "parsed", h.Parsed, LayerEthernet|LayerIPv4|LayerTCP)
			want(t, "dst mac", h.DstMAC, MAC(ethDst))
			want(t, "src mac", h.SrcMAC, MAC(ethSrc))
			want(t, "ethertype", h.EtherType, uint16(0x0800))
			want(t, "network", h.Network, NetworkIPv4)
			want(t, "src", h.SrcIP, v4src)
			want(t, "dst", h.DstIP, v4dst)
			want(t, "proto", h.IPProto, uint8(6))
			want(t, "tos", h.TOS, uint8(0x28))
			want(t, "ttl", h.TTL, uint8(64))
			want(t, "ip length", h.IPLength, uint16(60))
			want(t, "ports", [2]uint16{h.SrcPort, h.DstPort}, [2]uint16{12345, 80})
			want(t, "tcp flags", h.TCPFlags, uint8(0x12))
			want(t, "vlans", h.VLANs, uint8(0))
		}},
		{"802.1q udp", HeaderEthernet, cat(ethDst, ethSrc, []byte{0x81, 0x00, 0x20, 0x64, 0x08, 0x00}, ipv4(17), udpBytes), func(t *testing.T, h *RawHeader) {
			want(t, "parsed", h.Parsed, LayerEthernet|LayerVLAN|LayerIPv4|LayerUDP)
			want(t, "vlan", h.VLAN, uint16(100))
			want(t, "vlans", h.VLANs, uint8(1))
			want(t, "ports", [2]uint16{h.SrcPort, h.DstPort}, [2]uint16{53, 0xc000})
		}},
		{"qinq 88a8", HeaderEthernet, cat(ethDst, ethSrc, []byte{0x88, 0xa8, 0x00, 0xc8, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00}, ipv4(6), tcpBytes), func(t *testing.T, h *RawHeader) {
			want(t, "vlan", h.VLAN, uint16(200))
			want(t, "inner vlan", h.InnerVLAN, uint16(10))
			want(t, "vlans", h.VLANs, uint8(2))
			want(t, "ethertype", h.EtherType, uint16(0x0800))
			want(t, "tcp", h.Parsed&LayerTCP, LayerTCP)
		}},
		{"qinq 9100", HeaderEthernet, cat(ethDst, ethSrc, []byte{0x91, 0x00, 0x00, 0x05, 0x81, 0x00, 0x00, 0x06, 0x86, 0xdd}, ipv6(17), udpBytes), func(t *testing.T, h *RawHeader) {
			want(t, "vlans", [2]uint16{h.VLAN, h.InnerVLAN}, [2]uint16{5, 6})
			want(t, "network", h.Network, NetworkIPv6)
			want(t, "udp", h.Parsed&LayerUDP, LayerUDP)
		}},
		{"mpls ethertype two labels", HeaderEthernet, cat(ethDst, ethSrc, []byte{0x88, 0x47, 0x00, 0x06, 0x40, 0x40, 0x00, 0x07, 0x51, 0x40}, ipv4(6), tcpBytes), func(t *testing.T, h *RawHeader) {
			want(t, "labels", h.MPLSLabels, uint8(2))
			want(t, "top label", h.MPLSTopLabel, uint32(100))
			want(t, "ethertype", h.EtherType, uint16(0x8847))
			want(t, "parsed", h.Parsed, LayerEthernet|LayerMPLS|LayerIPv4|LayerTCP)
			want(t, "dst port", h.DstPort, uint16(80))
		}},
		{"header protocol mpls ipv6", HeaderMPLS, cat([]byte{0x00, 0x01, 0x41, 0x40}, ipv6(58), []byte{128, 0, 0, 0}), func(t *testing.T, h *RawHeader) {
			want(t, "labels", h.MPLSLabels, uint8(1))
			want(t, "top label", h.MPLSTopLabel, uint32(20))
			want(t, "parsed", h.Parsed, LayerMPLS|LayerIPv6|LayerICMP)
			want(t, "icmp", [2]uint8{h.ICMPType, h.ICMPCode}, [2]uint8{128, 0})
		}},
		{"header protocol ipv4 icmp", HeaderIPv4, cat(ipv4(1), []byte{3, 1, 0, 0}), func(t *testing.T, h *RawHeader) {
			want(t, "parsed", h.Parsed, LayerIPv4|LayerICMP)
			want(t, "icmp", [2]uint8{h.ICMPType, h.ICMPCode}, [2]uint8{3, 1})
		}},
		{"header protocol ipv6 tcp", HeaderIPv6, cat(ipv6(6), tcpBytes), func(t *testing.T, h *RawHeader) {
			want(t, "parsed", h.Parsed, LayerIPv6|LayerTCP)
			want(t, "src", h.SrcIP, v6src)
			want(t, "dst", h.DstIP, v6dst)
			want(t, "traffic class", h.TOS, uint8(0xb8))
			want(t, "flow label", h.FlowLabel, uint32(0x12345))
			want(t, "hop limit", h.TTL, uint8(60))
			want(t, "ip length", h.IPLength, uint16(140))
		}},
		{"ipv6 extension headers", HeaderIPv6, cat(ipv6(0),
			[]byte{60, 0, 1, 4, 0, 0, 0, 0},                         // hop-by-hop, 8 bytes, next destination options
			[]byte{17, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // destination options, 16 bytes, next UDP
			udpBytes), func(t *testing.T, h *RawHeader) {
			want(t, "proto", h.IPProto, uint8(17))
			want(t, "parsed", h.Parsed, LayerIPv6|LayerUDP)
			want(t, "dst port", h.DstPort, uint16(0xc000))
		}},
		{"ipv6 later fragment", HeaderIPv6, cat(ipv6(44), []byte{6, 0, 0x00, 0x08, 0, 0, 0, 1}, tcpBytes), func(t *testing.T, h *RawHeader) {
			want(t, "proto", h.IPProto, uint8(6))
			want(t, "fragment offset", h.FragmentOffset, uint16(1))
			want(t, "no transport", h.Parsed, LayerIPv6)
		}},
		{"ipv4 later fragment", HeaderIPv4, func() []byte {
			b := ipv4(17)
			b[6], b[7] = 0x20, 0x10 // MF, offset 16
			return cat(b, udpBytes)
		}(), func(t *testing.T, h *RawHeader) {
			want(t, "fragment", [2]any{h.FragmentOffset, h.MoreFragments}, [2]any{uint16(16), true})
			want(t, "no transport", h.Parsed, LayerIPv4)
		}},
		{"ipv4 with options", HeaderIPv4, func() []byte {
			b := ipv4(6)
			b[0] = 0x46
			return cat(b, []byte{1, 1, 1, 0}, tcpBytes)
		}(), func(t *testing.T, h *RawHeader) {
			want(t, "parsed", h.Parsed, LayerIPv4|LayerTCP)
			want(t, "src port", h.SrcPort, uint16(12345))
		}},
		{"truncated in tcp", HeaderEthernet, cat(ethDst, ethSrc, []byte{0x08, 0x00}, ipv4(6), tcpBytes[:6]), func(t *testing.T, h *RawHeader) {
			want(t, "parsed", h.Parsed, LayerEthernet|LayerIPv4)
			want(t, "ports still read", h.DstPort, uint16(80))
		}},
		{"truncated in ipv4", HeaderEthernet, cat(ethDst, ethSrc, []byte{0x08, 0x00}, ipv4(6)[:12]), func(t *testing.T, h *RawHeader) {
			want(t, "parsed", h.Parsed, LayerEthernet)
			want(t, "network", h.Network, NetworkNone)
		}},
		{"truncated in vlan tag", HeaderEthernet, cat(ethDst, ethSrc, []byte{0x81, 0x00, 0x00}), func(t *testing.T, h *RawHeader) {
			want(t, "parsed", h.Parsed, LayerEthernet)
			want(t, "ethertype", h.EtherType, uint16(0x8100))
		}},
		{"short ethernet", HeaderEthernet, ethDst, func(t *testing.T, h *RawHeader) {
			want(t, "parsed", h.Parsed, Layers(0))
		}},
		{"wrong ip version", HeaderIPv4, ipv6(6), func(t *testing.T, h *RawHeader) {
			want(t, "parsed", h.Parsed, Layers(0))
		}},
		{"unparsed protocol", 7, cat(ipv4(6), tcpBytes), func(t *testing.T, h *RawHeader) {
			want(t, "parsed", h.Parsed, Layers(0))
		}},
		{"endless mpls stack stops", HeaderMPLS, make([]byte, 200), func(t *testing.T, h *RawHeader) {
			want(t, "labels", h.MPLSLabels, uint8(maxMPLSLabels))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := RawHeader{Protocol: tc.protocol, Header: tc.header}
			h.parse()
			tc.check(t, &h)
		})
	}
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func TestAppendFrameParses(t *testing.T) {
	tests := []struct {
		name string
		h    RawHeader
	}{
		{"ipv4 tcp", tcpHeader(1)},
		{"qinq ipv6 udp", RawHeader{
			Protocol: HeaderEthernet, VLANs: 2, VLAN: 300, InnerVLAN: 12, EtherType: etherTypeIPv6,
			Network: NetworkIPv6, SrcIP: netip.MustParseAddr("2001:db8::a"), DstIP: netip.MustParseAddr("2001:db8::b"),
			IPProto: protoUDP, TTL: 9, TOS: 3, FlowLabel: 77, IPLength: 140, SrcPort: 1, DstPort: 2,
			Parsed: LayerEthernet | LayerVLAN | LayerIPv6 | LayerUDP,
		}},
		{"mpls icmp", RawHeader{
			Protocol: HeaderEthernet, MPLSLabels: 3, MPLSTopLabel: 16000, EtherType: etherTypeMPLS,
			Network: NetworkIPv4, SrcIP: netip.MustParseAddr("10.0.0.1"), DstIP: netip.MustParseAddr("10.0.0.2"),
			IPProto: protoICMP, TTL: 1, IPLength: 28, ICMPType: 8,
			Parsed: LayerEthernet | LayerMPLS | LayerIPv4 | LayerICMP,
		}},
		{"bare ipv6 tcp", RawHeader{
			Protocol: HeaderIPv6, Network: NetworkIPv6,
			SrcIP: netip.MustParseAddr("2001:db8::1"), DstIP: netip.MustParseAddr("2001:db8::2"),
			IPProto: protoTCP, TTL: 64, IPLength: 60, SrcPort: 22, DstPort: 50000, TCPFlags: 0x12,
			Parsed: LayerIPv6 | LayerTCP,
		}},
		{"bare mpls ipv4 udp", RawHeader{
			Protocol: HeaderMPLS, MPLSLabels: 1, MPLSTopLabel: 3,
			Network: NetworkIPv4, SrcIP: netip.MustParseAddr("10.9.9.9"), DstIP: netip.MustParseAddr("10.8.8.8"),
			IPProto: protoUDP, TTL: 2, IPLength: 100, SrcPort: 4000, DstPort: 4001,
			Parsed: LayerMPLS | LayerIPv4 | LayerUDP,
		}},
		{"bare ipv4 icmp fragment head", RawHeader{
			Protocol: HeaderIPv4, Network: NetworkIPv4,
			SrcIP: netip.MustParseAddr("10.1.1.1"), DstIP: netip.MustParseAddr("10.1.1.2"),
			IPProto: protoICMP, TTL: 9, IPLength: 1500, MoreFragments: true, ICMPType: 0,
			Parsed: LayerIPv4 | LayerICMP,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.h
			in.FrameLength, in.Stripped = 0, 0
			b := AppendFrame(nil, &in, 0)
			got := RawHeader{Protocol: in.Protocol, Header: b}
			got.parse()
			in.Header = b
			if !reflect.DeepEqual(got, in) {
				t.Errorf("parse(AppendFrame(h)) != h\n got %+v\nwant %+v", got, in)
			}
		})
	}
	h := tcpHeader(2)
	if n := len(AppendFrame(nil, &h, 128)); n != 128 {
		t.Errorf("padded frame is %d bytes, want 128", n)
	}
	if n := len(AppendFrame(nil, &h, 40)); n != 40 {
		t.Errorf("cut frame is %d bytes, want 40", n)
	}
}
