// Package sflow decodes and encodes sFlow version 5 datagrams.
//
// The decoder turns one UDP payload into a Datagram without allocating in
// steady state: a Datagram and its slices are reused from one call to the
// next (Decoder.Decode resets it first). Every sample and record is read by
// its declared length, so structures extended at their end still decode and
// unknown ones are skipped and counted in Datagram.Unknown; a datagram is
// never rejected for containing one. Every count read from the wire is
// checked against the bytes that remain before anything is sized from it:
// no wire count is trusted, so memory stays proportional to the datagram
// (the decoded structures of the densest possible datagram take about 15
// bytes per datagram byte, allocated once and then reused), and hostile
// input can neither make the decoder loop nor panic.
// Malformed input yields a *DecodeError whose Reason is a stable snake_case
// string suitable as a metric label.
//
// AppendDatagram encodes the same model back into a valid sFlow v5 datagram;
// the synthetic agent and the tests use it.
//
// Reference: the sFlow version 5 specification (sflow.org/sflow_version_5.txt)
// and the packet drops extension (sflow.org/sflow_drops.txt).
package sflow

import (
	"net/netip"
	"strconv"
)

// Version is the only sFlow datagram version this package decodes.
const Version = 5

// DataFormat is an sFlow data_format word: enterprise<<12 | format. It names
// sample types and record types.
type DataFormat uint32

// MakeFormat builds a DataFormat from its enterprise and format numbers.
func MakeFormat(enterprise, format uint32) DataFormat {
	return DataFormat(enterprise<<12 | format&0xfff)
}

// Enterprise returns the 20-bit enterprise number (0 for the standard).
func (f DataFormat) Enterprise() uint32 { return uint32(f) >> 12 }

// Format returns the 12-bit format number within the enterprise.
func (f DataFormat) Format() uint32 { return uint32(f) & 0xfff }

// String renders the format as "enterprise:format", e.g. "0:1001".
func (f DataFormat) String() string {
	return strconv.FormatUint(uint64(f.Enterprise()), 10) + ":" + strconv.FormatUint(uint64(f.Format()), 10)
}

// Standard sample types (enterprise 0).
const (
	SampleFlow             DataFormat = 1 // 0:1 flow sample, compact source id
	SampleCounter          DataFormat = 2 // 0:2 counter sample, compact source id
	SampleFlowExpanded     DataFormat = 3 // 0:3 expanded flow sample
	SampleCounterExpanded  DataFormat = 4 // 0:4 expanded counter sample
	SampleDiscardedPackets DataFormat = 5 // 0:5 discarded packet sample (drops extension)
)

// Standard flow record types (enterprise 0).
const (
	FlowRawHeader       DataFormat = 1    // 0:1 sampled packet header
	FlowEthernet        DataFormat = 2    // 0:2 Ethernet frame data
	FlowIPv4            DataFormat = 3    // 0:3 IPv4 data
	FlowIPv6            DataFormat = 4    // 0:4 IPv6 data
	FlowExtendedSwitch  DataFormat = 1001 // 0:1001 extended switch data
	FlowExtendedRouter  DataFormat = 1002 // 0:1002 extended router data
	FlowExtendedGateway DataFormat = 1003 // 0:1003 extended gateway data

	FlowExtendedNAT     DataFormat = 1007 // 0:1007 extended NAT (translated addresses)
	FlowExtendedNATPort DataFormat = 1020 // 0:1020 extended NAT port (translated ports)
	// Tunnel structures (sflow.org/sflow_tunnels.txt): the outer headers a
	// packet gets (egress) or had (ingress), decapsulation offsets and VNIs.
	FlowL2TunnelEgress    DataFormat = 1021 // 0:1021 sampled_ethernet
	FlowL2TunnelIngress   DataFormat = 1022 // 0:1022 sampled_ethernet
	FlowIPv4TunnelEgress  DataFormat = 1023 // 0:1023 sampled_ipv4
	FlowIPv4TunnelIngress DataFormat = 1024 // 0:1024 sampled_ipv4
	FlowIPv6TunnelEgress  DataFormat = 1025 // 0:1025 sampled_ipv6
	FlowIPv6TunnelIngress DataFormat = 1026 // 0:1026 sampled_ipv6
	FlowDecapEgress       DataFormat = 1027 // 0:1027 inner header offset
	FlowDecapIngress      DataFormat = 1028 // 0:1028 inner header offset
	FlowVNIEgress         DataFormat = 1029 // 0:1029 virtual network id
	FlowVNIIngress        DataFormat = 1030 // 0:1030 virtual network id
)

