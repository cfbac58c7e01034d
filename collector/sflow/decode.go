package sflow

import (
	"encoding/binary"
	"math"
	"net/netip"
)

// Decoder decodes sFlow v5 datagrams. The zero value is ready to use and
// holds no per-datagram state; concurrent Decode calls are safe as long as
// each uses its own Datagram and nobody changes the options meanwhile.
type Decoder struct {
	// SkipHeaderParsing leaves the parsed fields of raw header records
	// (RawHeader.Parsed and after) empty; the header bytes are still copied.
	SkipHeaderParsing bool
	// Strict makes trailing bytes after the last sample an error
	// (ReasonTrailingData). By default they are ignored.
	Strict bool
}

// Structure sizes on the wire (fixed parts, in bytes).
const (
	sizeSampleHeader      = 8  // data_format + length
	sizeFlowCompact       = 32 // seq, source_id, rate, pool, drops, in, out, nrecords
	sizeFlowExpanded      = 44 // seq, type, index, rate, pool, drops, in(2), out(2), nrecords
	sizeCounterCompact    = 12 // seq, source_id, nrecords
	sizeCounterExpanded   = 16 // seq, type, index, nrecords
	sizeDiscard           = 32 // seq, type, index, drops, in, out, reason, nrecords
	sizeRawHeaderFixed    = 16
	sizeEthernetFrame     = 24
	sizeIPv4Data          = 32
	sizeIPv6Data          = 56
	sizeExtendedSwitch    = 16
	sizeGenericInterface  = 88
	sizeEthernetCounters  = 52
	sizeVLANCounters      = 28
	sizeProcessorCounters = 28
	sizeHostCPU           = 68 // 80 with steal, guest and guest_nice
	sizeHostCPUVirt       = 80
	sizeHostMemory        = 72
	sizeHostDiskIO        = 52
	sizeHostNetIO         = 40
)

// Decode decodes the datagram b into dg, which it resets first and whose
// slices it reuses: in steady state Decode allocates nothing. dg does not
// alias b (header bytes are copied). On malformed input it returns a
// *DecodeError; dg then holds what was decoded before the error.
func (d *Decoder) Decode(b []byte, dg *Datagram) error {
	dg.Reset()
	if len(b) < 8 {
		return errAt(ReasonTruncated, len(b), "datagram")
	}
	if v := be32(b, 0); v != Version {
		return errAt(ReasonBadVersion, 0, "datagram")
	}
	addr, off, err := readAddress(b, 4, "datagram")
	if err != nil {
		return err
	}
	dg.AgentAddr = addr
	if len(b)-off < 16 {
		return errAt(ReasonTruncated, len(b), "datagram")
	}
	dg.SubAgentID = be32(b, off)
	dg.Sequence = be32(b, off+4)
	dg.UptimeMS = be32(b, off+8)
	n := be32(b, off+12)
	dg.NumSamples = n
	off += 16
	if uint64(n) > uint64((len(b)-off)/sizeSampleHeader) {
		return errAt(ReasonCountLimit, off-4, "datagram")
	}
	dg.reserve(b, off, int(n))
	for i := uint32(0); i < n; i++ {
		if len(b)-off < sizeSampleHeader {
			return errAt(ReasonTruncated, len(b), "sample")
		}
		start := off + sizeSampleHeader
		format, s, end, ok := opaque(b, off)
		if !ok {
			return errAt(ReasonTruncated, off+4, "sample")
		}
		switch format {
		case SampleFlow, SampleFlowExpanded:
			err = d.decodeFlowSample(s, start, format == SampleFlowExpanded, dg)
		case SampleCounter, SampleCounterExpanded:
			err = decodeCounterSample(s, start, format == SampleCounterExpanded, dg)
		case SampleDiscardedPackets:
			err = d.decodeDiscardSample(s, start, dg)
		default:
			dg.addUnknown(KindSample, format)
		}
		if err != nil {
			return err
		}
		off = end
	}
	if d.Strict && off != len(b) {
		return errAt(ReasonTrailingData, off, "datagram")
	}
	return nil
}

func errAt(reason string, off int, ctx string) *DecodeError {
	return &DecodeError{Reason: reason, Offset: off, Context: ctx}
}

func be32(b []byte, i int) uint32 { return binary.BigEndian.Uint32(b[i:]) }
func be64(b []byte, i int) uint64 { return binary.BigEndian.Uint64(b[i:]) }

