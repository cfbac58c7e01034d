package sflow

import (
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
)

// AppendDatagram appends dg encoded as an sFlow v5 datagram to dst and
// returns the extended slice. It does not allocate when dst has room.
//
// Samples are written flows first, then counters, then discards, and the
// sample count is computed (dg.NumSamples is ignored). Flow samples are
// written as 0:3 (expanded) when Expanded is set, else as 0:1; counter
// samples likewise as 0:4 or 0:2. In the compact forms the source id index
// keeps its low 24 bits and interface values their low 30 bits. Within a
// sample the records named by Present are written in a fixed order (raw
// header, Ethernet, IPv4, IPv6, switch, router, gateway; generic, Ethernet,
// VLAN, processor); Records and Unknown are ignored. A raw header record
// writes Protocol, FrameLength, Stripped and the Header bytes (its
// header_length is len(Header), HeaderSize is ignored); the parsed fields
// are not used, build Header from them with AppendFrame. An invalid
// AgentAddr is sent as address type 0 (unknown).
func AppendDatagram(dst []byte, dg *Datagram) []byte {
	dst = append32(dst, Version)
	dst = appendAddress(dst, dg.AgentAddr)
	dst = append32(dst, dg.SubAgentID)
	dst = append32(dst, dg.Sequence)
	dst = append32(dst, dg.UptimeMS)
	dst = append32(dst, uint32(len(dg.Flows)+len(dg.Counters)+len(dg.Discards)))
	for i := range dg.Flows {
		dst = appendFlowSample(dst, &dg.Flows[i])
	}
	for i := range dg.Counters {
		dst = appendCounterSample(dst, &dg.Counters[i])
	}
	for i := range dg.Discards {
		dst = appendDiscardSample(dst, &dg.Discards[i])
	}
	return dst
}

func append32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func append64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func appendAddress(b []byte, a netip.Addr) []byte {
	switch {
	case a.Is4():
		b = append32(b, 1)
		v := a.As4()
		return append(b, v[:]...)
	case a.IsValid():
		b = append32(b, 2)
		v := a.As16()
		return append(b, v[:]...)
	}
	return append32(b, 0)
}

// beginTLV appends a data_format word and a length placeholder, returning
// the offset where the structure's data starts.
func beginTLV(b []byte, f DataFormat) ([]byte, int) {
	b = append32(b, uint32(f))
	b = append32(b, 0)
	return b, len(b)
}

// endTLV pads the structure to 4 bytes and patches its length.
func endTLV(b []byte, start int) []byte {
	for (len(b)-start)%4 != 0 {
		b = append(b, 0)
	}
	binary.BigEndian.PutUint32(b[start-4:], uint32(len(b)-start))
	return b
}

func compactInterface(i Interface) uint32 { return i.Format<<30 | i.Value&0x3FFFFFFF }

func appendFlowSample(b []byte, f *FlowSample) []byte {
	var start int
	if f.Expanded {
		b, start = beginTLV(b, SampleFlowExpanded)
		b = append32(b, f.Sequence)
		b = append32(b, f.SourceIDType)
		b = append32(b, f.SourceIDIndex)
		b = append32(b, f.SamplingRate)
		b = append32(b, f.SamplePool)
		b = append32(b, f.Drops)
		b = append32(b, f.Input.Format)
		b = append32(b, f.Input.Value)
		b = append32(b, f.Output.Format)
		b = append32(b, f.Output.Value)
	} else {
		b, start = beginTLV(b, SampleFlow)
		b = append32(b, f.Sequence)
		b = append32(b, f.SourceIDType<<24|f.SourceIDIndex&0xFFFFFF)
		b = append32(b, f.SamplingRate)
		b = append32(b, f.SamplePool)
		b = append32(b, f.Drops)
		b = append32(b, compactInterface(f.Input))
		b = append32(b, compactInterface(f.Output))
	}
	b = appendFlowRecords(b, &f.FlowData)
	return endTLV(b, start)
}