// Standard counter record types (enterprise 0).
const (
	CounterGenericInterface  DataFormat = 1    // 0:1 generic interface counters
	CounterEthernetInterface DataFormat = 2    // 0:2 Ethernet (dot3) counters
	CounterVLAN              DataFormat = 5    // 0:5 VLAN counters
	CounterProcessor         DataFormat = 1001 // 0:1001 processor counters
	// Host sFlow (sflow.org/sflow_host.txt), sent by hsflowd and
	// hypervisors about the host itself.
	CounterHostCPU    DataFormat = 2003 // 0:2003 host CPU
	CounterHostMemory DataFormat = 2004 // 0:2004 host memory
	CounterHostDiskIO DataFormat = 2005 // 0:2005 host disk I/O
	CounterHostNetIO  DataFormat = 2006 // 0:2006 host network I/O
)

// Header protocols of a raw packet header record (0:1) that the decoder
// parses. Other protocols are kept as raw bytes only.
const (
	HeaderEthernet uint32 = 1  // ETHERNET-ISO8023
	HeaderIPv4     uint32 = 11 // IPv4
	HeaderIPv6     uint32 = 12 // IPv6
	HeaderMPLS     uint32 = 13 // MPLS
)

// Unknown32 and Unknown64 are the values an agent sends for a counter it does
// not know ("all ones"). Use Known32/Known64 to tell them from real values.
const (
	Unknown32 uint32 = 0xFFFFFFFF
	Unknown64 uint64 = 0xFFFFFFFFFFFFFFFF
)

// Known32 returns v and whether it is a real counter value (not all ones).
func Known32(v uint32) (uint32, bool) { return v, v != Unknown32 }

// Known64 returns v and whether it is a real counter value (not all ones).
func Known64(v uint64) (uint64, bool) { return v, v != Unknown64 }

// Datagram is one decoded sFlow v5 datagram. Decoder.Decode fills it in
// place and reuses its slices (and the slices inside their elements), so a
// caller that keeps data beyond the next Decode must copy it.
type Datagram struct {
	// AgentAddr is the agent's address; invalid (the zero Addr) when the
	// agent sent address type 0 (unknown).
	AgentAddr  netip.Addr
	SubAgentID uint32
	// Sequence is the datagram sequence number per agent and sub-agent.
	Sequence uint32
	// UptimeMS is the agent's uptime in milliseconds (wraps).
	UptimeMS uint32
	// NumSamples is the sample count the datagram declared.
	NumSamples uint32

	// Flows holds flow samples 0:1 and 0:3, in wire order.
	Flows []FlowSample
	// Counters holds counter samples 0:2 and 0:4, in wire order.
	Counters []CounterSample
	// Discards holds discarded packet samples 0:5, in wire order.
	Discards []DiscardSample

	// Unknown counts the structures skipped because their type is unknown,
	// one entry per (kind, enterprise, format), in order of first sight.
	Unknown []UnknownCount
}

// Reset empties the datagram but keeps the capacity of its slices.
func (dg *Datagram) Reset() {
	dg.AgentAddr = netip.Addr{}
	dg.SubAgentID, dg.Sequence, dg.UptimeMS, dg.NumSamples = 0, 0, 0, 0
	dg.Flows = dg.Flows[:0]
	dg.Counters = dg.Counters[:0]
	dg.Discards = dg.Discards[:0]
	dg.Unknown = dg.Unknown[:0]
}

// UnknownTotal returns how many unknown structures were skipped in total.
func (dg *Datagram) UnknownTotal() int {
	n := 0
	for _, u := range dg.Unknown {
		n += u.Count
	}
	return n
}

// StructureKind says where an unknown structure was found.
type StructureKind uint8

// Kinds of structures that can be unknown.
const (
	KindSample        StructureKind = iota + 1 // a sample in the datagram
	KindFlowRecord                             // a record in a flow or discard sample
	KindCounterRecord                          // a record in a counter sample
)

