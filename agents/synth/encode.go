package synth

import (
	"encoding/binary"
	"net/netip"
)

// sFlow v5 structure formats (enterprise 0) written by the agent.
const (
	fmtFlowSample            = 1
	fmtCounterSample         = 2
	fmtExpandedFlowSample    = 3
	fmtExpandedCounterSample = 4

	fmtRawHeader      = 1
	fmtExtendedSwitch = 1001

	fmtGenericInterface = 1
	fmtEthernet         = 2

	headerProtocolEthernet = 1

	genericInterfaceLen = 88
	ethernetLen         = 52
)

func pad4(n int) int { return (n + 3) &^ 3 }

func datagramHeaderSize(agent netip.Addr) int {
	if agent.Is4() {
		return 7*4 + 4
	}
	return 7*4 + 16
}

func headerLen(fs *flowSample) int {
	return min(fs.frameLen-fcsLen, maxHeaderSize)
}

func flowSampleSize(fs *flowSample) int {
	n := 8 + 8*4
	if fs.ds.expanded {
		n = 8 + 11*4
	}
	n += 8 + 4*4 + pad4(headerLen(fs))
	if fs.flow.vlan != 0 {
		n += 8 + 4*4
	}
	return n
}

func counterSampleSize(cs *counterSample) int {
	n := 8 + 3*4
	if cs.ds.expanded {
		n = 8 + 4*4
	}
	return n + 8 + genericInterfaceLen + 8 + ethernetLen
}

type xdr struct{ b []byte }

func (x *xdr) u32(v uint32) { x.b = binary.BigEndian.AppendUint32(x.b, v) }
func (x *xdr) u64(v uint64) { x.b = binary.BigEndian.AppendUint64(x.b, v) }

// open starts an opaque structure with its format and a length to patch.
func (x *xdr) open(format uint32) int {
	x.u32(format)
	x.u32(0)
	return len(x.b)
}

// close patches the length of the structure opened at start.
func (x *xdr) close(start int) {
	binary.BigEndian.PutUint32(x.b[start-4:], uint32(len(x.b)-start))
}

// encodeDatagram appends the source's open datagram to dst as sFlow v5.
func encodeDatagram(dst []byte, src *source, uptime uint32) []byte {
	x := xdr{b: dst}
	x.u32(5)
	if src.agent.Is4() {
		x.u32(1)
		a := src.agent.As4()
		x.b = append(x.b, a[:]...)
	} else {
		x.u32(2)
		a := src.agent.As16()
		x.b = append(x.b, a[:]...)
	}
	x.u32(src.subAgent)
	x.u32(src.seq)
	x.u32(uptime)
	x.u32(uint32(len(src.flows) + len(src.counters)))
	// Counter samples first, as agents that poll between flows do, then
	// the flow samples in the order they were taken.
	for i := range src.counters {
		encodeCounterSample(&x, &src.counters[i])
	}
	for i := range src.flows {
		encodeFlowSample(&x, &src.flows[i])
	}
	return x.b
}

func encodeFlowSample(x *xdr, fs *flowSample) {
	ds := fs.ds
	var s int
	if ds.expanded {
		s = x.open(fmtExpandedFlowSample)
		x.u32(fs.seq)
		x.u32(0) // source id type: ifIndex
		x.u32(ds.ifIndex)
		x.u32(ds.rate)
		x.u32(fs.pool)
		x.u32(0) // drops
		x.u32(0) // input: ifIndex format
		x.u32(ds.ifIndex)
		x.u32(0) // output: ifIndex format
		x.u32(fs.output)
	} else {
		s = x.open(fmtFlowSample)
		x.u32(fs.seq)
		x.u32(ds.ifIndex) // source id type 0 (ifIndex) in the top byte
		x.u32(ds.rate)
		x.u32(fs.pool)
		x.u32(0) // drops
		x.u32(ds.ifIndex)
		x.u32(fs.output)
	}
	records := uint32(1)
	if fs.flow.vlan != 0 {
		records++
	}
	x.u32(records)

	r := x.open(fmtRawHeader)
	x.u32(headerProtocolEthernet)
	x.u32(uint32(fs.frameLen))
	x.u32(fcsLen) // stripped: the FCS
	at := len(x.b)
	x.u32(0)
	var n int
	x.b, n = fs.flow.appendHeader(x.b)
	binary.BigEndian.PutUint32(x.b[at:], uint32(n))
	for len(x.b)%4 != 0 {
		x.b = append(x.b, 0)
	}
	x.close(r)

	if fs.flow.vlan != 0 {
		r = x.open(fmtExtendedSwitch)
		x.u32(uint32(fs.flow.vlan))
		x.u32(0)
		x.u32(uint32(fs.flow.vlan))
		x.u32(0)
		x.close(r)
	}
	x.close(s)
}

func encodeCounterSample(x *xdr, cs *counterSample) {
	ds := cs.ds
	var s int
	if ds.expanded {
		s = x.open(fmtExpandedCounterSample)
		x.u32(cs.seq)
		x.u32(0)
		x.u32(ds.ifIndex)
	} else {
		s = x.open(fmtCounterSample)
		x.u32(cs.seq)
		x.u32(ds.ifIndex)
	}
	x.u32(2)

	r := x.open(fmtGenericInterface)
	x.u32(ds.ifIndex)
	x.u32(6) // ethernetCsmacd
	x.u64(ds.speed)
	x.u32(1) // full duplex
	x.u32(3) // admin up, oper up
	x.u64(cs.inOctets)
	x.u32(cs.inUcast)
	x.u32(cs.inMcast)
	x.u32(cs.inBcast)
	x.u32(0) // discards
	x.u32(0) // errors
	x.u32(0) // unknown protocols
	x.u64(cs.outOctets)
	x.u32(cs.outUcast)
	x.u32(0) // multicast
	x.u32(0) // broadcast
	x.u32(0) // discards
	x.u32(0) // errors
	x.u32(0) // not promiscuous
	x.close(r)

	r = x.open(fmtEthernet)
	for i := 0; i < 13; i++ {
		x.u32(0)
	}
	x.close(r)
	x.close(s)
}
