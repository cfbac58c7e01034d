// Package flowdoc turns decoded sFlow samples into ECS-aligned JSON
// documents: one per flow sample (event.dataset "sflow.flow") and one per
// counter record (event.dataset "sflow.counters"). Estimates are scaled by the
// sampling rate (network.packets = sampling_rate, network.bytes =
// frame_length × sampling_rate); the raw sFlow values are kept under sflow.*.
//
// Documents are written with hand-written appenders into caller-owned
// buffers, so encoding allocates nothing once the buffers have grown.
//
// A document is built in two parts so that tenant copies are cheap: the body
// (everything common to all copies, left open) and a tail that closes it and,
// for a tenant copy, adds organization.id (and, for flows, network.direction).
package flowdoc

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/elk-project/elk/collector/sflow"
)

// ECSVersion is the ECS version the documents follow.
const ECSVersion = "8.17.0"

// Datasets.
const (
	DatasetFlow     = "sflow.flow"
	DatasetCounters = "sflow.counters"
	DatasetDiscards = "sflow.discards"
)

// Meta is the per-datagram context of a document.
type Meta struct {
	// Received is when the datagram arrived (@timestamp, event.created).
	Received time.Time
	// BootMS is the agent's boot time in Unix milliseconds, as estimated
	// by the caller (see BootTime); it goes into document ids.
	BootMS int64
}

// BootTime estimates the agent's boot time from the receive time and its
// uptime, rounded to the second so it stays the same across datagrams
// despite network delay.
func BootTime(received time.Time, uptimeMS uint32) int64 {
	ms := received.UnixMilli() - int64(uptimeMS)
	return (ms + 500) / 1000 * 1000
}

// Estimates returns a flow sample's estimated packets and bytes and the
// frame length they are based on: the raw header's frame length, else the
// Ethernet record's length, else the IP record's length.
func Estimates(f *sflow.FlowSample) (packets, bytes uint64, frameLength uint32) {
	switch {
	case f.Has(sflow.HasRawHeader):
		frameLength = f.RawHeader.FrameLength
	case f.Has(sflow.HasEthernet):
		frameLength = f.Ethernet.Length
	case f.Has(sflow.HasIPv4):
		frameLength = f.IPv4.Length
	case f.Has(sflow.HasIPv6):
		frameLength = f.IPv6.Length
	}
	packets = uint64(f.SamplingRate)
	return packets, uint64(frameLength) * packets, frameLength
}

// Endpoints are a flow's network endpoints, from the sampled header when it
// could be parsed, else from an IPv4/IPv6 data record.
type Endpoints struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	HasPorts         bool
	HasProto         bool
	TOS, TTL         uint8
	HasTTL           bool
	TCPFlags         uint8
	VLAN, InnerVLAN  uint16
}

// FlowEndpoints extracts f's endpoints.
func FlowEndpoints(f *sflow.FlowData) Endpoints {
	var e Endpoints
	h := &f.RawHeader
	if f.Has(sflow.HasRawHeader) && h.Parsed&(sflow.LayerIPv4|sflow.LayerIPv6) != 0 {
		e.Src, e.Dst = h.SrcIP, h.DstIP
		e.Proto, e.HasProto = h.IPProto, true
		e.TOS, e.TTL, e.HasTTL = h.TOS, h.TTL, true
		if h.Parsed&(sflow.LayerTCP|sflow.LayerUDP) != 0 {
			e.SrcPort, e.DstPort, e.HasPorts = h.SrcPort, h.DstPort, true
		}
		e.TCPFlags = h.TCPFlags
	} else {
		var d *sflow.IPData
		if f.Has(sflow.HasIPv4) {
			d = &f.IPv4
		} else if f.Has(sflow.HasIPv6) {
			d = &f.IPv6
		}
		if d != nil {
			e.Src, e.Dst = d.SrcIP, d.DstIP
			e.Proto, e.HasProto = uint8(d.Protocol), true
			e.TOS = uint8(d.TOSOrPriority)
			if d.Protocol == 6 || d.Protocol == 17 || d.Protocol == 132 {
				e.SrcPort, e.DstPort, e.HasPorts = uint16(d.SrcPort), uint16(d.DstPort), true
			}
			e.TCPFlags = uint8(d.TCPFlags)
		}
	}
	if f.Has(sflow.HasRawHeader) && h.VLANs > 0 {
		e.VLAN = h.VLAN
		if h.VLANs > 1 {
			e.InnerVLAN = h.InnerVLAN
		}
	} else if f.Has(sflow.HasSwitch) && f.Switch.SrcVLAN != 0 {
		e.VLAN = uint16(f.Switch.SrcVLAN)
	}
	return e
}