// readAddress reads an sFlow address (type word + 0, 4 or 16 bytes) at off
// and returns it with the offset after it.
func readAddress(b []byte, off int, ctx string) (netip.Addr, int, error) {
	if len(b)-off < 4 {
		return netip.Addr{}, 0, errAt(ReasonTruncated, len(b), ctx)
	}
	switch be32(b, off) {
	case 0:
		return netip.Addr{}, off + 4, nil
	case 1:
		if len(b)-off < 8 {
			return netip.Addr{}, 0, errAt(ReasonTruncated, len(b), ctx)
		}
		return netip.AddrFrom4([4]byte(b[off+4 : off+8])), off + 8, nil
	case 2:
		if len(b)-off < 20 {
			return netip.Addr{}, 0, errAt(ReasonTruncated, len(b), ctx)
		}
		return netip.AddrFrom16([16]byte(b[off+4 : off+20])), off + 20, nil
	}
	return netip.Addr{}, 0, errAt(ReasonBadAddressType, off, ctx)
}

// reserve makes room for the samples of the datagram b (n samples from
// off) before decoding them, so that each slice grows at most once, to its
// exact size, rather than by repeated doubling. It only walks the sample
// headers when some slice might be too small.
func (dg *Datagram) reserve(b []byte, off, n int) {
	if cap(dg.Flows) >= n && cap(dg.Counters) >= n && cap(dg.Discards) >= n {
		return
	}
	var nf, nc, nd int
	for i := 0; i < n && len(b)-off >= sizeSampleHeader; i++ {
		switch DataFormat(be32(b, off)) {
		case SampleFlow, SampleFlowExpanded:
			nf++
		case SampleCounter, SampleCounterExpanded:
			nc++
		case SampleDiscardedPackets:
			nd++
		}
		padded := (uint64(be32(b, off+4)) + 3) &^ 3
		if padded > uint64(len(b)-off-sizeSampleHeader) {
			break
		}
		off += sizeSampleHeader + int(padded)
	}
	dg.Flows = grow(dg.Flows, nf)
	dg.Counters = grow(dg.Counters, nc)
	dg.Discards = grow(dg.Discards, nd)
}

// opaque reads the structure at b[off:]: a data_format word, a length word
// and length bytes of data padded to 4 bytes (an XDR opaque). It returns the
// data and the offset just past the padding; ok is false when the padded
// data runs past the end of b. The caller has checked that the two words
// are there.
func opaque(b []byte, off int) (format DataFormat, data []byte, end int, ok bool) {
	format = DataFormat(be32(b, off))
	length := be32(b, off+4)
	start := off + sizeSampleHeader
	padded := (uint64(length) + 3) &^ 3
	if padded > uint64(len(b)-start) {
		return format, nil, 0, false
	}
	return format, b[start : start+int(length) : start+int(length)], start + int(padded), true
}

// grow returns s (of length 0) with capacity for at least n elements. The
// elements between 0 and the old capacity are carried over so that the
// slices inside them keep their capacity.
func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s
	}
	g := make([]T, cap(s), n)
	copy(g, s[:cap(s)])
	return g[:0]
}

// growWords returns s emptied, with capacity for at least n words.
func growWords[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:0]
	}
	return make([]T, 0, n)
}

func (dg *Datagram) addUnknown(kind StructureKind, f DataFormat) {
	for i := range dg.Unknown {
		u := &dg.Unknown[i]
		if u.Kind == kind && u.Format == f {
			u.Count++
			return
		}
	}
	dg.Unknown = append(dg.Unknown, UnknownCount{Kind: kind, Format: f, Count: 1})
}

// nextFlow extends dg.Flows by one element, reusing a previous element's
// slices when there is capacity.
func (dg *Datagram) nextFlow() *FlowSample {
	n := len(dg.Flows)
	if n < cap(dg.Flows) {
		dg.Flows = dg.Flows[:n+1]
	} else {
		dg.Flows = append(dg.Flows, FlowSample{})
	}
	f := &dg.Flows[n]
	f.FlowData.reset()
	f.Expanded = false
	f.Sequence, f.SourceIDType, f.SourceIDIndex = 0, 0, 0
	f.SamplingRate, f.SamplePool, f.Drops = 0, 0, 0
	f.Input, f.Output = Interface{}, Interface{}
	return f
}