// String returns the kind as a stable snake_case label.
func (k StructureKind) String() string {
	switch k {
	case KindSample:
		return "sample"
	case KindFlowRecord:
		return "flow_record"
	case KindCounterRecord:
		return "counter_record"
	}
	return "unknown"
}

// UnknownCount counts skipped structures of one type.
type UnknownCount struct {
	Kind   StructureKind
	Format DataFormat // enterprise and format of the skipped structure
	Count  int
}

// Interface is an interface word of a flow sample (input or output),
// decoded per the sFlow v5 spec. In a compact flow sample (0:1) the top two
// bits of the 32-bit word are the format and the low 30 bits the value; an
// expanded flow sample (0:3) carries format and value in separate words.
type Interface struct {
	// Format: InterfaceIndex, InterfaceDiscarded or InterfaceMultiple.
	Format uint32
	// Value: the ifIndex (0 unknown, IfIndexInternal = the device itself),
	// the discard reason, or the number of output interfaces (0 unknown).
	Value uint32
}

// Interface formats.
const (
	InterfaceIndex     uint32 = 0 // Value is an ifIndex
	InterfaceDiscarded uint32 = 1 // packet discarded, Value is a DiscardReason
	InterfaceMultiple  uint32 = 2 // multiple output interfaces, Value is their count
)

// IfIndexInternal is the ifIndex value meaning "the device itself" in a
// compact interface word (0x3FFFFFFF).
const IfIndexInternal uint32 = 0x3FFFFFFF

// IfIndex returns the ifIndex when the word names one interface.
func (i Interface) IfIndex() (uint32, bool) { return i.Value, i.Format == InterfaceIndex }

// Discarded returns the discard reason when the packet was discarded.
func (i Interface) Discarded() (uint32, bool) { return i.Value, i.Format == InterfaceDiscarded }

// Multiple returns the number of output interfaces (0 unknown) when the
// packet went out of several.
func (i Interface) Multiple() (uint32, bool) { return i.Value, i.Format == InterfaceMultiple }

// Discard reasons (sFlow v5 interface word and drops extension). Values
// 0–255 are ICMP destination unreachable codes.
const (
	DiscardUnknown      uint32 = 256
	DiscardTTLExceeded  uint32 = 257
	DiscardACL          uint32 = 258
	DiscardNoBuffer     uint32 = 259
	DiscardRED          uint32 = 260
	DiscardTrafficShape uint32 = 261
	DiscardTooBig       uint32 = 262
)

// Source id types (data source classes).
const (
	SourceIfIndex     uint32 = 0
	SourceSMONVLAN    uint32 = 1
	SourceEntPhysical uint32 = 2
)

// FlowRecords is a set of standard flow record types present in a sample.
type FlowRecords uint32

// Flow record presence bits.
const (
	HasRawHeader FlowRecords = 1 << iota
	HasEthernet
	HasIPv4
	HasIPv6
	HasSwitch
	HasRouter
	HasGateway
	HasNAT
	HasNATPort
	HasL2TunnelEgress
	HasL2TunnelIngress
	HasIPv4TunnelEgress
	HasIPv4TunnelIngress
	HasIPv6TunnelEgress
	HasIPv6TunnelIngress
	HasDecapEgress
	HasDecapIngress
	HasVNIEgress
	HasVNIIngress
)

// FlowSample is a flow sample (0:1 compact or 0:3 expanded; both are
// stored in expanded form) with its records.
type FlowSample struct {
	// Expanded is true for a 0:3 sample, false for 0:1.
	Expanded      bool
	Sequence      uint32
	SourceIDType  uint32 // data source class, e.g. SourceIfIndex
	SourceIDIndex uint32 // data source index, e.g. the ifIndex
	SamplingRate  uint32
	SamplePool    uint32
	Drops         uint32
	Input         Interface
	Output        Interface

	FlowData
}

// FlowData holds the flow records of a flow sample or a discarded packet
// sample. A record type that appears twice keeps the later one; Records
// lists every record in wire order.
type FlowData struct {
	// Records lists the data format of every record in wire order,
	// including unknown ones.
	Records []DataFormat
	// Present says which of the fields below hold a decoded record.
	Present FlowRecords

	RawHeader RawHeader       // 0:1
	Ethernet  EthernetFrame   // 0:2
	IPv4      IPData          // 0:3
	IPv6      IPData          // 0:4
	Switch    ExtendedSwitch  // 0:1001
	Router    ExtendedRouter  // 0:1002
	Gateway   ExtendedGateway // 0:1003
	NATPort   ExtendedNATPort // 0:1020
	Tunnel    TunnelIDs       // 0:1027–0:1030
	// Ext holds the NAT addresses and outer tunnel headers (0:1007,
	// 0:1021–0:1026). It is allocated the first time such a record is
	// decoded into this sample and reused afterwards, so a sample without
	// them stays small; Present says which of its fields are valid.
	Ext *FlowExtensions
}

