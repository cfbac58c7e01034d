package flowdoc

import (
	"net/netip"

	"github.com/elk-project/elk/collector/sflow"
)

// Rate fields, by record type. Generic interface: bits and packets per
// second each way, errors and discards per second each way. VLAN: bits and
// packets per second.
const (
	rInBPS = iota
	rOutBPS
	rInPPS
	rOutPPS
	rInErrorsPS
	rOutErrorsPS
	rInDiscardsPS
	rOutDiscardsPS
	numRates
)

var genericRateNames = [numRates]string{"in_bps", "out_bps", "in_pps", "out_pps", "in_errors_ps", "out_errors_ps", "in_discards_ps", "out_discards_ps"}

var vlanRateNames = [2]string{"bps", "pps"}

// Host rates: network I/O uses the generic interface slots (bits, packets,
// errors and drops per second each way); disk I/O and CPU have their own.
var (
	hostNetRateNames  = [numRates]string{"in_bps", "out_bps", "in_pps", "out_pps", "in_errors_ps", "out_errors_ps", "in_drops_ps", "out_drops_ps"}
	hostDiskRateNames = [4]string{"read_bytes_ps", "write_bytes_ps", "reads_ps", "writes_ps"}
	// CPU times in ms per second, per state; usage derives from them.
	hostCPURateNames = [numRates]string{"user", "nice", "system", "idle", "wait_io", "intr", "soft_intr", "steal"}
)

// Rates are the per-second rates of one counter record, derived from the
// previous record of the same agent, source and type.
type Rates struct {
	// Valid says DeltaSeconds and the known values hold.
	Valid bool
	// Discontinuity says the counters could not be compared with the
	// previous ones: the agent restarted or a counter went backwards.
	Discontinuity bool
	DeltaSeconds  float64
	Values        [numRates]float64
	Known         uint16 // bit i: Values[i] is known
}

type rateKey struct {
	agent    netip.Addr
	subAgent uint32
	srcType  uint32
	srcIndex uint32
	format   sflow.DataFormat
}

type rateState struct {
	uptimeMS uint32
	vals     [numRates]uint64
	known    uint16
}

// RateTracker remembers the last counters per agent, source and record
// type. It is not safe for concurrent use: each worker owns one (datagrams
// of one agent go to one worker).
type RateTracker struct {
	// MaxEntries bounds memory; when exceeded the tracker starts over
	// (the next records of every source have no rates). 0 means 1<<20.
	MaxEntries int
	m          map[rateKey]rateState
}

func (t *RateTracker) update(k rateKey, uptimeMS uint32, restarted bool, vals *[numRates]uint64, known uint16) Rates {
	if t.m == nil {
		t.m = make(map[rateKey]rateState)
	}
	limit := t.MaxEntries
	if limit <= 0 {
		limit = 1 << 20
	}
	prev, ok := t.m[k]
	if !ok && len(t.m) >= limit {
		clear(t.m)
	}
	t.m[k] = rateState{uptimeMS: uptimeMS, vals: *vals, known: known}
	if !ok {
		if restarted {
			return Rates{Discontinuity: true}
		}
		return Rates{}
	}
	dms := int64(uptimeMS) - int64(prev.uptimeMS)
	if restarted || dms <= 0 {
		return Rates{Discontinuity: true}
	}
	r := Rates{Valid: true, DeltaSeconds: float64(dms) / 1000}
	both := known & prev.known
	for i := 0; i < numRates; i++ {
		if both&(1<<i) == 0 {
			continue
		}
		if vals[i] < prev.vals[i] {
			return Rates{Discontinuity: true}
		}
		r.Values[i] = float64(vals[i]-prev.vals[i]) / r.DeltaSeconds
		r.Known |= 1 << i
	}
	return r
}

// Len is the number of sources and record types remembered.
func (t *RateTracker) Len() int { return len(t.m) }

// Reset forgets everything.
func (t *RateTracker) Reset() { clear(t.m) }