func (dg *Datagram) nextCounter() *CounterSample {
	n := len(dg.Counters)
	if n < cap(dg.Counters) {
		dg.Counters = dg.Counters[:n+1]
	} else {
		dg.Counters = append(dg.Counters, CounterSample{})
	}
	c := &dg.Counters[n]
	c.Expanded = false
	c.Sequence, c.SourceIDType, c.SourceIDIndex = 0, 0, 0
	c.Records = c.Records[:0]
	if c.Present&HasGenericInterface != 0 {
		c.Generic = GenericInterfaceCounters{}
	}
	if c.Present&HasEthernetInterface != 0 {
		c.Ethernet = EthernetInterfaceCounters{}
	}
	if c.Present&HasVLAN != 0 {
		c.VLAN = VLANCounters{}
	}
	if c.Present&HasProcessor != 0 {
		c.Processor = ProcessorCounters{}
	}
	if c.Present&(HasHostCPU|HasHostMemory|HasHostDiskIO|HasHostNetIO) != 0 {
		*c.Host = HostCounters{}
	}
	c.Present = 0
	return c
}

func (dg *Datagram) nextDiscard() *DiscardSample {
	n := len(dg.Discards)
	if n < cap(dg.Discards) {
		dg.Discards = dg.Discards[:n+1]
	} else {
		dg.Discards = append(dg.Discards, DiscardSample{})
	}
	s := &dg.Discards[n]
	s.FlowData.reset()
	s.Sequence, s.SourceIDType, s.SourceIDIndex = 0, 0, 0
	s.Drops, s.Input, s.Output, s.Reason = 0, 0, 0, 0
	return s
}

// reset empties fd but keeps the capacity of its slices.
func (fd *FlowData) reset() {
	if fd.Present&HasRawHeader != 0 {
		fd.RawHeader = RawHeader{Header: fd.RawHeader.Header[:0]}
	}
	if fd.Present&HasEthernet != 0 {
		fd.Ethernet = EthernetFrame{}
	}
	if fd.Present&HasIPv4 != 0 {
		fd.IPv4 = IPData{}
	}
	if fd.Present&HasIPv6 != 0 {
		fd.IPv6 = IPData{}
	}
	if fd.Present&HasSwitch != 0 {
		fd.Switch = ExtendedSwitch{}
	}
	if fd.Present&HasRouter != 0 {
		fd.Router = ExtendedRouter{}
	}
	if fd.Present&HasGateway != 0 {
		fd.Gateway = ExtendedGateway{ASPath: fd.Gateway.ASPath[:0], Communities: fd.Gateway.Communities[:0]}
	}
	if fd.Present&hasExtensions != 0 {
		*fd.Ext = FlowExtensions{}
	}
	fd.NATPort, fd.Tunnel = ExtendedNATPort{}, TunnelIDs{}
	fd.Present = 0
	fd.Records = fd.Records[:0]
}

func (d *Decoder) decodeFlowSample(s []byte, base int, expanded bool, dg *Datagram) error {
	f := dg.nextFlow()
	f.Expanded = expanded
	var n uint32
	var off int
	if expanded {
		if len(s) < sizeFlowExpanded {
			return errAt(ReasonBadLength, base, "expanded_flow_sample")
		}
		f.Sequence = be32(s, 0)
		f.SourceIDType = be32(s, 4)
		f.SourceIDIndex = be32(s, 8)
		f.SamplingRate = be32(s, 12)
		f.SamplePool = be32(s, 16)
		f.Drops = be32(s, 20)
		f.Input = Interface{Format: be32(s, 24), Value: be32(s, 28)}
		f.Output = Interface{Format: be32(s, 32), Value: be32(s, 36)}
		n = be32(s, 40)
		off = sizeFlowExpanded
	} else {
		if len(s) < sizeFlowCompact {
			return errAt(ReasonBadLength, base, "flow_sample")
		}
		f.Sequence = be32(s, 0)
		src := be32(s, 4)
		f.SourceIDType = src >> 24
		f.SourceIDIndex = src & 0xFFFFFF
		f.SamplingRate = be32(s, 8)
		f.SamplePool = be32(s, 12)
		f.Drops = be32(s, 16)
		in, out := be32(s, 20), be32(s, 24)
		f.Input = Interface{Format: in >> 30, Value: in & 0x3FFFFFFF}
		f.Output = Interface{Format: out >> 30, Value: out & 0x3FFFFFFF}
		n = be32(s, 28)
		off = sizeFlowCompact
	}
	return d.decodeFlowRecords(s, off, base, n, &f.FlowData, dg)
}

