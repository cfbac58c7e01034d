package synth

import (
	"net/netip"

	"github.com/elk-project/elk/collector/sflow"
)

// Sizes of the fixed sFlow v5 structures the agent writes, used to fill
// datagrams up to the size limit before encoding them.
const (
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

// flowSampleSize is the encoded size of a flow sample: its format and
// length words, the sample fields, a raw header record and, for tagged
// frames, an extended switch record.
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

// counterSampleSize is the encoded size of a counter sample with its
// generic interface and Ethernet records.
func counterSampleSize(cs *counterSample) int {
	n := 8 + 3*4
	if cs.ds.expanded {
		n = 8 + 4*4
	}
	return n + 8 + genericInterfaceLen + 8 + ethernetLen
}

// encoder turns a source's open datagram into bytes with the sflow
// package's encoder, reusing its buffers from one datagram to the next.
type encoder struct {
	dg      sflow.Datagram
	headers []byte // sampled header bytes of the datagram being encoded
}

// encode returns the source's open datagram as sFlow v5.
func (e *encoder) encode(src *source, uptime uint32) []byte {
	dg := &e.dg
	dg.Reset()
	dg.AgentAddr = src.agent
	dg.SubAgentID = src.subAgent
	dg.Sequence = src.seq
	dg.UptimeMS = uptime
	dg.NumSamples = uint32(len(src.flows) + len(src.counters))

	// Reserve room for every header up front so that the slices handed to
	// the samples stay valid while the buffer fills.
	need := 0
	for i := range src.flows {
		need += headerLen(&src.flows[i])
	}
	if cap(e.headers) < need {
		e.headers = make([]byte, 0, need)
	}
	e.headers = e.headers[:0]
	for i := range src.flows {
		fs := &src.flows[i]
		ds := fs.ds
		start := len(e.headers)
		e.headers = fs.flow.appendHeader(e.headers)
		out := sflow.FlowSample{
			Expanded:      ds.expanded,
			Sequence:      fs.seq,
			SourceIDType:  sflow.SourceIfIndex,
			SourceIDIndex: ds.ifIndex,
			SamplingRate:  ds.rate,
			SamplePool:    fs.pool,
			Input:         sflow.Interface{Format: sflow.InterfaceIndex, Value: ds.ifIndex},
			Output:        sflow.Interface{Format: sflow.InterfaceIndex, Value: fs.output},
		}
		out.Present = sflow.HasRawHeader
		out.RawHeader = sflow.RawHeader{
			Protocol:    sflow.HeaderEthernet,
			FrameLength: uint32(fs.frameLen),
			Stripped:    fcsLen,
			Header:      e.headers[start:len(e.headers):len(e.headers)],
		}
		if fs.flow.vlan != 0 {
			out.Present |= sflow.HasSwitch
			v := uint32(fs.flow.vlan)
			out.Switch = sflow.ExtendedSwitch{SrcVLAN: v, DstVLAN: v}
		}
		dg.Flows = append(dg.Flows, out)
	}
	for i := range src.counters {
		cs := &src.counters[i]
		ds := cs.ds
		dg.Counters = append(dg.Counters, sflow.CounterSample{
			Expanded:      ds.expanded,
			Sequence:      cs.seq,
			SourceIDType:  sflow.SourceIfIndex,
			SourceIDIndex: ds.ifIndex,
			Present:       sflow.HasGenericInterface | sflow.HasEthernetInterface,
			Generic: sflow.GenericInterfaceCounters{
				IfIndex:         ds.ifIndex,
				IfType:          6, // ethernetCsmacd
				IfSpeed:         ds.speed,
				IfDirection:     1, // full duplex
				IfStatus:        3, // admin and oper up
				InOctets:        cs.inOctets,
				InUcastPkts:     cs.inUcast,
				InMulticastPkts: cs.inMcast,
				InBroadcastPkts: cs.inBcast,
				OutOctets:       cs.outOctets,
				OutUcastPkts:    cs.outUcast,
			},
		})
	}
	return sflow.AppendDatagram(make([]byte, 0, src.size), dg)
}