func sum32(vs ...uint32) (uint64, bool) {
	var s uint64
	for _, v := range vs {
		if v == sflow.Unknown32 {
			return 0, false
		}
		s += uint64(v)
	}
	return s, true
}

// Generic computes the rates of a generic interface record.
func (t *RateTracker) Generic(dg *sflow.Datagram, c *sflow.CounterSample, restarted bool) Rates {
	g := &c.Generic
	var vals [numRates]uint64
	var known uint16
	set := func(i int, v uint64, ok bool) {
		if ok {
			vals[i] = v
			known |= 1 << i
		}
	}
	set(rInBPS, g.InOctets*8, g.InOctets != sflow.Unknown64)
	set(rOutBPS, g.OutOctets*8, g.OutOctets != sflow.Unknown64)
	v, ok := sum32(g.InUcastPkts, g.InMulticastPkts, g.InBroadcastPkts)
	set(rInPPS, v, ok)
	v, ok = sum32(g.OutUcastPkts, g.OutMulticastPkts, g.OutBroadcastPkts)
	set(rOutPPS, v, ok)
	set(rInErrorsPS, uint64(g.InErrors), g.InErrors != sflow.Unknown32)
	set(rOutErrorsPS, uint64(g.OutErrors), g.OutErrors != sflow.Unknown32)
	set(rInDiscardsPS, uint64(g.InDiscards), g.InDiscards != sflow.Unknown32)
	set(rOutDiscardsPS, uint64(g.OutDiscards), g.OutDiscards != sflow.Unknown32)
	k := rateKey{dg.AgentAddr, dg.SubAgentID, c.SourceIDType, c.SourceIDIndex, sflow.CounterGenericInterface}
	return t.update(k, dg.UptimeMS, restarted, &vals, known)
}

// VLAN computes the rates of a VLAN record (bits and packets per second).
func (t *RateTracker) VLAN(dg *sflow.Datagram, c *sflow.CounterSample, restarted bool) Rates {
	v := &c.VLAN
	var vals [numRates]uint64
	var known uint16
	if v.Octets != sflow.Unknown64 {
		vals[0], known = v.Octets*8, known|1
	}
	if p, ok := sum32(v.UcastPkts, v.MulticastPkts, v.BroadcastPkts); ok {
		vals[1], known = p, known|2
	}
	k := rateKey{dg.AgentAddr, dg.SubAgentID, c.SourceIDType, v.VLANID, sflow.CounterVLAN}
	return t.update(k, dg.UptimeMS, restarted, &vals, known)
}

// For computes the rates of record rec of c; false for records without
// rates.
func (t *RateTracker) For(rec sflow.DataFormat, dg *sflow.Datagram, c *sflow.CounterSample, restarted bool) (Rates, bool) {
	switch rec {
	case sflow.CounterGenericInterface:
		return t.Generic(dg, c, restarted), true
	case sflow.CounterVLAN:
		return t.VLAN(dg, c, restarted), true
	case sflow.CounterHostCPU:
		return t.HostCPU(dg, c, restarted), true
	case sflow.CounterHostDiskIO:
		return t.HostDisk(dg, c, restarted), true
	case sflow.CounterHostNetIO:
		return t.HostNet(dg, c, restarted), true
	}
	return Rates{}, false
}

// HostNet computes the rates of a host network I/O record.
func (t *RateTracker) HostNet(dg *sflow.Datagram, c *sflow.CounterSample, restarted bool) Rates {
	n := &c.Host.Net
	vals := [numRates]uint64{n.BytesIn * 8, n.BytesOut * 8, uint64(n.PktsIn), uint64(n.PktsOut),
		uint64(n.ErrsIn), uint64(n.ErrsOut), uint64(n.DropsIn), uint64(n.DropsOut)}
	k := rateKey{dg.AgentAddr, dg.SubAgentID, c.SourceIDType, c.SourceIDIndex, sflow.CounterHostNetIO}
	return t.update(k, dg.UptimeMS, restarted, &vals, 0xff)
}