func appendDiscardSample(b []byte, d *DiscardSample) []byte {
	b, start := beginTLV(b, SampleDiscardedPackets)
	b = append32(b, d.Sequence)
	b = append32(b, d.SourceIDType)
	b = append32(b, d.SourceIDIndex)
	b = append32(b, d.Drops)
	b = append32(b, d.Input)
	b = append32(b, d.Output)
	b = append32(b, d.Reason)
	b = appendFlowRecords(b, &d.FlowData)
	return endTLV(b, start)
}

func appendFlowRecords(b []byte, fd *FlowData) []byte {
	p := fd.Present & (HasRawHeader | HasEthernet | HasIPv4 | HasIPv6 | HasSwitch | HasRouter | HasGateway |
		HasNATPort | HasDecapEgress | HasDecapIngress | HasVNIEgress | HasVNIIngress)
	if fd.Ext != nil {
		p |= fd.Present & hasExtensions
	}
	b = append32(b, uint32(bits.OnesCount32(uint32(p))))
	var start int
	if p&HasRawHeader != 0 {
		h := &fd.RawHeader
		b, start = beginTLV(b, FlowRawHeader)
		b = append32(b, h.Protocol)
		b = append32(b, h.FrameLength)
		b = append32(b, h.Stripped)
		b = append32(b, uint32(len(h.Header)))
		b = append(b, h.Header...)
		b = endTLV(b, start)
	}
	if p&HasEthernet != 0 {
		b, start = beginTLV(b, FlowEthernet)
		b = appendEthernet(b, &fd.Ethernet)
		b = endTLV(b, start)
	}
	if p&HasIPv4 != 0 {
		b, start = beginTLV(b, FlowIPv4)
		b = appendIPv4(b, &fd.IPv4)
		b = endTLV(b, start)
	}
	if p&HasIPv6 != 0 {
		b, start = beginTLV(b, FlowIPv6)
		b = appendIPv6(b, &fd.IPv6)
		b = endTLV(b, start)
	}
	if p&HasSwitch != 0 {
		s := &fd.Switch
		b, start = beginTLV(b, FlowExtendedSwitch)
		b = append32(b, s.SrcVLAN)
		b = append32(b, s.SrcPriority)
		b = append32(b, s.DstVLAN)
		b = append32(b, s.DstPriority)
		b = endTLV(b, start)
	}
	if p&HasRouter != 0 {
		r := &fd.Router
		b, start = beginTLV(b, FlowExtendedRouter)
		b = appendAddress(b, r.NextHop)
		b = append32(b, r.SrcMaskLen)
		b = append32(b, r.DstMaskLen)
		b = endTLV(b, start)
	}
	if p&HasGateway != 0 {
		g := &fd.Gateway
		b, start = beginTLV(b, FlowExtendedGateway)
		b = appendAddress(b, g.NextHop)
		b = append32(b, g.AS)
		b = append32(b, g.SrcAS)
		b = append32(b, g.SrcPeerAS)
		b = append32(b, uint32(len(g.ASPath)))
		for _, seg := range g.ASPath {
			b = append32(b, seg.Type)
			b = append32(b, uint32(len(seg.ASNs)))
			for _, as := range seg.ASNs {
				b = append32(b, as)
			}
		}
		b = append32(b, uint32(len(g.Communities)))
		for _, c := range g.Communities {
			b = append32(b, c)
		}
		b = append32(b, g.LocalPref)
		b = endTLV(b, start)
	}
	return appendExtensions(b, p, fd)
}

