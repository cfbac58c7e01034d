package sflow

// AppendDatagram appends dg encoded as an sFlow v5 datagram to dst and
// returns the extended slice.
//
// Flow samples are written as 0:3 (expanded) when Expanded is set, else as
// 0:1; counter samples likewise as 0:4 or 0:2. Within a sample the records
// named by Present are written in a fixed order (raw header, Ethernet, IPv4,
// IPv6, switch, router, gateway; generic, Ethernet, VLAN, processor);
// Records and Unknown are ignored. A raw header record writes Protocol,
// FrameLength, Stripped and the Header bytes (HeaderSize is taken from
// len(Header)); the parsed fields are not used; build Header with
// AppendFrame. An invalid AgentAddr is sent as address type 0 (unknown).
func AppendDatagram(dst []byte, dg *Datagram) []byte {
	return dst
}
