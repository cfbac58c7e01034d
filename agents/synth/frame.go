package synth

import (
	"encoding/binary"
	"net/netip"

	"github.com/elk-project/elk/collector/sflow"
)

// IP protocol numbers used by the traffic mix.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// etherTypeIPv4 is the EtherType of the pcap file's IPv4 headers.
const etherTypeIPv4 = 0x0800

const (
	fcsLen        = 4
	minFrameLen   = 64 // Ethernet minimum, FCS included
	maxHeaderSize = 128
)

// flow is one sampled packet, before it is turned into bytes.
type flow struct {
	srcMAC, dstMAC [6]byte
	// vlan is the VLAN the switch bridges the frame on: the 802.1Q tag,
	// or the outer service tag (802.1ad) of a QinQ frame; 0 = untagged.
	vlan uint16
	// innerVLAN is the customer tag of a QinQ frame, 0 = not QinQ.
	innerVLAN        uint16
	src, dst         netip.Addr
	proto            uint8
	srcPort, dstPort uint16
	tcpFlags         uint8
	ttl              uint8
	tos              uint8
	ipLen            int // IP datagram length: IP header + transport + payload
}

// l2Len is the length of the Ethernet header, tags included.
func (f *flow) l2Len() int {
	n := 14
	if f.vlan != 0 {
		n += 4
	}
	if f.innerVLAN != 0 {
		n += 4
	}
	return n
}

// frameLen is the length of the frame on the wire with its FCS, padded to
// the Ethernet minimum: the sFlow frame_length.
func (f *flow) frameLen() int {
	n := f.l2Len() + f.ipLen + fcsLen
	if n < minFrameLen {
		n = minFrameLen
	}
	return n
}

// ipHeaderLen is 20 for IPv4 (no options) and 40 for IPv6.
func (f *flow) ipHeaderLen() int {
	if f.src.Is4() {
		return 20
	}
	return 40
}

// transportHeaderLen is the minimum size of the transport header.
func transportHeaderLen(proto uint8) int {
	switch proto {
	case protoTCP:
		return 20
	case protoUDP, protoICMP, protoICMPv6:
		return 8
	}
	return 0
}

// rawHeader describes the packet to the sflow package's frame builder.
func (f *flow) rawHeader() sflow.RawHeader {
	h := sflow.RawHeader{
		Protocol: sflow.HeaderEthernet,
		SrcMAC:   f.srcMAC,
		DstMAC:   f.dstMAC,
		Network:  sflow.NetworkIPv4,
		SrcIP:    f.src,
		DstIP:    f.dst,
		IPProto:  f.proto,
		TOS:      f.tos,
		TTL:      f.ttl,
		IPLength: uint16(f.ipLen),
		SrcPort:  f.srcPort,
		DstPort:  f.dstPort,
		TCPFlags: f.tcpFlags,
	}
	if f.src.Is6() {
		h.Network = sflow.NetworkIPv6
		h.FlowLabel = uint32(f.srcPort)<<4 ^ uint32(f.dstPort)
	}
	switch {
	case f.innerVLAN != 0:
		h.VLANs, h.VLAN, h.InnerVLAN = 2, f.vlan, f.innerVLAN
	case f.vlan != 0:
		h.VLANs, h.VLAN = 1, f.vlan
	}
	switch f.proto {
	case protoICMP:
		h.ICMPType = 8 // echo request
	case protoICMPv6:
		h.ICMPType = 128
	}
	return h
}

// appendHeader appends the first bytes of the frame, as an agent's raw
// packet header record carries them: the frame without its FCS, cut at
// maxHeaderSize.
func (f *flow) appendHeader(dst []byte) []byte {
	h := f.rawHeader()
	return sflow.AppendFrame(dst, &h, min(f.frameLen()-fcsLen, maxHeaderSize))
}

// ipv4Checksum is the Internet checksum of an IPv4 header whose checksum
// field is zero.
func ipv4Checksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xFFFF {
		sum = sum>>16 + sum&0xFFFF
	}
	return ^uint16(sum)
}