func (d *Decoder) decodeDiscardSample(s []byte, base int, dg *Datagram) error {
	ds := dg.nextDiscard()
	if len(s) < sizeDiscard {
		return errAt(ReasonBadLength, base, "discard_sample")
	}
	ds.Sequence = be32(s, 0)
	ds.SourceIDType = be32(s, 4)
	ds.SourceIDIndex = be32(s, 8)
	ds.Drops = be32(s, 12)
	ds.Input = be32(s, 16)
	ds.Output = be32(s, 20)
	ds.Reason = be32(s, 24)
	return d.decodeFlowRecords(s, sizeDiscard, base, be32(s, 28), &ds.FlowData, dg)
}

// decodeFlowRecords decodes n flow records from s[off:]. base is the offset
// of s in the datagram.
func (d *Decoder) decodeFlowRecords(s []byte, off, base int, n uint32, fd *FlowData, dg *Datagram) error {
	if uint64(n) > uint64((len(s)-off)/8) {
		return errAt(ReasonCountLimit, base+off-4, "flow_records")
	}
	fd.Records = growWords(fd.Records, int(n))
	for i := uint32(0); i < n; i++ {
		if len(s)-off < 8 {
			return errAt(ReasonBadLength, base+off, "flow_record")
		}
		start := off + sizeSampleHeader
		format, r, end, ok := opaque(s, off)
		if !ok {
			return errAt(ReasonBadLength, base+off+4, "flow_record")
		}
		rbase := base + start
		fd.Records = append(fd.Records, format)
		switch format {
		case FlowRawHeader:
			if len(r) < sizeRawHeaderFixed {
				return errAt(ReasonBadLength, rbase, "raw_header")
			}
			hl := be32(r, 12)
			if uint64(hl) > uint64(len(r)-sizeRawHeaderFixed) {
				return errAt(ReasonBadLength, rbase+12, "raw_header")
			}
			h := &fd.RawHeader
			*h = RawHeader{
				Protocol:    be32(r, 0),
				FrameLength: be32(r, 4),
				Stripped:    be32(r, 8),
				HeaderSize:  hl,
				Header:      append(h.Header[:0], r[sizeRawHeaderFixed:sizeRawHeaderFixed+int(hl)]...),
			}
			if !d.SkipHeaderParsing {
				h.parse()
			}
			fd.Present |= HasRawHeader
		case FlowEthernet:
			if !decodeEthernet(r, &fd.Ethernet) {
				return errAt(ReasonBadLength, rbase, "ethernet_frame")
			}
			fd.Present |= HasEthernet
		case FlowIPv4:
			if !decodeIPv4(r, &fd.IPv4) {
				return errAt(ReasonBadLength, rbase, "ipv4_data")
			}
			fd.Present |= HasIPv4
		case FlowIPv6:
			if !decodeIPv6(r, &fd.IPv6) {
				return errAt(ReasonBadLength, rbase, "ipv6_data")
			}
			fd.Present |= HasIPv6
		case FlowExtendedSwitch:
			if len(r) < sizeExtendedSwitch {
				return errAt(ReasonBadLength, rbase, "extended_switch")
			}
			fd.Switch = ExtendedSwitch{
				SrcVLAN: be32(r, 0), SrcPriority: be32(r, 4),
				DstVLAN: be32(r, 8), DstPriority: be32(r, 12),
			}
			fd.Present |= HasSwitch
		case FlowExtendedRouter:
			nh, o, err := readAddress(r, 0, "extended_router")
			if err != nil {
				return rebase(err, rbase)
			}
			if len(r)-o < 8 {
				return errAt(ReasonBadLength, rbase, "extended_router")
			}
			fd.Router = ExtendedRouter{NextHop: nh, SrcMaskLen: be32(r, o), DstMaskLen: be32(r, o+4)}
			fd.Present |= HasRouter
		case FlowExtendedGateway:
			if err := decodeGateway(r, rbase, &fd.Gateway); err != nil {
				// Leave no half-decoded record behind in the reused struct.
				g := &fd.Gateway
				*g = ExtendedGateway{ASPath: g.ASPath[:0], Communities: g.Communities[:0]}
				return err
			}
			fd.Present |= HasGateway
		case FlowExtendedNAT, FlowExtendedNATPort, FlowL2TunnelEgress, FlowL2TunnelIngress,
			FlowIPv4TunnelEgress, FlowIPv4TunnelIngress, FlowIPv6TunnelEgress, FlowIPv6TunnelIngress,
			FlowDecapEgress, FlowDecapIngress, FlowVNIEgress, FlowVNIIngress:
			if err := decodeExtension(format, r, rbase, fd); err != nil {
				return err
			}
		default:
			dg.addUnknown(KindFlowRecord, format)
		}
		off = end
	}
	return nil
}

