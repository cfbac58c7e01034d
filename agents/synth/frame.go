package synth

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers used by the traffic mix.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// EtherTypes.
const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86DD
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88A8
)

const (
	fcsLen        = 4
	minFrameLen   = 64 // Ethernet minimum, FCS included
	maxHeaderSize = 128
)

// flow is one sampled packet, before it is turned into bytes.
type flow struct {
	srcMAC, dstMAC   [6]byte
	outerVLAN        uint16 // service tag (QinQ), 0 = none
	vlan             uint16 // customer/802.1Q tag, 0 = untagged
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
	if f.outerVLAN != 0 {
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

// appendHeader appends the first bytes of the frame, as an agent's raw
// packet header record carries them: the frame without its FCS, cut at
// maxHeaderSize. It returns the extended slice and the number of bytes
// appended.
func (f *flow) appendHeader(dst []byte) ([]byte, int) {
	start := len(dst)
	full := f.frameLen() - fcsLen // bytes that reach the sampler
	dst = append(dst, f.dstMAC[:]...)
	dst = append(dst, f.srcMAC[:]...)
	if f.outerVLAN != 0 {
		dst = binary.BigEndian.AppendUint16(dst, etherTypeQinQ)
		dst = binary.BigEndian.AppendUint16(dst, f.outerVLAN&0x0FFF)
	}
	if f.vlan != 0 {
		dst = binary.BigEndian.AppendUint16(dst, etherTypeVLAN)
		dst = binary.BigEndian.AppendUint16(dst, f.vlan&0x0FFF)
	}
	transportLen := f.ipLen - f.ipHeaderLen()
	if f.src.Is4() {
		dst = binary.BigEndian.AppendUint16(dst, etherTypeIPv4)
		ip := len(dst)
		dst = append(dst, 0x45, f.tos)
		dst = binary.BigEndian.AppendUint16(dst, uint16(f.ipLen))
		dst = binary.BigEndian.AppendUint16(dst, uint16(f.srcPort^f.dstPort)) // identification
		dst = binary.BigEndian.AppendUint16(dst, 0x4000)                      // don't fragment
		dst = append(dst, f.ttl, f.proto, 0, 0)
		s, d := f.src.As4(), f.dst.As4()
		dst = append(dst, s[:]...)
		dst = append(dst, d[:]...)
		binary.BigEndian.PutUint16(dst[ip+10:], ipv4Checksum(dst[ip:ip+20]))
	} else {
		dst = binary.BigEndian.AppendUint16(dst, etherTypeIPv6)
		dst = binary.BigEndian.AppendUint32(dst, 6<<28|uint32(f.tos)<<20|uint32(f.srcPort)&0xFFFFF)
		dst = binary.BigEndian.AppendUint16(dst, uint16(transportLen))
		dst = append(dst, f.proto, f.ttl)
		s, d := f.src.As16(), f.dst.As16()
		dst = append(dst, s[:]...)
		dst = append(dst, d[:]...)
	}
	switch f.proto {
	case protoTCP:
		dst = binary.BigEndian.AppendUint16(dst, f.srcPort)
		dst = binary.BigEndian.AppendUint16(dst, f.dstPort)
		dst = binary.BigEndian.AppendUint32(dst, uint32(f.srcPort)<<16|uint32(f.ipLen)) // sequence
		dst = binary.BigEndian.AppendUint32(dst, uint32(f.dstPort)<<16)                 // acknowledgment
		dst = append(dst, 5<<4, f.tcpFlags)
		dst = binary.BigEndian.AppendUint16(dst, 64240) // window
		dst = append(dst, 0, 0, 0, 0)                   // checksum, urgent pointer
	case protoUDP:
		dst = binary.BigEndian.AppendUint16(dst, f.srcPort)
		dst = binary.BigEndian.AppendUint16(dst, f.dstPort)
		dst = binary.BigEndian.AppendUint16(dst, uint16(transportLen))
		dst = append(dst, 0, 0)
	case protoICMP, protoICMPv6:
		typ := byte(8) // echo request
		if f.proto == protoICMPv6 {
			typ = 128
		}
		dst = append(dst, typ, 0, 0, 0)
		dst = binary.BigEndian.AppendUint16(dst, f.srcPort) // identifier
		dst = binary.BigEndian.AppendUint16(dst, f.dstPort) // sequence
	}
	// Payload (and Ethernet padding) up to the captured length.
	want := min(full, maxHeaderSize)
	for len(dst)-start < want {
		dst = append(dst, 0)
	}
	dst = dst[:start+want]
	return dst, want
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