// FlowExtensions are the bulkier, less common flow records.
type FlowExtensions struct {
	NAT     ExtendedNAT   // 0:1007
	Egress  TunnelHeaders // 0:1021, 0:1023, 0:1025
	Ingress TunnelHeaders // 0:1022, 0:1024, 0:1026
}

// ExtendedNAT is the extended NAT record (0:1007): the packet's addresses
// after translation.
type ExtendedNAT struct {
	Src, Dst netip.Addr
}

// ExtendedNATPort is the extended NAT port record (0:1020): the packet's
// layer 4 ports after translation.
type ExtendedNATPort struct {
	SrcPort, DstPort uint32
}

// TunnelHeaders are the outer headers of one side of a packet's path
// (sflow.org/sflow_tunnels.txt): Egress is the encapsulation the packet
// gets on the way out, Ingress the one it had on the way in.
type TunnelHeaders struct {
	Ethernet EthernetFrame // outer Ethernet header (L2 tunnel)
	// IP is the outer IPv4 (HasIPv4Tunnel*) or IPv6 (HasIPv6Tunnel*) header;
	// a side with both keeps the later record.
	IP IPData
}

// TunnelIDs are the scalar tunnel records.
type TunnelIDs struct {
	// EgressVNI and IngressVNI are virtual network identifiers (VXLAN,
	// Geneve, NVGRE) of the packet's encapsulation out and in.
	EgressVNI, IngressVNI uint32 // 0:1029, 0:1030
	// The decapsulation records give the offset of the inner header in the
	// sampled header.
	EgressDecapOffset, IngressDecapOffset uint32 // 0:1027, 0:1028
}

// Has reports whether every record type in r is present.
func (f *FlowData) Has(r FlowRecords) bool { return f.Present&r == r }

// MAC is an Ethernet address.
type MAC [6]byte

// String renders the address as aa:bb:cc:dd:ee:ff.
func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var b [17]byte
	for i, v := range m {
		if i > 0 {
			b[i*3-1] = ':'
		}
		b[i*3] = hex[v>>4]
		b[i*3+1] = hex[v&0xf]
	}
	return string(b[:])
}

// Network layer types found in a sampled header.
const (
	NetworkNone uint8 = 0
	NetworkIPv4 uint8 = 4
	NetworkIPv6 uint8 = 6
)

// RawHeader is a sampled packet header record (0:1): the record fields, a
// copy of the header bytes, and the fields parsed from those bytes.
// Parsing stops quietly where the header bytes end; Parsed says which layers
// were read completely.
type RawHeader struct {
	Protocol    uint32 // header_protocol, e.g. HeaderEthernet
	FrameLength uint32 // original frame length (layer 2, incl. FCS)
	Stripped    uint32 // bytes removed from the frame before sampling
	HeaderSize  uint32 // header_length as sent
	// Header is a copy of the sampled header bytes (owned by the Datagram).
	Header []byte

	// Parsed says which layers were decoded from Header.
	Parsed Layers

	SrcMAC, DstMAC MAC
	// VLAN is the outer 802.1Q/802.1ad VLAN id, InnerVLAN the inner one of
	// a QinQ frame; VLANs counts the tags seen (0 when untagged).
	VLAN, InnerVLAN uint16
	VLANs           uint8
	// MPLSLabels is the depth of the MPLS label stack; MPLSTopLabel the
	// outermost label (20 bits).
	MPLSLabels   uint8
	MPLSTopLabel uint32
	// EtherType is the final EtherType after VLAN tags (0x8847 for MPLS).
	EtherType uint16

	Network        uint8 // NetworkNone, NetworkIPv4 or NetworkIPv6
	SrcIP, DstIP   netip.Addr
	IPProto        uint8  // IPv4 protocol or IPv6 final next header
	TOS            uint8  // IPv4 TOS or IPv6 traffic class
	TTL            uint8  // IPv4 TTL or IPv6 hop limit
	IPLength       uint16 // IPv4 total length or IPv6 payload length + 40
	FlowLabel      uint32 // IPv6 flow label
	FragmentOffset uint16 // IPv4/IPv6 fragment offset in 8-byte units
	MoreFragments  bool

	SrcPort, DstPort uint16 // TCP/UDP ports
	TCPFlags         uint8  // TCP flags (FIN=0x01 ... CWR=0x80)
	ICMPType         uint8  // ICMP or ICMPv6 type
	ICMPCode         uint8  // ICMP or ICMPv6 code
}