// appendExtensions encodes the NAT and tunnel records present in p.
func appendExtensions(b []byte, p FlowRecords, fd *FlowData) []byte {
	var start int
	x := fd.Ext
	if p&HasNAT != 0 {
		b, start = beginTLV(b, FlowExtendedNAT)
		b = appendAddress(b, x.NAT.Src)
		b = appendAddress(b, x.NAT.Dst)
		b = endTLV(b, start)
	}
	if p&HasNATPort != 0 {
		b, start = beginTLV(b, FlowExtendedNATPort)
		b = append32(b, fd.NATPort.SrcPort)
		b = append32(b, fd.NATPort.DstPort)
		b = endTLV(b, start)
	}
	t := &fd.Tunnel
	sides := [...]struct {
		l2, v4, v6, decap, vni      FlowRecords
		fl2, fv4, fv6, fdecap, fvni DataFormat
		decapOffset, id             uint32
		egress                      bool
	}{
		{HasL2TunnelEgress, HasIPv4TunnelEgress, HasIPv6TunnelEgress, HasDecapEgress, HasVNIEgress,
			FlowL2TunnelEgress, FlowIPv4TunnelEgress, FlowIPv6TunnelEgress, FlowDecapEgress, FlowVNIEgress,
			t.EgressDecapOffset, t.EgressVNI, true},
		{HasL2TunnelIngress, HasIPv4TunnelIngress, HasIPv6TunnelIngress, HasDecapIngress, HasVNIIngress,
			FlowL2TunnelIngress, FlowIPv4TunnelIngress, FlowIPv6TunnelIngress, FlowDecapIngress, FlowVNIIngress,
			t.IngressDecapOffset, t.IngressVNI, false},
	}
	for _, sd := range sides {
		if p&(sd.l2|sd.v4|sd.v6) != 0 {
			h := &x.Ingress
			if sd.egress {
				h = &x.Egress
			}
			if p&sd.l2 != 0 {
				b, start = beginTLV(b, sd.fl2)
				b = appendEthernet(b, &h.Ethernet)
				b = endTLV(b, start)
			}
			if p&sd.v4 != 0 {
				b, start = beginTLV(b, sd.fv4)
				b = appendIPv4(b, &h.IP)
				b = endTLV(b, start)
			}
			if p&sd.v6 != 0 {
				b, start = beginTLV(b, sd.fv6)
				b = appendIPv6(b, &h.IP)
				b = endTLV(b, start)
			}
		}
		if p&sd.decap != 0 {
			b, start = beginTLV(b, sd.fdecap)
			b = append32(b, sd.decapOffset)
			b = endTLV(b, start)
		}
		if p&sd.vni != 0 {
			b, start = beginTLV(b, sd.fvni)
			b = append32(b, sd.id)
			b = endTLV(b, start)
		}
	}
	return b
}

func appendEthernet(b []byte, e *EthernetFrame) []byte {
	b = append32(b, e.Length)
	b = append(b, e.SrcMAC[:]...)
	b = append(b, 0, 0)
	b = append(b, e.DstMAC[:]...)
	b = append(b, 0, 0)
	return append32(b, e.Type)
}

func appendIPv4(b []byte, d *IPData) []byte {
	b = append32(b, d.Length)
	b = append32(b, d.Protocol)
	s, t := d.SrcIP.As4(), d.DstIP.As4()
	b = append(b, s[:]...)
	b = append(b, t[:]...)
	return appendIPTail(b, d)
}

func appendIPv6(b []byte, d *IPData) []byte {
	b = append32(b, d.Length)
	b = append32(b, d.Protocol)
	s, t := d.SrcIP.As16(), d.DstIP.As16()
	b = append(b, s[:]...)
	b = append(b, t[:]...)
	return appendIPTail(b, d)
}

func appendIPTail(b []byte, d *IPData) []byte {
	b = append32(b, d.SrcPort)
	b = append32(b, d.DstPort)
	b = append32(b, d.TCPFlags)
	return append32(b, d.TOSOrPriority)
}