// HostDisk computes the rates of a host disk I/O record.
func (t *RateTracker) HostDisk(dg *sflow.Datagram, c *sflow.CounterSample, restarted bool) Rates {
	d := &c.Host.Disk
	vals := [numRates]uint64{d.BytesRead, d.BytesWritten, uint64(d.Reads), uint64(d.Writes)}
	k := rateKey{dg.AgentAddr, dg.SubAgentID, c.SourceIDType, c.SourceIDIndex, sflow.CounterHostDiskIO}
	return t.update(k, dg.UptimeMS, restarted, &vals, 0x0f)
}

// HostCPU computes the rates of a host CPU record: milliseconds per second
// spent in each state (steal only from the record's longer version).
func (t *RateTracker) HostCPU(dg *sflow.Datagram, c *sflow.CounterSample, restarted bool) Rates {
	u := &c.Host.CPU
	vals := [numRates]uint64{uint64(u.User), uint64(u.Nice), uint64(u.System), uint64(u.Idle),
		uint64(u.WaitIO), uint64(u.Intr), uint64(u.SoftIntr), uint64(u.Steal)}
	known := uint16(0x7f)
	if u.HasVirtTimes {
		known = 0xff
	}
	k := rateKey{dg.AgentAddr, dg.SubAgentID, c.SourceIDType, c.SourceIDIndex, sflow.CounterHostCPU}
	return t.update(k, dg.UptimeMS, restarted, &vals, known)
}

// cpuUsage is the share of CPU time not idle over the rates' interval, or
// false when no time passed in any state.
func cpuUsage(r *Rates) (float64, bool) {
	var total float64
	for i := range numRates {
		if r.Known&(1<<i) != 0 {
			total += r.Values[i]
		}
	}
	if total <= 0 || r.Known&(1<<3) == 0 {
		return 0, false
	}
	return 1 - r.Values[3]/total, true
}

// CounterRecords lists the counter records of c that get a document, in a
// fixed order, as data formats.
func CounterRecords(c *sflow.CounterSample, dst []sflow.DataFormat) []sflow.DataFormat {
	if c.Has(sflow.HasGenericInterface) {
		dst = append(dst, sflow.CounterGenericInterface)
	}
	if c.Has(sflow.HasEthernetInterface) {
		dst = append(dst, sflow.CounterEthernetInterface)
	}
	if c.Has(sflow.HasVLAN) {
		dst = append(dst, sflow.CounterVLAN)
	}
	if c.Has(sflow.HasProcessor) {
		dst = append(dst, sflow.CounterProcessor)
	}
	for _, h := range [...]struct {
		bit sflow.CounterRecords
		f   sflow.DataFormat
	}{{sflow.HasHostCPU, sflow.CounterHostCPU}, {sflow.HasHostMemory, sflow.CounterHostMemory},
		{sflow.HasHostDiskIO, sflow.CounterHostDiskIO}, {sflow.HasHostNetIO, sflow.CounterHostNetIO}} {
		if c.Has(h.bit) && c.Host != nil {
			dst = append(dst, h.f)
		}
	}
	return dst
}

func appendRates(b []byte, names []string, r *Rates) []byte {
	for i, n := range names {
		b = append(b, ',', '"')
		b = append(b, n...)
		b = append(b, '"', ':')
		if r.Known&(1<<i) != 0 {
			b = appendFloat(b, r.Values[i])
		} else {
			b = append(b, "null"...)
		}
	}
	return b
}

func field32(b []byte, name string, v uint32) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendCounter32(b, v)
}

func field64(b []byte, name string, v uint64) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendCounter64(b, v)
}