// hasExtensions are the presence bits of the records kept in FlowData.Ext.
const hasExtensions = HasNAT | HasL2TunnelEgress | HasL2TunnelIngress |
	HasIPv4TunnelEgress | HasIPv4TunnelIngress | HasIPv6TunnelEgress | HasIPv6TunnelIngress

// decodeExtension decodes a NAT or tunnel record, allocating fd.Ext the
// first time this sample slot needs it.
func decodeExtension(format DataFormat, r []byte, rbase int, fd *FlowData) error {
	var bit FlowRecords
	ok := true
	switch format {
	case FlowExtendedNATPort:
		if ok = len(r) >= 8; ok {
			fd.NATPort, bit = ExtendedNATPort{SrcPort: be32(r, 0), DstPort: be32(r, 4)}, HasNATPort
		}
	case FlowDecapEgress, FlowDecapIngress:
		if ok = len(r) >= 4; ok {
			if bit = tunnelBit(format, HasDecapEgress, HasDecapIngress); bit == HasDecapEgress {
				fd.Tunnel.EgressDecapOffset = be32(r, 0)
			} else {
				fd.Tunnel.IngressDecapOffset = be32(r, 0)
			}
		}
	case FlowVNIEgress, FlowVNIIngress:
		if ok = len(r) >= 4; ok {
			if bit = tunnelBit(format, HasVNIEgress, HasVNIIngress); bit == HasVNIEgress {
				fd.Tunnel.EgressVNI = be32(r, 0)
			} else {
				fd.Tunnel.IngressVNI = be32(r, 0)
			}
		}
	default:
		if fd.Ext == nil {
			fd.Ext = new(FlowExtensions)
		}
		x := fd.Ext
		side := &x.Egress
		if format%2 == 0 { // ingress formats are the even ones
			side = &x.Ingress
		}
		switch format {
		case FlowExtendedNAT:
			src, o, err := readAddress(r, 0, "extended_nat")
			if err != nil {
				return rebase(err, rbase)
			}
			dst, _, err := readAddress(r, o, "extended_nat")
			if err != nil {
				return rebase(err, rbase)
			}
			x.NAT, bit = ExtendedNAT{Src: src, Dst: dst}, HasNAT
		case FlowL2TunnelEgress, FlowL2TunnelIngress:
			ok, bit = decodeEthernet(r, &side.Ethernet), tunnelBit(format, HasL2TunnelEgress, HasL2TunnelIngress)
		case FlowIPv4TunnelEgress, FlowIPv4TunnelIngress:
			ok, bit = decodeIPv4(r, &side.IP), tunnelBit(format, HasIPv4TunnelEgress, HasIPv4TunnelIngress)
		case FlowIPv6TunnelEgress, FlowIPv6TunnelIngress:
			ok, bit = decodeIPv6(r, &side.IP), tunnelBit(format, HasIPv6TunnelEgress, HasIPv6TunnelIngress)
		}
	}
	if !ok {
		return errAt(ReasonBadLength, rbase, extensionName(format))
	}
	// One outer IP header per side: a later IPv4/IPv6 record replaces it.
	switch bit {
	case HasIPv4TunnelEgress:
		fd.Present &^= HasIPv6TunnelEgress
	case HasIPv6TunnelEgress:
		fd.Present &^= HasIPv4TunnelEgress
	case HasIPv4TunnelIngress:
		fd.Present &^= HasIPv6TunnelIngress
	case HasIPv6TunnelIngress:
		fd.Present &^= HasIPv4TunnelIngress
	}
	fd.Present |= bit
	return nil
}

// tunnelBit picks the egress or ingress presence bit of a tunnel record;
// egress formats are the odd ones.
func tunnelBit(format DataFormat, egress, ingress FlowRecords) FlowRecords {
	if format%2 == 1 {
		return egress
	}
	return ingress
}