// IDKey is what a document's id is derived from.
type IDKey struct {
	Agent      netip.Addr
	SubAgent   uint32
	BootMS     int64
	Sequence   uint32 // datagram sequence
	Sample     uint32 // index of the sample in the datagram
	Record     uint32 // index of the record in a counter sample; 0 for flows
	Counter    bool   // counter document (else flow)
	Tenant     string // "" for the operator's copy
	SampleKind uint8  // distinguishes flow, counter and discard samples
}

// IDLen is the length of a document id.
const IDLen = 22

// AppendID appends the deterministic document id for k: 128 bits of a
// SHA-256 over the key fields, base64url without padding (22 characters).
func AppendID(dst []byte, k *IDKey) []byte {
	var in [64 + 64]byte
	a := k.Agent.As16()
	copy(in[0:16], a[:])
	binary.BigEndian.PutUint32(in[16:], k.SubAgent)
	binary.BigEndian.PutUint64(in[20:], uint64(k.BootMS))
	binary.BigEndian.PutUint32(in[28:], k.Sequence)
	binary.BigEndian.PutUint32(in[32:], k.Sample)
	binary.BigEndian.PutUint32(in[36:], k.Record)
	if k.Counter {
		in[40] = 1
	}
	in[41] = k.SampleKind
	n := 42
	if k.Tenant != "" {
		in[n] = byte(min(len(k.Tenant), 64))
		n++
		n += copy(in[n:], k.Tenant)
	}
	sum := sha256.Sum256(in[:n])
	l := len(dst)
	dst = append(dst, make([]byte, IDLen)...)
	base64.RawURLEncoding.Encode(dst[l:], sum[:16])
	return dst
}

// transports maps IANA protocol numbers to ECS network.transport names.
func transport(p uint8) string {
	switch p {
	case 1:
		return "icmp"
	case 2:
		return "igmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 41:
		return "ipv6"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 58:
		return "ipv6-icmp"
	case 89:
		return "ospf"
	case 132:
		return "sctp"
	}
	return ""
}

func sampleType(f *sflow.FlowSample) string {
	if f.Expanded {
		return "expanded_flow"
	}
	return "flow"
}

func appendEvent(b []byte, kind, typ, dataset string, m *Meta) []byte {
	b = append(b, `{"@timestamp":`...)
	b = appendTime(b, m.Received)
	b = append(b, `,"event":{"kind":"`...)
	b = append(b, kind...)
	b = append(b, `","category":["network"],`...)
	if typ != "" {
		b = append(b, `"type":["`...)
		b = append(b, typ...)
		b = append(b, `"],`...)
	}
	b = append(b, `"module":"sflow","dataset":"`...)
	b = append(b, dataset...)
	b = append(b, `","created":`...)
	b = appendTime(b, m.Received)
	b = append(b, `},"ecs":{"version":"`+ECSVersion+`"}`...)
	return b
}

func appendObserver(b []byte, dg *sflow.Datagram, in, out sflow.Interface, inVLAN, outVLAN uint32) []byte {
	b = append(b, `,"observer":{"type":"sflow"`...)
	if dg.AgentAddr.IsValid() {
		b = append(b, `,"ip":`...)
		b = appendIP(b, dg.AgentAddr)
	}
	b = appendSide(b, "ingress", in, inVLAN)
	b = appendSide(b, "egress", out, outVLAN)
	return append(b, '}')
}