func appendCounterSample(b []byte, c *CounterSample) []byte {
	var start int
	if c.Expanded {
		b, start = beginTLV(b, SampleCounterExpanded)
		b = append32(b, c.Sequence)
		b = append32(b, c.SourceIDType)
		b = append32(b, c.SourceIDIndex)
	} else {
		b, start = beginTLV(b, SampleCounter)
		b = append32(b, c.Sequence)
		b = append32(b, c.SourceIDType<<24|c.SourceIDIndex&0xFFFFFF)
	}
	p := c.Present & (HasGenericInterface | HasEthernetInterface | HasVLAN | HasProcessor)
	if c.Host != nil {
		p |= c.Present & (HasHostCPU | HasHostMemory | HasHostDiskIO | HasHostNetIO)
	}
	b = append32(b, uint32(bits.OnesCount8(uint8(p))))
	var rs int
	if p&HasGenericInterface != 0 {
		g := &c.Generic
		b, rs = beginTLV(b, CounterGenericInterface)
		b = append32(b, g.IfIndex)
		b = append32(b, g.IfType)
		b = append64(b, g.IfSpeed)
		b = append32(b, g.IfDirection)
		b = append32(b, g.IfStatus)
		b = append64(b, g.InOctets)
		b = append32(b, g.InUcastPkts)
		b = append32(b, g.InMulticastPkts)
		b = append32(b, g.InBroadcastPkts)
		b = append32(b, g.InDiscards)
		b = append32(b, g.InErrors)
		b = append32(b, g.InUnknownProtos)
		b = append64(b, g.OutOctets)
		b = append32(b, g.OutUcastPkts)
		b = append32(b, g.OutMulticastPkts)
		b = append32(b, g.OutBroadcastPkts)
		b = append32(b, g.OutDiscards)
		b = append32(b, g.OutErrors)
		b = append32(b, g.PromiscuousMode)
		b = endTLV(b, rs)
	}
	if p&HasEthernetInterface != 0 {
		e := &c.Ethernet
		b, rs = beginTLV(b, CounterEthernetInterface)
		for _, v := range [...]uint32{
			e.AlignmentErrors, e.FCSErrors, e.SingleCollisionFrames, e.MultipleCollisionFrames,
			e.SQETestErrors, e.DeferredTransmissions, e.LateCollisions, e.ExcessiveCollisions,
			e.InternalMacTransmitErrors, e.CarrierSenseErrors, e.FrameTooLongs,
			e.InternalMacReceiveErrors, e.SymbolErrors,
		} {
			b = append32(b, v)
		}
		b = endTLV(b, rs)
	}
	if p&HasVLAN != 0 {
		v := &c.VLAN
		b, rs = beginTLV(b, CounterVLAN)
		b = append32(b, v.VLANID)
		b = append64(b, v.Octets)
		b = append32(b, v.UcastPkts)
		b = append32(b, v.MulticastPkts)
		b = append32(b, v.BroadcastPkts)
		b = append32(b, v.Discards)
		b = endTLV(b, rs)
	}
	if p&HasProcessor != 0 {
		pc := &c.Processor
		b, rs = beginTLV(b, CounterProcessor)
		b = append32(b, pc.CPU5s)
		b = append32(b, pc.CPU1m)
		b = append32(b, pc.CPU5m)
		b = append64(b, pc.TotalMemory)
		b = append64(b, pc.FreeMemory)
		b = endTLV(b, rs)
	}
	if p&(HasHostCPU|HasHostMemory|HasHostDiskIO|HasHostNetIO) != 0 {
		b = appendHost(b, p, c.Host)
	}
	return endTLV(b, start)
}