func extensionName(format DataFormat) string {
	switch format {
	case FlowExtendedNATPort:
		return "extended_nat_port"
	case FlowL2TunnelEgress, FlowL2TunnelIngress:
		return "l2_tunnel"
	case FlowIPv4TunnelEgress, FlowIPv4TunnelIngress:
		return "ipv4_tunnel"
	case FlowIPv6TunnelEgress, FlowIPv6TunnelIngress:
		return "ipv6_tunnel"
	case FlowDecapEgress, FlowDecapIngress:
		return "decapsulate"
	default:
		return "vni"
	}
}

// decodeEthernet decodes a sampled_ethernet structure (0:2 and the L2
// tunnel records).
func decodeEthernet(r []byte, e *EthernetFrame) bool {
	if len(r) < sizeEthernetFrame {
		return false
	}
	*e = EthernetFrame{Length: be32(r, 0), SrcMAC: MAC(r[4:10]), DstMAC: MAC(r[12:18]), Type: be32(r, 20)}
	return true
}

// decodeIPv4 decodes a sampled_ipv4 structure (0:3 and the IPv4 tunnel
// records).
func decodeIPv4(r []byte, d *IPData) bool {
	if len(r) < sizeIPv4Data {
		return false
	}
	*d = IPData{
		Length: be32(r, 0), Protocol: be32(r, 4),
		SrcIP: netip.AddrFrom4([4]byte(r[8:12])), DstIP: netip.AddrFrom4([4]byte(r[12:16])),
		SrcPort: be32(r, 16), DstPort: be32(r, 20), TCPFlags: be32(r, 24), TOSOrPriority: be32(r, 28),
	}
	return true
}

// decodeIPv6 decodes a sampled_ipv6 structure (0:4 and the IPv6 tunnel
// records).
func decodeIPv6(r []byte, d *IPData) bool {
	if len(r) < sizeIPv6Data {
		return false
	}
	*d = IPData{
		Length: be32(r, 0), Protocol: be32(r, 4),
		SrcIP: netip.AddrFrom16([16]byte(r[8:24])), DstIP: netip.AddrFrom16([16]byte(r[24:40])),
		SrcPort: be32(r, 40), DstPort: be32(r, 44), TCPFlags: be32(r, 48), TOSOrPriority: be32(r, 52),
	}
	return true
}

// decodeHost decodes a host counter record into c.Host, allocating it the
// first time this sample slot needs it.
func decodeHost(format DataFormat, r []byte, rbase int, c *CounterSample) error {
	need, name := 0, ""
	switch format {
	case CounterHostCPU:
		need, name = sizeHostCPU, "host_cpu"
	case CounterHostMemory:
		need, name = sizeHostMemory, "host_memory"
	case CounterHostDiskIO:
		need, name = sizeHostDiskIO, "host_disk_io"
	default:
		need, name = sizeHostNetIO, "host_net_io"
	}
	if len(r) < need {
		return errAt(ReasonBadLength, rbase, name)
	}
	if c.Host == nil {
		c.Host = new(HostCounters)
	}
	h := c.Host
	switch format {
	case CounterHostCPU:
		h.CPU = HostCPU{
			LoadOne: math.Float32frombits(be32(r, 0)), LoadFive: math.Float32frombits(be32(r, 4)), LoadFifteen: math.Float32frombits(be32(r, 8)),
			ProcRun: be32(r, 12), ProcTotal: be32(r, 16), CPUNum: be32(r, 20), SpeedMHz: be32(r, 24), UptimeS: be32(r, 28),
			User: be32(r, 32), Nice: be32(r, 36), System: be32(r, 40), Idle: be32(r, 44),
			WaitIO: be32(r, 48), Intr: be32(r, 52), SoftIntr: be32(r, 56), Interrupts: be32(r, 60), Contexts: be32(r, 64),
		}
		if len(r) >= sizeHostCPUVirt {
			h.CPU.HasVirtTimes = true
			h.CPU.Steal, h.CPU.Guest, h.CPU.GuestNice = be32(r, 68), be32(r, 72), be32(r, 76)
		}
		c.Present |= HasHostCPU
	case CounterHostMemory:
		h.Memory = HostMemory{
			Total: be64(r, 0), Free: be64(r, 8), Shared: be64(r, 16), Buffers: be64(r, 24), Cached: be64(r, 32),
			SwapTotal: be64(r, 40), SwapFree: be64(r, 48),
			PageIn: be32(r, 56), PageOut: be32(r, 60), SwapIn: be32(r, 64), SwapOut: be32(r, 68),
		}
		c.Present |= HasHostMemory
	case CounterHostDiskIO:
		h.Disk = HostDiskIO{
			Total: be64(r, 0), Free: be64(r, 8), PartMaxUsed: be32(r, 16),
			Reads: be32(r, 20), BytesRead: be64(r, 24), ReadTime: be32(r, 32),
			Writes: be32(r, 36), BytesWritten: be64(r, 40), WriteTime: be32(r, 48),
		}
		c.Present |= HasHostDiskIO
	default:
		h.Net = HostNetIO{
			BytesIn: be64(r, 0), PktsIn: be32(r, 8), ErrsIn: be32(r, 12), DropsIn: be32(r, 16),
			BytesOut: be64(r, 20), PktsOut: be32(r, 28), ErrsOut: be32(r, 32), DropsOut: be32(r, 36),
		}
		c.Present |= HasHostNetIO
	}
	return nil
}