// appendSide appends observer.ingress or observer.egress: the interface
// (when the word names one) and the VLAN (when known).
func appendSide(b []byte, name string, i sflow.Interface, vlan uint32) []byte {
	idx, ok := i.IfIndex()
	hasIf := ok && idx != 0 && idx != sflow.IfIndexInternal
	if !hasIf && vlan == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":{`...)
	if hasIf {
		b = append(b, `"interface":{"id":`...)
		b = appendQuotedUint(b, uint64(idx))
		b = append(b, '}')
		if vlan != 0 {
			b = append(b, ',')
		}
	}
	if vlan != 0 {
		b = append(b, `"vlan":{"id":`...)
		b = appendQuotedUint(b, uint64(vlan))
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendSflowHead opens the sflow object with the datagram's fields and
// the sample's; the caller continues inside "sflow".
func appendSflowHead(b []byte, dg *sflow.Datagram, sampleType string, seq, srcType, srcIndex uint32) []byte {
	b = append(b, `,"sflow":{"agent":{"sub_id":`...)
	b = appendUint(b, uint64(dg.SubAgentID))
	b = append(b, `,"uptime_ms":`...)
	b = appendUint(b, uint64(dg.UptimeMS))
	b = append(b, `},"datagram":{"sequence":`...)
	b = appendUint(b, uint64(dg.Sequence))
	b = append(b, `},"sample":{"type":"`...)
	b = append(b, sampleType...)
	b = append(b, `","sequence":`...)
	b = appendUint(b, uint64(seq))
	b = append(b, `,"source_id_type":`...)
	b = appendUint(b, uint64(srcType))
	b = append(b, `,"source_id_index":`...)
	b = appendUint(b, uint64(srcIndex))
	return append(b, '}')
}

// endpointNAT is an endpoint's address and port after translation (ECS
// source.nat.*, destination.nat.*), from the extended NAT records.
type endpointNAT struct {
	ip      netip.Addr
	port    uint32
	hasPort bool
}

func appendEndpoint(b []byte, name string, ip netip.Addr, port uint16, hasPort bool, mac sflow.MAC, hasMAC bool, as uint32, nat endpointNAT) []byte {
	if !ip.IsValid() && !hasMAC && as == 0 && !nat.ip.IsValid() && !nat.hasPort {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":{`...)
	sep := false
	comma := func() {
		if sep {
			b = append(b, ',')
		}
		sep = true
	}
	if ip.IsValid() {
		comma()
		b = append(b, `"ip":`...)
		b = appendIP(b, ip)
	}
	if hasPort {
		comma()
		b = append(b, `"port":`...)
		b = appendUint(b, uint64(port))
	}
	if hasMAC {
		comma()
		b = append(b, `"mac":`...)
		b = appendMAC(b, mac)
	}
	if as != 0 {
		comma()
		b = append(b, `"as":{"number":`...)
		b = appendUint(b, uint64(as))
		b = append(b, '}')
	}
	if nat.ip.IsValid() || nat.hasPort {
		comma()
		b = append(b, `"nat":{`...)
		if nat.ip.IsValid() {
			b = append(b, `"ip":`...)
			b = appendIP(b, nat.ip)
			if nat.hasPort {
				b = append(b, ',')
			}
		}
		if nat.hasPort {
			b = append(b, `"port":`...)
			b = appendUint(b, uint64(nat.port))
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// flowNAT returns the translated source and destination of f.
func flowNAT(f *sflow.FlowSample) (src, dst endpointNAT) {
	if f.Has(sflow.HasNAT) && f.Ext != nil {
		src.ip, dst.ip = f.Ext.NAT.Src, f.Ext.NAT.Dst
	}
	if f.Has(sflow.HasNATPort) {
		src.port, dst.port = f.NATPort.SrcPort, f.NATPort.DstPort
		src.hasPort, dst.hasPort = true, true
	}
	return src, dst
}

// tunnelSide names the presence bits and values of one side's tunnel
// records.
type tunnelSide struct {
	name                   string
	l2, v4, v6, decap, vni sflow.FlowRecords
	decapOffset, id        uint32
	hdr                    *sflow.TunnelHeaders
}

// appendTunnel appends sflow.tunnel.{egress,ingress} for the tunnel records
// of f, if any.
func appendTunnel(b []byte, f *sflow.FlowSample) []byte {
	const all = sflow.HasL2TunnelEgress | sflow.HasL2TunnelIngress | sflow.HasIPv4TunnelEgress | sflow.HasIPv4TunnelIngress |
		sflow.HasIPv6TunnelEgress | sflow.HasIPv6TunnelIngress | sflow.HasDecapEgress | sflow.HasDecapIngress |
		sflow.HasVNIEgress | sflow.HasVNIIngress
	if f.Present&all == 0 {
		return b
	}
	var eh, ih *sflow.TunnelHeaders
	if f.Ext != nil {
		eh, ih = &f.Ext.Egress, &f.Ext.Ingress
	}
	t := &f.Tunnel
	sides := [2]tunnelSide{
		{"egress", sflow.HasL2TunnelEgress, sflow.HasIPv4TunnelEgress, sflow.HasIPv6TunnelEgress, sflow.HasDecapEgress, sflow.HasVNIEgress,
			t.EgressDecapOffset, t.EgressVNI, eh},
		{"ingress", sflow.HasL2TunnelIngress, sflow.HasIPv4TunnelIngress, sflow.HasIPv6TunnelIngress, sflow.HasDecapIngress, sflow.HasVNIIngress,
			t.IngressDecapOffset, t.IngressVNI, ih},
	}
	b = append(b, `,"tunnel":{`...)
	first := true
	for _, s := range sides {
		if f.Present&(s.l2|s.v4|s.v6|s.decap|s.vni) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, s.name...)
		b = append(b, `":{`...)
		sep := false
		field := func(name string) {
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = append(b, '"')
			b = append(b, name...)
			b = append(b, `":`...)
		}
		if f.Present&s.vni != 0 {
			field("vni")
			b = appendUint(b, uint64(s.id))
		}
		if f.Present&s.decap != 0 {
			field("decap_offset")
			b = appendUint(b, uint64(s.decapOffset))
		}
		if f.Present&(s.v4|s.v6) != 0 && s.hdr != nil {
			ip := &s.hdr.IP
			field("ip")
			b = append(b, `{"src":`...)
			b = appendIP(b, ip.SrcIP)
			b = append(b, `,"dst":`...)
			b = appendIP(b, ip.DstIP)
			b = append(b, `,"protocol":`...)
			b = appendUint(b, uint64(ip.Protocol))
			b = append(b, `,"src_port":`...)
			b = appendUint(b, uint64(ip.SrcPort))
			b = append(b, `,"dst_port":`...)
			b = appendUint(b, uint64(ip.DstPort))
			b = append(b, `,"length":`...)
			b = appendUint(b, uint64(ip.Length))
			b = append(b, '}')
		}
		if f.Present&s.l2 != 0 && s.hdr != nil {
			e := &s.hdr.Ethernet
			field("ethernet")
			b = append(b, `{"src_mac":`...)
			b = appendMAC(b, e.SrcMAC)
			b = append(b, `,"dst_mac":`...)
			b = appendMAC(b, e.DstMAC)
			b = append(b, `,"type":`...)
			b = appendUint(b, uint64(e.Type))
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// AppendFlowBody appends the common part of flow sample f's document (f is
// an element of dg.Flows). The body is left open inside the "network"
// object: finish it with AppendFlowTail.
func AppendFlowBody(b []byte, dg *sflow.Datagram, f *sflow.FlowSample, m *Meta) []byte {
	packets, bytes, frameLength := Estimates(f)
	e := FlowEndpoints(&f.FlowData)
	var inVLAN, outVLAN uint32
	if f.Has(sflow.HasSwitch) {
		inVLAN, outVLAN = f.Switch.SrcVLAN, f.Switch.DstVLAN
	}
	b = appendEvent(b, "event", "connection", DatasetFlow, m)
	b = appendObserver(b, dg, f.Input, f.Output, inVLAN, outVLAN)

	var srcAS, dstAS uint32
	g := &f.Gateway
	if f.Has(sflow.HasGateway) {
		srcAS = g.SrcAS
		if n := len(g.ASPath); n > 0 {
			if asns := g.ASPath[n-1].ASNs; len(asns) > 0 {
				dstAS = asns[len(asns)-1]
			}
		}
	}
	srcNAT, dstNAT := flowNAT(f)
	b = appendEndpoints(b, &f.FlowData, &e, srcAS, dstAS, srcNAT, dstNAT)

	// sflow.*: the raw values.
	b = appendSflowHead(b, dg, sampleType(f), f.Sequence, f.SourceIDType, f.SourceIDIndex)
	b = append(b, `,"sampling_rate":`...)
	b = appendUint(b, uint64(f.SamplingRate))
	b = append(b, `,"sample_pool":`...)
	b = appendUint(b, uint64(f.SamplePool))
	b = append(b, `,"drops":`...)
	b = appendUint(b, uint64(f.Drops))
	b = append(b, `,"input":{"format":`...)
	b = appendUint(b, uint64(f.Input.Format))
	b = append(b, `,"value":`...)
	b = appendUint(b, uint64(f.Input.Value))
	b = append(b, `},"output":{"format":`...)
	b = appendUint(b, uint64(f.Output.Format))
	if r, ok := f.Output.Discarded(); ok {
		b = append(b, `,"discard_reason":`...)
		b = appendUint(b, uint64(r))
	} else if n, ok := f.Output.Multiple(); ok {
		b = append(b, `,"count":`...)
		b = appendUint(b, uint64(n))
	} else {
		b = append(b, `,"value":`...)
		b = appendUint(b, uint64(f.Output.Value))
	}
	b = append(b, '}')
	b = append(b, `,"frame_length":`...)
	b = appendUint(b, uint64(frameLength))
	if f.Has(sflow.HasRawHeader) {
		h := &f.RawHeader
		b = append(b, `,"header":{"protocol":`...)
		b = appendUint(b, uint64(h.Protocol))
		b = append(b, `,"frame_length":`...)
		b = appendUint(b, uint64(h.FrameLength))
		b = append(b, `,"stripped":`...)
		b = appendUint(b, uint64(h.Stripped))
		b = append(b, `,"size":`...)
		b = appendUint(b, uint64(h.HeaderSize))
		if h.MPLSLabels > 0 {
			b = append(b, `,"mpls":{"labels":`...)
			b = appendUint(b, uint64(h.MPLSLabels))
			b = append(b, `,"top_label":`...)
			b = appendUint(b, uint64(h.MPLSTopLabel))
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	if e.HasProto {
		b = append(b, `,"ip":{"tos":`...)
		b = appendUint(b, uint64(e.TOS))
		b = append(b, `,"dscp":`...)
		b = appendUint(b, uint64(e.TOS>>2))
		b = append(b, `,"ecn":`...)
		b = appendUint(b, uint64(e.TOS&3))
		if e.HasTTL {
			b = append(b, `,"ttl":`...)
			b = appendUint(b, uint64(e.TTL))
		}
		b = append(b, '}')
		if e.Proto == 6 {
			b = append(b, `,"tcp_flags":`...)
			b = appendUint(b, uint64(e.TCPFlags))
		}
	}
	if f.Has(sflow.HasRouter) {
		r := &f.Router
		b = append(b, `,"router":{`...)
		if r.NextHop.IsValid() {
			b = append(b, `"next_hop":`...)
			b = appendIP(b, r.NextHop)
			b = append(b, ',')
		}
		b = append(b, `"src_mask":`...)
		b = appendUint(b, uint64(r.SrcMaskLen))
		b = append(b, `,"dst_mask":`...)
		b = appendUint(b, uint64(r.DstMaskLen))
		b = append(b, '}')
	}
	if f.Has(sflow.HasGateway) {
		b = append(b, `,"gateway":{`...)
		if g.NextHop.IsValid() {
			b = append(b, `"next_hop":`...)
			b = appendIP(b, g.NextHop)
			b = append(b, ',')
		}
		b = append(b, `"as":`...)
		b = appendUint(b, uint64(g.AS))
		b = append(b, `,"src_as":`...)
		b = appendUint(b, uint64(g.SrcAS))
		b = append(b, `,"src_peer_as":`...)
		b = appendUint(b, uint64(g.SrcPeerAS))
		b = append(b, `,"as_path":[`...)
		first := true
		for _, seg := range g.ASPath {
			for _, asn := range seg.ASNs {
				if !first {
					b = append(b, ',')
				}
				first = false
				b = appendUint(b, uint64(asn))
			}
		}
		b = append(b, `],"communities":[`...)
		for i, c := range g.Communities {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = appendUint(b, uint64(c>>16))
			b = append(b, ':')
			b = appendUint(b, uint64(c&0xffff))
			b = append(b, '"')
		}
		b = append(b, `],"local_pref":`...)
		b = appendUint(b, uint64(g.LocalPref))
		b = append(b, '}')
	}
	b = appendTunnel(b, f)
	b = appendRecords(b, f.Records)
	b = append(b, '}')

	// network.*, left open for the tail.
	b = append(b, `,"network":{"packets":`...)
	b = appendUint(b, packets)
	b = append(b, `,"bytes":`...)
	b = appendUint(b, bytes)
	return appendNetwork(b, &e)
}

// AppendDiscardBody appends the common part of the document for discarded
// packet sample ds (an element of dg.Discards; sFlow drops extension): who
// sent the dropped packet to whom, where (observer.ingress/egress) and why
// (sflow.discard.reason and reason_name). The body is left open inside the
// "network" object: finish it with AppendFlowTail.
func AppendDiscardBody(b []byte, dg *sflow.Datagram, ds *sflow.DiscardSample, m *Meta) []byte {
	e := FlowEndpoints(&ds.FlowData)
	b = appendEvent(b, "event", "denied", DatasetDiscards, m)
	b = appendObserver(b, dg, sflow.Interface{Value: ds.Input}, sflow.Interface{Value: ds.Output}, 0, 0)
	b = appendEndpoints(b, &ds.FlowData, &e, 0, 0, endpointNAT{}, endpointNAT{})
	b = appendSflowHead(b, dg, "discard", ds.Sequence, ds.SourceIDType, ds.SourceIDIndex)
	b = append(b, `,"drops":`...)
	b = appendUint(b, uint64(ds.Drops))
	b = append(b, `,"discard":{"reason":`...)
	b = appendUint(b, uint64(ds.Reason))
	b = append(b, `,"reason_name":"`...)
	b = append(b, DiscardReasonName(ds.Reason)...)
	b = append(b, `"}`...)
	if ds.Has(sflow.HasRawHeader) {
		b = append(b, `,"frame_length":`...)
		b = appendUint(b, uint64(ds.RawHeader.FrameLength))
	}
	b = appendRecords(b, ds.Records)
	b = append(b, '}')
	b = append(b, `,"network":{"packets":1`...)
	return appendNetwork(b, &e)
}

// DiscardReasonName names a drops-extension reason code
// (sflow.org/sflow_drops.txt): ICMP unreachable codes below 256, then
// elk's snake_case names of the extension's reasons.
func DiscardReasonName(r uint32) string {
	if r < 256 {
		if int(r) < len(icmpUnreachable) {
			return icmpUnreachable[r]
		}
		return "icmp_unreachable"
	}
	if int(r-256) < len(dropReasons) {
		return dropReasons[r-256]
	}
	return "other"
}

var icmpUnreachable = [...]string{"net_unreachable", "host_unreachable", "protocol_unreachable", "port_unreachable",
	"frag_needed", "src_route_failed", "dst_net_unknown", "dst_host_unknown", "src_host_isolated", "dst_net_prohibited",
	"dst_host_prohibited", "dst_net_tos_unreachable", "dst_host_tos_unreachable", "comm_prohibited",
	"host_precedence_violation", "precedence_cutoff"}

// dropReasons are the extension's reasons from 256 on.
var dropReasons = [...]string{"unknown", "ttl_exceeded", "acl", "no_buffer_space", "red", "traffic_shaping",
	"pkt_too_big", "src_mac_is_multicast", "vlan_tag_mismatch", "ingress_vlan_filter", "ingress_spanning_tree_filter",
	"port_list_is_empty", "port_loopback_filter", "blackhole_route", "non_ip", "uc_dip_over_mc_dmac",
	"dip_is_loopback_address", "sip_is_mc", "sip_is_loopback_address", "ip_header_corrupted", "ipv4_sip_is_limited_bc",
	"ipv6_mc_dip_reserved_scope", "ipv6_mc_dip_interface_local_scope", "unresolved_neigh", "mc_reverse_path_forwarding",
	"non_routable_packet", "decap_error", "overlay_smac_is_mc", "unknown_l2", "unknown_l3"}

// appendRecords appends sflow.records, the formats of a sample's records.
func appendRecords(b []byte, recs []sflow.DataFormat) []byte {
	b = append(b, `,"records":[`...)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFormat(b, r)
	}
	return append(b, ']')
}

// appendEndpoints appends source, destination (with MACs from the sampled
// frame) and related.ip.
func appendEndpoints(b []byte, f *sflow.FlowData, e *Endpoints, srcAS, dstAS uint32, srcNAT, dstNAT endpointNAT) []byte {
	var srcMAC, dstMAC sflow.MAC
	hasMAC := false
	if f.Has(sflow.HasRawHeader) && f.RawHeader.Parsed&sflow.LayerEthernet != 0 {
		srcMAC, dstMAC, hasMAC = f.RawHeader.SrcMAC, f.RawHeader.DstMAC, true
	} else if f.Has(sflow.HasEthernet) {
		srcMAC, dstMAC, hasMAC = f.Ethernet.SrcMAC, f.Ethernet.DstMAC, true
	}
	b = appendEndpoint(b, "source", e.Src, e.SrcPort, e.HasPorts, srcMAC, hasMAC, srcAS, srcNAT)
	b = appendEndpoint(b, "destination", e.Dst, e.DstPort, e.HasPorts, dstMAC, hasMAC, dstAS, dstNAT)
	if e.Src.IsValid() || e.Dst.IsValid() {
		b = append(b, `,"related":{"ip":[`...)
		if e.Src.IsValid() {
			b = appendIP(b, e.Src)
		}
		if e.Dst.IsValid() && e.Dst != e.Src {
			if e.Src.IsValid() {
				b = append(b, ',')
			}
			b = appendIP(b, e.Dst)
		}
		b = append(b, "]}"...)
	}
	return b
}

// appendNetwork continues the open network object with the packet's type,
// transport, community id and VLANs.
func appendNetwork(b []byte, e *Endpoints) []byte {
	if e.Src.IsValid() {
		if e.Src.Unmap().Is4() {
			b = append(b, `,"type":"ipv4"`...)
		} else {
			b = append(b, `,"type":"ipv6"`...)
		}
	}
	if e.HasProto {
		if t := transport(e.Proto); t != "" {
			b = append(b, `,"transport":"`...)
			b = append(b, t...)
			b = append(b, '"')
		}
		b = append(b, `,"iana_number":`...)
		b = appendQuotedUint(b, uint64(e.Proto))
		if id, ok := appendCommunityID(nil, e); ok {
			b = append(b, `,"community_id":"`...)
			b = append(b, id[:]...)
			b = append(b, '"')
		}
	}
	if e.VLAN != 0 {
		b = append(b, `,"vlan":{"id":`...)
		b = appendQuotedUint(b, uint64(e.VLAN))
		b = append(b, '}')
		if e.InnerVLAN != 0 {
			b = append(b, `,"inner":{"vlan":{"id":`...)
			b = appendQuotedUint(b, uint64(e.InnerVLAN))
			b = append(b, "}}"...)
		}
	}
	return b
}

// Directions of a flow relative to a tenant's networks (network.direction).
const (
	DirectionNone     = ""
	DirectionInbound  = "inbound"
	DirectionOutbound = "outbound"
	DirectionInternal = "internal"
)

// AppendFlowTail closes a flow body. For a tenant copy it adds
// network.direction (when known) and organization.id.
func AppendFlowTail(b []byte, tenant, direction string) []byte {
	if direction != "" {
		b = append(b, `,"direction":"`...)
		b = append(b, direction...)
		b = append(b, '"')
	}
	b = append(b, '}')
	if tenant != "" {
		b = append(b, `,"organization":{"id":`...)
		b = appendString(b, tenant)
		b = append(b, '}')
	}
	return append(b, '}')
}

// AppendCounterTail closes a counter body, adding organization.id for a
// tenant copy.
func AppendCounterTail(b []byte, tenant string) []byte {
	if tenant != "" {
		b = append(b, `,"organization":{"id":`...)
		b = appendString(b, tenant)
		b = append(b, '}')
	}
	return append(b, '}')
}