// Layers is a set of protocol layers parsed from a sampled header.
type Layers uint8

// Layer bits.
const (
	LayerEthernet Layers = 1 << iota // MACs and EtherType
	LayerVLAN                        // at least one 802.1Q/802.1ad tag
	LayerMPLS                        // an MPLS label stack
	LayerIPv4
	LayerIPv6
	LayerTCP
	LayerUDP
	LayerICMP // ICMP or ICMPv6
)

// EthernetFrame is the Ethernet frame data record (0:2).
type EthernetFrame struct {
	Length uint32 // frame length as the agent reports it
	SrcMAC MAC
	DstMAC MAC
	Type   uint32 // EtherType
}

// IPData is the IPv4 (0:3) or IPv6 (0:4) data record. Length is the IP
// packet length. For IPv4 TOSOrPriority is the TOS byte, for IPv6 the
// priority (traffic class).
type IPData struct {
	Length        uint32
	Protocol      uint32
	SrcIP, DstIP  netip.Addr
	SrcPort       uint32
	DstPort       uint32
	TCPFlags      uint32
	TOSOrPriority uint32
}

// ExtendedSwitch is the extended switch record (0:1001).
type ExtendedSwitch struct {
	SrcVLAN, SrcPriority uint32
	DstVLAN, DstPriority uint32
}

// ExtendedRouter is the extended router record (0:1002).
type ExtendedRouter struct {
	NextHop    netip.Addr
	SrcMaskLen uint32
	DstMaskLen uint32
}

// ExtendedGateway is the extended gateway record (0:1003). Its slices are
// reused between decodes.
type ExtendedGateway struct {
	NextHop   netip.Addr
	AS        uint32 // this router's AS
	SrcAS     uint32
	SrcPeerAS uint32
	// ASPath is the destination AS path, one entry per segment.
	ASPath      []ASPathSegment
	Communities []uint32
	LocalPref   uint32
}

// AS path segment types.
const (
	ASSet      uint32 = 1
	ASSequence uint32 = 2
)

// ASPathSegment is one segment of a BGP AS path.
type ASPathSegment struct {
	Type uint32 // ASSet or ASSequence
	ASNs []uint32
}

// CounterRecords is a set of standard counter record types present in a
// counter sample.
type CounterRecords uint8

// Counter record presence bits.
const (
	HasGenericInterface CounterRecords = 1 << iota
	HasEthernetInterface
	HasVLAN
	HasProcessor
	HasHostCPU
	HasHostMemory
	HasHostDiskIO
	HasHostNetIO
)

// CounterSample is a counter sample (0:2 compact or 0:4 expanded) with its
// standard records. A record type that appears twice keeps the later one.
type CounterSample struct {
	Expanded      bool
	Sequence      uint32
	SourceIDType  uint32
	SourceIDIndex uint32

	// Records lists the data format of every record in wire order,
	// including unknown ones.
	Records []DataFormat
	// Present says which of the fields below hold a decoded record.
	Present CounterRecords

	Generic   GenericInterfaceCounters  // 0:1
	Ethernet  EthernetInterfaceCounters // 0:2
	VLAN      VLANCounters              // 0:5
	Processor ProcessorCounters         // 0:1001
	// Host holds the host records (0:2003–0:2006). It is allocated the
	// first time one is decoded into this sample slot and reused; Present
	// says which of its fields are valid.
	Host *HostCounters
}

// HostCounters are the host sFlow counter records.
type HostCounters struct {
	CPU    HostCPU    // 0:2003
	Memory HostMemory // 0:2004
	Disk   HostDiskIO // 0:2005
	Net    HostNetIO  // 0:2006
}