// rebase turns an error found in a record (offsets relative to the record)
// into one with an offset in the datagram; truncation inside a record is a
// length inconsistency.
func rebase(err error, base int) error {
	if e, ok := err.(*DecodeError); ok {
		e.Offset += base
		if e.Reason == ReasonTruncated {
			e.Reason = ReasonBadLength
		}
	}
	return err
}

func decodeGateway(r []byte, base int, g *ExtendedGateway) error {
	nh, o, err := readAddress(r, 0, "extended_gateway")
	if err != nil {
		return rebase(err, base)
	}
	if len(r)-o < 16 {
		return errAt(ReasonBadLength, base+o, "extended_gateway")
	}
	path := g.ASPath[:0]
	comms := g.Communities[:0]
	// The slices stay attached to g at every step so that an error
	// leaves their capacity for the next decode.
	*g = ExtendedGateway{NextHop: nh, AS: be32(r, o), SrcAS: be32(r, o+4), SrcPeerAS: be32(r, o+8), ASPath: path, Communities: comms}
	nseg := be32(r, o+12)
	o += 16
	// Each segment takes at least 8 bytes (type + count).
	if uint64(nseg) > uint64((len(r)-o)/8) {
		return errAt(ReasonCountLimit, base+o-4, "extended_gateway.as_path")
	}
	path = grow(path, int(nseg))
	g.ASPath = path
	for i := uint32(0); i < nseg; i++ {
		if len(r)-o < 8 {
			return errAt(ReasonBadLength, base+o, "extended_gateway.as_path")
		}
		typ, cnt := be32(r, o), be32(r, o+4)
		o += 8
		if uint64(cnt) > uint64((len(r)-o)/4) {
			return errAt(ReasonCountLimit, base+o-4, "extended_gateway.as_path")
		}
		n := len(path)
		if n < cap(path) {
			path = path[:n+1]
		} else {
			path = append(path, ASPathSegment{})
		}
		seg := &path[n]
		seg.Type = typ
		asns := growWords(seg.ASNs, int(cnt))
		for j := uint32(0); j < cnt; j++ {
			asns = append(asns, be32(r, o))
			o += 4
		}
		seg.ASNs = asns
	}
	g.ASPath = path
	if len(r)-o < 4 {
		g.Communities = comms
		return errAt(ReasonBadLength, base+o, "extended_gateway")
	}
	nc := be32(r, o)
	o += 4
	if uint64(nc) > uint64((len(r)-o)/4) {
		g.Communities = comms
		return errAt(ReasonCountLimit, base+o-4, "extended_gateway.communities")
	}
	comms = growWords(comms, int(nc))
	g.Communities = comms
	for j := uint32(0); j < nc; j++ {
		comms = append(comms, be32(r, o))
		o += 4
	}
	g.Communities = comms
	if len(r)-o < 4 {
		return errAt(ReasonBadLength, base+o, "extended_gateway")
	}
	g.LocalPref = be32(r, o)
	return nil
}

