package sflow

import (
	"encoding/binary"
	"net/netip"
)

// EtherTypes and IP protocol numbers the header parser knows.
const (
	etherTypeIPv4      = 0x0800
	etherTypeIPv6      = 0x86DD
	etherTypeVLAN      = 0x8100
	etherTypeQinQ      = 0x88A8
	etherTypeQinQOld   = 0x9100
	etherTypeQinQOld2  = 0x9200
	etherTypeMPLS      = 0x8847
	etherTypeMPLSMulti = 0x8848

	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// Limits that keep header parsing short on hostile input.
const (
	maxVLANTags      = 8
	maxMPLSLabels    = 16
	maxIPv6ExtHeader = 8
)

// parse fills the parsed fields of h from h.Header. It never fails: it
// stops where the bytes end or where it meets something it does not know.
func (h *RawHeader) parse() {
	b := h.Header
	switch h.Protocol {
	case HeaderEthernet:
		h.parseEthernet(b)
	case HeaderIPv4:
		h.parseIPv4(b)
	case HeaderIPv6:
		h.parseIPv6(b)
	case HeaderMPLS:
		h.parseMPLS(b)
	}
}

func (h *RawHeader) parseEthernet(b []byte) {
	if len(b) < 14 {
		return
	}
	h.DstMAC = MAC(b[0:6])
	h.SrcMAC = MAC(b[6:12])
	et := binary.BigEndian.Uint16(b[12:14])
	b = b[14:]
	h.Parsed |= LayerEthernet
	for et == etherTypeVLAN || et == etherTypeQinQ || et == etherTypeQinQOld || et == etherTypeQinQOld2 {
		if len(b) < 4 || h.VLANs >= maxVLANTags {
			h.EtherType = et
			return
		}
		vid := binary.BigEndian.Uint16(b[0:2]) & 0x0FFF
		switch h.VLANs {
		case 0:
			h.VLAN = vid
		case 1:
			h.InnerVLAN = vid
		}
		h.VLANs++
		h.Parsed |= LayerVLAN
		et = binary.BigEndian.Uint16(b[2:4])
		b = b[4:]
	}
	h.EtherType = et
	switch et {
	case etherTypeIPv4:
		h.parseIPv4(b)
	case etherTypeIPv6:
		h.parseIPv6(b)
	case etherTypeMPLS, etherTypeMPLSMulti:
		h.parseMPLS(b)
	}
}

// parseMPLS reads a label stack and then guesses the payload from the IP
// version nibble, as routers do.
func (h *RawHeader) parseMPLS(b []byte) {
	for {
		if len(b) < 4 || h.MPLSLabels >= maxMPLSLabels {
			return
		}
		w := binary.BigEndian.Uint32(b)
		if h.MPLSLabels == 0 {
			h.MPLSTopLabel = w >> 12
		}
		h.MPLSLabels++
		h.Parsed |= LayerMPLS
		b = b[4:]
		if w&0x100 != 0 { // bottom of stack
			break
		}
	}
	if len(b) == 0 {
		return
	}
	switch b[0] >> 4 {
	case 4:
		h.parseIPv4(b)
	case 6:
		h.parseIPv6(b)
	}
}

func (h *RawHeader) parseIPv4(b []byte) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return
	}
	ihl := int(b[0]&0x0F) * 4
	h.Network = NetworkIPv4
	h.TOS = b[1]
	h.IPLength = binary.BigEndian.Uint16(b[2:4])
	frag := binary.BigEndian.Uint16(b[6:8])
	h.FragmentOffset = frag & 0x1FFF
	h.MoreFragments = frag&0x2000 != 0
	h.TTL = b[8]
	h.IPProto = b[9]
	h.SrcIP = netip.AddrFrom4([4]byte(b[12:16]))
	h.DstIP = netip.AddrFrom4([4]byte(b[16:20]))
	h.Parsed |= LayerIPv4
	if ihl < 20 || ihl > len(b) || h.FragmentOffset != 0 {
		return
	}
	h.parseTransport(b[ihl:], h.IPProto)
}

func (h *RawHeader) parseIPv6(b []byte) {
	if len(b) < 40 || b[0]>>4 != 6 {
		return
	}
	w := binary.BigEndian.Uint32(b[0:4])
	h.Network = NetworkIPv6
	h.TOS = uint8(w >> 20)
	h.FlowLabel = w & 0xFFFFF
	h.IPLength = binary.BigEndian.Uint16(b[4:6]) + 40
	next := b[6]
	h.TTL = b[7]
	h.SrcIP = netip.AddrFrom16([16]byte(b[8:24]))
	h.DstIP = netip.AddrFrom16([16]byte(b[24:40]))
	h.Parsed |= LayerIPv6
	b = b[40:]
	for i := 0; i < maxIPv6ExtHeader; i++ {
		var size int
		switch next {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination options, mobility, HIP, shim6
			if len(b) < 2 {
				h.IPProto = next
				return
			}
			size = (int(b[1]) + 1) * 8
		case 44: // fragment
			if len(b) < 8 {
				h.IPProto = next
				return
			}
			fo := binary.BigEndian.Uint16(b[2:4])
			h.FragmentOffset = fo >> 3
			h.MoreFragments = fo&1 != 0
			size = 8
		case 51: // authentication header
			if len(b) < 2 {
				h.IPProto = next
				return
			}
			size = (int(b[1]) + 2) * 4
		default:
			h.IPProto = next
			if h.FragmentOffset == 0 {
				h.parseTransport(b, next)
			}
			return
		}
		if size > len(b) {
			h.IPProto = next
			return
		}
		next = b[0]
		b = b[size:]
	}
	h.IPProto = next
}

func (h *RawHeader) parseTransport(b []byte, proto uint8) {
	switch proto {
	case protoTCP:
		if len(b) < 4 {
			return
		}
		h.SrcPort = binary.BigEndian.Uint16(b[0:2])
		h.DstPort = binary.BigEndian.Uint16(b[2:4])
		if len(b) < 14 {
			return
		}
		h.TCPFlags = b[13]
		h.Parsed |= LayerTCP
	case protoUDP:
		if len(b) < 4 {
			return
		}
		h.SrcPort = binary.BigEndian.Uint16(b[0:2])
		h.DstPort = binary.BigEndian.Uint16(b[2:4])
		h.Parsed |= LayerUDP
	case protoICMP, protoICMPv6:
		if len(b) < 2 {
			return
		}
		h.ICMPType = b[0]
		h.ICMPCode = b[1]
		h.Parsed |= LayerICMP
	}
}