// AppendCounterBody appends the common part of the document for record
// format rec of counter sample c (an element of dg.Counters). rates may be
// nil for records without rates. Finish the document with AppendCounterTail.
func AppendCounterBody(b []byte, dg *sflow.Datagram, c *sflow.CounterSample, rec sflow.DataFormat, rates *Rates, m *Meta) []byte {
	b = appendEvent(b, "metric", "", DatasetCounters, m)
	var ifIndex sflow.Interface
	if rec == sflow.CounterGenericInterface && c.Generic.IfIndex != 0 {
		ifIndex = sflow.Interface{Value: c.Generic.IfIndex}
	}
	b = appendObserver(b, dg, ifIndex, sflow.Interface{}, 0, 0)
	typ := "counter"
	if c.Expanded {
		typ = "expanded_counter"
	}
	b = appendSflowHead(b, dg, typ, c.Sequence, c.SourceIDType, c.SourceIDIndex)
	b = append(b, `,"record":`...)
	b = appendFormat(b, rec)
	b = append(b, `,"counters":{`...)
	switch rec {
	case sflow.CounterGenericInterface:
		g := &c.Generic
		b = append(b, `"if":{"index":`...)
		b = appendUint(b, uint64(g.IfIndex))
		b = append(b, `,"type":`...)
		b = appendUint(b, uint64(g.IfType))
		b = append(b, `,"speed":`...)
		b = appendUint(b, g.IfSpeed)
		b = append(b, `,"direction":`...)
		b = appendUint(b, uint64(g.IfDirection))
		b = append(b, `,"admin_up":`...)
		b = appendBool(b, g.IfStatus&1 != 0)
		b = append(b, `,"oper_up":`...)
		b = appendBool(b, g.IfStatus&2 != 0)
		b = field64(b, "in_octets", g.InOctets)
		b = field32(b, "in_ucast_pkts", g.InUcastPkts)
		b = field32(b, "in_mcast_pkts", g.InMulticastPkts)
		b = field32(b, "in_bcast_pkts", g.InBroadcastPkts)
		b = field32(b, "in_discards", g.InDiscards)
		b = field32(b, "in_errors", g.InErrors)
		b = field32(b, "in_unknown_protos", g.InUnknownProtos)
		b = field64(b, "out_octets", g.OutOctets)
		b = field32(b, "out_ucast_pkts", g.OutUcastPkts)
		b = field32(b, "out_mcast_pkts", g.OutMulticastPkts)
		b = field32(b, "out_bcast_pkts", g.OutBroadcastPkts)
		b = field32(b, "out_discards", g.OutDiscards)
		b = field32(b, "out_errors", g.OutErrors)
		b = append(b, `,"promiscuous":`...)
		switch g.PromiscuousMode {
		case 1:
			b = append(b, "true"...)
		case 2:
			b = append(b, "false"...)
		default:
			b = append(b, "null"...)
		}
		if rates != nil && rates.Valid {
			b = appendRates(b, genericRateNames[:], rates)
		}
		b = append(b, '}')
	case sflow.CounterEthernetInterface:
		e := &c.Ethernet
		b = append(b, `"ethernet":{"source_id_index":`...)
		b = appendUint(b, uint64(c.SourceIDIndex))
		b = field32(b, "alignment_errors", e.AlignmentErrors)
		b = field32(b, "fcs_errors", e.FCSErrors)
		b = field32(b, "single_collision_frames", e.SingleCollisionFrames)
		b = field32(b, "multiple_collision_frames", e.MultipleCollisionFrames)
		b = field32(b, "sqe_test_errors", e.SQETestErrors)
		b = field32(b, "deferred_transmissions", e.DeferredTransmissions)
		b = field32(b, "late_collisions", e.LateCollisions)
		b = field32(b, "excessive_collisions", e.ExcessiveCollisions)
		b = field32(b, "internal_mac_transmit_errors", e.InternalMacTransmitErrors)
		b = field32(b, "carrier_sense_errors", e.CarrierSenseErrors)
		b = field32(b, "frame_too_longs", e.FrameTooLongs)
		b = field32(b, "internal_mac_receive_errors", e.InternalMacReceiveErrors)
		b = field32(b, "symbol_errors", e.SymbolErrors)
		b = append(b, '}')
	case sflow.CounterVLAN:
		v := &c.VLAN
		b = append(b, `"vlan":{"id":`...)
		b = appendUint(b, uint64(v.VLANID))
		b = field64(b, "octets", v.Octets)
		b = field32(b, "ucast_pkts", v.UcastPkts)
		b = field32(b, "mcast_pkts", v.MulticastPkts)
		b = field32(b, "bcast_pkts", v.BroadcastPkts)
		b = field32(b, "discards", v.Discards)
		if rates != nil && rates.Valid {
			b = appendRates(b, vlanRateNames[:], rates)
		}
		b = append(b, '}')
	case sflow.CounterProcessor:
		p := &c.Processor
		b = append(b, `"processor":{"cpu_5s_pct":`...)
		b = appendPct(b, p.CPU5s)
		b = append(b, `,"cpu_1m_pct":`...)
		b = appendPct(b, p.CPU1m)
		b = append(b, `,"cpu_5m_pct":`...)
		b = appendPct(b, p.CPU5m)
		b = field64(b, "total_memory_bytes", p.TotalMemory)
		b = field64(b, "free_memory_bytes", p.FreeMemory)
		b = append(b, '}')
	case sflow.CounterHostCPU, sflow.CounterHostMemory, sflow.CounterHostDiskIO, sflow.CounterHostNetIO:
		b = appendHostCounters(b, c.Host, rec, rates)
	}
	if rates != nil {
		if rates.Valid {
			b = append(b, `,"delta_seconds":`...)
			b = appendFloat(b, rates.DeltaSeconds)
		}
		b = append(b, `,"discontinuity":`...)
		b = appendBool(b, rates.Discontinuity)
	}
	b = append(b, "}}"...)
	if rec >= sflow.CounterHostCPU && rec <= sflow.CounterHostNetIO {
		b = appendECSHost(b, c.Host, rec, rates)
	}
	return b
}