func decodeCounterSample(s []byte, base int, expanded bool, dg *Datagram) error {
	c := dg.nextCounter()
	c.Expanded = expanded
	var n uint32
	var off int
	if expanded {
		if len(s) < sizeCounterExpanded {
			return errAt(ReasonBadLength, base, "expanded_counter_sample")
		}
		c.Sequence = be32(s, 0)
		c.SourceIDType = be32(s, 4)
		c.SourceIDIndex = be32(s, 8)
		n = be32(s, 12)
		off = sizeCounterExpanded
	} else {
		if len(s) < sizeCounterCompact {
			return errAt(ReasonBadLength, base, "counter_sample")
		}
		c.Sequence = be32(s, 0)
		src := be32(s, 4)
		c.SourceIDType = src >> 24
		c.SourceIDIndex = src & 0xFFFFFF
		n = be32(s, 8)
		off = sizeCounterCompact
	}
	if uint64(n) > uint64((len(s)-off)/8) {
		return errAt(ReasonCountLimit, base+off-4, "counter_records")
	}
	c.Records = growWords(c.Records, int(n))
	for i := uint32(0); i < n; i++ {
		if len(s)-off < 8 {
			return errAt(ReasonBadLength, base+off, "counter_record")
		}
		start := off + sizeSampleHeader
		format, r, end, ok := opaque(s, off)
		if !ok {
			return errAt(ReasonBadLength, base+off+4, "counter_record")
		}
		rbase := base + start
		c.Records = append(c.Records, format)
		switch format {
		case CounterGenericInterface:
			if len(r) < sizeGenericInterface {
				return errAt(ReasonBadLength, rbase, "generic_interface")
			}
			c.Generic = GenericInterfaceCounters{
				IfIndex:          be32(r, 0),
				IfType:           be32(r, 4),
				IfSpeed:          be64(r, 8),
				IfDirection:      be32(r, 16),
				IfStatus:         be32(r, 20),
				InOctets:         be64(r, 24),
				InUcastPkts:      be32(r, 32),
				InMulticastPkts:  be32(r, 36),
				InBroadcastPkts:  be32(r, 40),
				InDiscards:       be32(r, 44),
				InErrors:         be32(r, 48),
				InUnknownProtos:  be32(r, 52),
				OutOctets:        be64(r, 56),
				OutUcastPkts:     be32(r, 64),
				OutMulticastPkts: be32(r, 68),
				OutBroadcastPkts: be32(r, 72),
				OutDiscards:      be32(r, 76),
				OutErrors:        be32(r, 80),
				PromiscuousMode:  be32(r, 84),
			}
			c.Present |= HasGenericInterface
		case CounterEthernetInterface:
			if len(r) < sizeEthernetCounters {
				return errAt(ReasonBadLength, rbase, "ethernet_interface")
			}
			c.Ethernet = EthernetInterfaceCounters{
				AlignmentErrors:           be32(r, 0),
				FCSErrors:                 be32(r, 4),
				SingleCollisionFrames:     be32(r, 8),
				MultipleCollisionFrames:   be32(r, 12),
				SQETestErrors:             be32(r, 16),
				DeferredTransmissions:     be32(r, 20),
				LateCollisions:            be32(r, 24),
				ExcessiveCollisions:       be32(r, 28),
				InternalMacTransmitErrors: be32(r, 32),
				CarrierSenseErrors:        be32(r, 36),
				FrameTooLongs:             be32(r, 40),
				InternalMacReceiveErrors:  be32(r, 44),
				SymbolErrors:              be32(r, 48),
			}
			c.Present |= HasEthernetInterface
		case CounterVLAN:
			if len(r) < sizeVLANCounters {
				return errAt(ReasonBadLength, rbase, "vlan")
			}
			c.VLAN = VLANCounters{
				VLANID:        be32(r, 0),
				Octets:        be64(r, 4),
				UcastPkts:     be32(r, 12),
				MulticastPkts: be32(r, 16),
				BroadcastPkts: be32(r, 20),
				Discards:      be32(r, 24),
			}
			c.Present |= HasVLAN
		case CounterProcessor:
			if len(r) < sizeProcessorCounters {
				return errAt(ReasonBadLength, rbase, "processor")
			}
			c.Processor = ProcessorCounters{
				CPU5s:       be32(r, 0),
				CPU1m:       be32(r, 4),
				CPU5m:       be32(r, 8),
				TotalMemory: be64(r, 12),
				FreeMemory:  be64(r, 20),
			}
			c.Present |= HasProcessor
		case CounterHostCPU, CounterHostMemory, CounterHostDiskIO, CounterHostNetIO:
			if err := decodeHost(format, r, rbase, c); err != nil {
				return err
			}
		default:
			dg.addUnknown(KindCounterRecord, format)
		}
		off = end
	}
	return nil
}