// HostCPU is the host CPU record (0:2003). Times are in milliseconds since
// boot; Steal, Guest and GuestNice come in the record's longer version
// (HasVirtTimes).
type HostCPU struct {
	LoadOne, LoadFive, LoadFifteen float32
	ProcRun, ProcTotal             uint32
	CPUNum                         uint32
	SpeedMHz                       uint32
	UptimeS                        uint32
	User, Nice, System, Idle       uint32
	WaitIO, Intr, SoftIntr         uint32
	Interrupts, Contexts           uint32
	HasVirtTimes                   bool
	Steal, Guest, GuestNice        uint32
}

// HostMemory is the host memory record (0:2004), in bytes; the paging
// and swapping counters count pages.
type HostMemory struct {
	Total, Free, Shared, Buffers, Cached uint64
	SwapTotal, SwapFree                  uint64
	PageIn, PageOut, SwapIn, SwapOut     uint32
}

// HostDiskIO is the host disk I/O record (0:2005). PartMaxUsed is the
// fullest partition's use in hundredths of a percent; times are in ms.
type HostDiskIO struct {
	Total, Free       uint64
	PartMaxUsed       uint32
	Reads, ReadTime   uint32
	BytesRead         uint64
	Writes, WriteTime uint32
	BytesWritten      uint64
}

// HostNetIO is the host network I/O record (0:2006), summed over the
// host's interfaces.
type HostNetIO struct {
	BytesIn                    uint64
	PktsIn, ErrsIn, DropsIn    uint32
	BytesOut                   uint64
	PktsOut, ErrsOut, DropsOut uint32
}

// Has reports whether every record type in r is present.
func (c *CounterSample) Has(r CounterRecords) bool { return c.Present&r == r }

// GenericInterfaceCounters is the generic interface counters record (0:1).
// Counters the agent does not know are Unknown32/Unknown64.
type GenericInterfaceCounters struct {
	IfIndex          uint32
	IfType           uint32
	IfSpeed          uint64 // bits per second, 0 unknown
	IfDirection      uint32 // 0 unknown, 1 full duplex, 2 half, 3 in, 4 out
	IfStatus         uint32 // bit 0 admin up, bit 1 oper up
	InOctets         uint64
	InUcastPkts      uint32
	InMulticastPkts  uint32
	InBroadcastPkts  uint32
	InDiscards       uint32
	InErrors         uint32
	InUnknownProtos  uint32
	OutOctets        uint64
	OutUcastPkts     uint32
	OutMulticastPkts uint32
	OutBroadcastPkts uint32
	OutDiscards      uint32
	OutErrors        uint32
	PromiscuousMode  uint32
}

// EthernetInterfaceCounters is the Ethernet interface counters record (0:2,
// dot3 statistics). Unknown counters are Unknown32.
type EthernetInterfaceCounters struct {
	AlignmentErrors           uint32
	FCSErrors                 uint32
	SingleCollisionFrames     uint32
	MultipleCollisionFrames   uint32
	SQETestErrors             uint32
	DeferredTransmissions     uint32
	LateCollisions            uint32
	ExcessiveCollisions       uint32
	InternalMacTransmitErrors uint32
	CarrierSenseErrors        uint32
	FrameTooLongs             uint32
	InternalMacReceiveErrors  uint32
	SymbolErrors              uint32
}

// VLANCounters is the VLAN counters record (0:5).
type VLANCounters struct {
	VLANID        uint32
	Octets        uint64
	UcastPkts     uint32
	MulticastPkts uint32
	BroadcastPkts uint32
	Discards      uint32
}

// ProcessorCounters is the processor counters record (0:1001). CPU loads
// are in hundredths of a percent (percentage_100).
type ProcessorCounters struct {
	CPU5s       uint32
	CPU1m       uint32
	CPU5m       uint32
	TotalMemory uint64 // bytes
	FreeMemory  uint64 // bytes
}

// DiscardSample is a discarded packet sample (0:5, drops extension) with its
// flow records (typically a raw header).
type DiscardSample struct {
	Sequence      uint32
	SourceIDType  uint32
	SourceIDIndex uint32
	Drops         uint32 // packets dropped because of resource limits
	Input         uint32 // input ifIndex, 0 unknown
	Output        uint32 // output ifIndex, 0 unknown
	Reason        uint32 // drop reason, e.g. DiscardACL
	FlowData
}