// appendHost encodes the host records present in p.
func appendHost(b []byte, p CounterRecords, h *HostCounters) []byte {
	var rs int
	if p&HasHostCPU != 0 {
		u := &h.CPU
		b, rs = beginTLV(b, CounterHostCPU)
		b = append32(b, math.Float32bits(u.LoadOne))
		b = append32(b, math.Float32bits(u.LoadFive))
		b = append32(b, math.Float32bits(u.LoadFifteen))
		for _, v := range []uint32{u.ProcRun, u.ProcTotal, u.CPUNum, u.SpeedMHz, u.UptimeS, u.User, u.Nice, u.System,
			u.Idle, u.WaitIO, u.Intr, u.SoftIntr, u.Interrupts, u.Contexts} {
			b = append32(b, v)
		}
		if u.HasVirtTimes {
			b = append32(b, u.Steal)
			b = append32(b, u.Guest)
			b = append32(b, u.GuestNice)
		}
		b = endTLV(b, rs)
	}
	if p&HasHostMemory != 0 {
		m := &h.Memory
		b, rs = beginTLV(b, CounterHostMemory)
		for _, v := range []uint64{m.Total, m.Free, m.Shared, m.Buffers, m.Cached, m.SwapTotal, m.SwapFree} {
			b = append64(b, v)
		}
		for _, v := range []uint32{m.PageIn, m.PageOut, m.SwapIn, m.SwapOut} {
			b = append32(b, v)
		}
		b = endTLV(b, rs)
	}
	if p&HasHostDiskIO != 0 {
		d := &h.Disk
		b, rs = beginTLV(b, CounterHostDiskIO)
		b = append64(b, d.Total)
		b = append64(b, d.Free)
		b = append32(b, d.PartMaxUsed)
		b = append32(b, d.Reads)
		b = append64(b, d.BytesRead)
		b = append32(b, d.ReadTime)
		b = append32(b, d.Writes)
		b = append64(b, d.BytesWritten)
		b = append32(b, d.WriteTime)
		b = endTLV(b, rs)
	}
	if p&HasHostNetIO != 0 {
		n := &h.Net
		b, rs = beginTLV(b, CounterHostNetIO)
		b = append64(b, n.BytesIn)
		b = append32(b, n.PktsIn)
		b = append32(b, n.ErrsIn)
		b = append32(b, n.DropsIn)
		b = append64(b, n.BytesOut)
		b = append32(b, n.PktsOut)
		b = append32(b, n.ErrsOut)
		b = append32(b, n.DropsOut)
		b = endTLV(b, rs)
	}
	return b
}