// appendHostCounters appends sflow.counters.host.{cpu,memory,disk,net}.
func appendHostCounters(b []byte, h *sflow.HostCounters, rec sflow.DataFormat, rates *Rates) []byte {
	valid := rates != nil && rates.Valid
	switch rec {
	case sflow.CounterHostCPU:
		u := &h.CPU
		b = append(b, `"host":{"cpu":{"load_1":`...)
		b = appendFloat(b, float64(u.LoadOne))
		b = append(b, `,"load_5":`...)
		b = appendFloat(b, float64(u.LoadFive))
		b = append(b, `,"load_15":`...)
		b = appendFloat(b, float64(u.LoadFifteen))
		b = field32(b, "proc_run", u.ProcRun)
		b = field32(b, "proc_total", u.ProcTotal)
		b = field32(b, "num", u.CPUNum)
		b = field32(b, "speed_mhz", u.SpeedMHz)
		b = field32(b, "uptime_s", u.UptimeS)
		b = field32(b, "interrupts", u.Interrupts)
		b = field32(b, "contexts", u.Contexts)
		if valid {
			b = append(b, `,"ms_per_s":{`...)
			n := len(b)
			b = appendRates(b, hostCPURateNames[:], rates)
			b = append(b[:n], b[n+1:]...) // no comma before the first
			b = append(b, '}')
			if usage, ok := cpuUsage(rates); ok {
				b = append(b, `,"usage_pct":`...)
				b = appendFloat(b, usage*100)
			}
		}
	case sflow.CounterHostMemory:
		m := &h.Memory
		b = append(b, `"host":{"memory":{"total_bytes":`...)
		b = appendUint(b, m.Total)
		b = field64(b, "free_bytes", m.Free)
		b = field64(b, "shared_bytes", m.Shared)
		b = field64(b, "buffers_bytes", m.Buffers)
		b = field64(b, "cached_bytes", m.Cached)
		b = field64(b, "swap_total_bytes", m.SwapTotal)
		b = field64(b, "swap_free_bytes", m.SwapFree)
		b = field32(b, "page_in", m.PageIn)
		b = field32(b, "page_out", m.PageOut)
		b = field32(b, "swap_in", m.SwapIn)
		b = field32(b, "swap_out", m.SwapOut)
	case sflow.CounterHostDiskIO:
		d := &h.Disk
		b = append(b, `"host":{"disk":{"total_bytes":`...)
		b = appendUint(b, d.Total)
		b = field64(b, "free_bytes", d.Free)
		b = append(b, `,"part_max_used_pct":`...)
		b = appendPct(b, d.PartMaxUsed)
		b = field32(b, "reads", d.Reads)
		b = field64(b, "bytes_read", d.BytesRead)
		b = field32(b, "read_time_ms", d.ReadTime)
		b = field32(b, "writes", d.Writes)
		b = field64(b, "bytes_written", d.BytesWritten)
		b = field32(b, "write_time_ms", d.WriteTime)
		if valid {
			b = appendRates(b, hostDiskRateNames[:], rates)
		}
	default:
		n := &h.Net
		b = append(b, `"host":{"net":{"bytes_in":`...)
		b = appendUint(b, n.BytesIn)
		b = field32(b, "pkts_in", n.PktsIn)
		b = field32(b, "errs_in", n.ErrsIn)
		b = field32(b, "drops_in", n.DropsIn)
		b = field64(b, "bytes_out", n.BytesOut)
		b = field32(b, "pkts_out", n.PktsOut)
		b = field32(b, "errs_out", n.ErrsOut)
		b = field32(b, "drops_out", n.DropsOut)
		if valid {
			b = appendRates(b, hostNetRateNames[:], rates)
		}
	}
	return append(b, "}}"...)
}