// AppendFrame appends to dst the packet header described by the parsed
// fields of h and returns the extended slice: an Ethernet frame for
// HeaderEthernet (with h.VLANs tags: one 802.1Q tag carrying VLAN, or an
// 802.1ad tag carrying VLAN followed by an 802.1Q tag carrying InnerVLAN;
// then an MPLS stack when MPLSLabels > 0), a bare label stack for
// HeaderMPLS, or a bare IP packet for HeaderIPv4/HeaderIPv6. The network
// layer follows h.Network (IPv4 with a valid checksum, or IPv6), then a
// TCP, UDP, ICMP or ICMPv6 header after h.IPProto. When size > 0 the
// result is cut or zero-padded so that exactly size bytes are appended,
// like an agent's fixed-size header snapshot.
//
// Typical use: h.Header = sflow.AppendFrame(h.Header[:0], h, 128).
func AppendFrame(dst []byte, h *RawHeader, size int) []byte {
	start := len(dst)
	if h.Protocol == HeaderEthernet {
		dst = append(dst, h.DstMAC[:]...)
		dst = append(dst, h.SrcMAC[:]...)
		switch {
		case h.VLANs >= 2:
			dst = binary.BigEndian.AppendUint16(dst, etherTypeQinQ)
			dst = binary.BigEndian.AppendUint16(dst, h.VLAN&0x0FFF)
			dst = binary.BigEndian.AppendUint16(dst, etherTypeVLAN)
			dst = binary.BigEndian.AppendUint16(dst, h.InnerVLAN&0x0FFF)
		case h.VLANs == 1:
			dst = binary.BigEndian.AppendUint16(dst, etherTypeVLAN)
			dst = binary.BigEndian.AppendUint16(dst, h.VLAN&0x0FFF)
		}
		et := uint16(etherTypeIPv4)
		switch {
		case h.MPLSLabels > 0:
			et = etherTypeMPLS
		case h.Network == NetworkIPv6:
			et = etherTypeIPv6
		case h.Network == NetworkNone && h.EtherType != 0:
			et = h.EtherType
		}
		dst = binary.BigEndian.AppendUint16(dst, et)
	}
	if h.Protocol == HeaderEthernet || h.Protocol == HeaderMPLS {
		for i := uint8(0); i < h.MPLSLabels; i++ {
			var w uint32
			if i == 0 {
				w = h.MPLSTopLabel << 12
			}
			if i == h.MPLSLabels-1 {
				w |= 0x100
			}
			w |= 64 // TTL
			dst = append32(dst, w)
		}
	}
	l4 := l4Len(h.IPProto)
	switch h.Network {
	case NetworkIPv4:
		ipStart := len(dst)
		total := h.IPLength
		if total == 0 {
			total = uint16(20 + l4)
		}
		frag := h.FragmentOffset & 0x1FFF
		if h.MoreFragments {
			frag |= 0x2000
		}
		dst = append(dst, 0x45, h.TOS)
		dst = binary.BigEndian.AppendUint16(dst, total)
		dst = append(dst, 0, 0) // identification
		dst = binary.BigEndian.AppendUint16(dst, frag)
		dst = append(dst, h.TTL, h.IPProto, 0, 0)
		s, t := h.SrcIP.As4(), h.DstIP.As4()
		dst = append(dst, s[:]...)
		dst = append(dst, t[:]...)
		binary.BigEndian.PutUint16(dst[ipStart+10:], ipChecksum(dst[ipStart:]))
	case NetworkIPv6:
		payload := uint16(l4)
		if h.IPLength >= 40 {
			payload = h.IPLength - 40
		}
		dst = append32(dst, 6<<28|uint32(h.TOS)<<20|h.FlowLabel&0xFFFFF)
		dst = binary.BigEndian.AppendUint16(dst, payload)
		dst = append(dst, h.IPProto, h.TTL)
		s, t := h.SrcIP.As16(), h.DstIP.As16()
		dst = append(dst, s[:]...)
		dst = append(dst, t[:]...)
	}
	if h.Network != NetworkNone {
		switch h.IPProto {
		case protoTCP:
			dst = binary.BigEndian.AppendUint16(dst, h.SrcPort)
			dst = binary.BigEndian.AppendUint16(dst, h.DstPort)
			dst = append32(dst, 1) // sequence
			dst = append32(dst, 0) // acknowledgment
			dst = append(dst, 5<<4, h.TCPFlags)
			dst = append(dst, 0xFF, 0xFF, 0, 0, 0, 0) // window, checksum, urgent
		case protoUDP:
			dst = binary.BigEndian.AppendUint16(dst, h.SrcPort)
			dst = binary.BigEndian.AppendUint16(dst, h.DstPort)
			ulen := uint16(8)
			ipHdr := uint16(20)
			if h.Network == NetworkIPv6 {
				ipHdr = 40
			}
			if h.IPLength >= ipHdr+8 {
				ulen = h.IPLength - ipHdr
			}
			dst = binary.BigEndian.AppendUint16(dst, ulen)
			dst = append(dst, 0, 0)
		case protoICMP, protoICMPv6:
			dst = append(dst, h.ICMPType, h.ICMPCode, 0, 0, 0, 0, 0, 0)
		}
	}
	if size > 0 {
		if n := len(dst) - start; n > size {
			dst = dst[:start+size]
		} else {
			for ; n < size; n++ {
				dst = append(dst, 0)
			}
		}
	}
	return dst
}

func l4Len(proto uint8) int {
	switch proto {
	case protoTCP:
		return 20
	case protoUDP, protoICMP, protoICMPv6:
		return 8
	}
	return 0
}

// ipChecksum is the Internet checksum of an IPv4 header whose checksum
// field is zero.
func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < 20 && i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum>>16 != 0 {
		sum = sum&0xFFFF + sum>>16
	}
	return ^uint16(sum)
}