// appendECSHost appends the ECS host.* metrics a host record provides:
// host.uptime and host.cpu.usage (0–1), and the bytes and packets of the
// interval since the previous record (host.network.*, host.disk.*).
func appendECSHost(b []byte, h *sflow.HostCounters, rec sflow.DataFormat, rates *Rates) []byte {
	valid := rates != nil && rates.Valid
	delta := func(i int) uint64 {
		return uint64(rates.Values[i]*rates.DeltaSeconds + 0.5)
	}
	switch rec {
	case sflow.CounterHostCPU:
		b = append(b, `,"host":{"uptime":`...)
		b = appendUint(b, uint64(h.CPU.UptimeS))
		if valid {
			if usage, ok := cpuUsage(rates); ok {
				b = append(b, `,"cpu":{"usage":`...)
				b = appendFloat(b, usage)
				b = append(b, '}')
			}
		}
		return append(b, '}')
	case sflow.CounterHostNetIO:
		if !valid {
			return b
		}
		b = append(b, `,"host":{"network":{"ingress":{"bytes":`...)
		b = appendUint(b, delta(rInBPS)/8)
		b = append(b, `,"packets":`...)
		b = appendUint(b, delta(rInPPS))
		b = append(b, `},"egress":{"bytes":`...)
		b = appendUint(b, delta(rOutBPS)/8)
		b = append(b, `,"packets":`...)
		b = appendUint(b, delta(rOutPPS))
		return append(b, "}}}"...)
	case sflow.CounterHostDiskIO:
		if !valid {
			return b
		}
		b = append(b, `,"host":{"disk":{"read":{"bytes":`...)
		b = appendUint(b, delta(0))
		b = append(b, `},"write":{"bytes":`...)
		b = appendUint(b, delta(1))
		return append(b, "}}}"...)
	}
	return b
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendPct appends a percentage_100 value as a percentage, null if unknown.
func appendPct(b []byte, v uint32) []byte {
	if v == sflow.Unknown32 {
		return append(b, "null"...)
	}
	return appendFloat(b, float64(v)/100)
}
