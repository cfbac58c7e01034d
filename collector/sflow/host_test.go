package sflow

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

func hostSample(virt bool) CounterSample {
	c := CounterSample{Sequence: 4, SourceIDType: 2, SourceIDIndex: 1}
	c.Host = &HostCounters{
		CPU: HostCPU{LoadOne: 0.25, LoadFive: 1.5, LoadFifteen: 2.75, ProcRun: 3, ProcTotal: 412, CPUNum: 8, SpeedMHz: 2400,
			UptimeS: 86400, User: 1000, Nice: 20, System: 300, Idle: 8000, WaitIO: 50, Intr: 5, SoftIntr: 7,
			Interrupts: 123456, Contexts: 654321},
		Memory: HostMemory{Total: 16 << 30, Free: 4 << 30, Shared: 1 << 20, Buffers: 2 << 20, Cached: 3 << 30,
			SwapTotal: 2 << 30, SwapFree: 2 << 30, PageIn: 10, PageOut: 20, SwapIn: 1, SwapOut: 2},
		Disk: HostDiskIO{Total: 500 << 30, Free: 200 << 30, PartMaxUsed: 6543, Reads: 1000, BytesRead: 4 << 20,
			ReadTime: 300, Writes: 2000, BytesWritten: 8 << 20, WriteTime: 600},
		Net: HostNetIO{BytesIn: 1 << 40, PktsIn: 1e6, ErrsIn: 1, DropsIn: 2, BytesOut: 1 << 39, PktsOut: 9e5, ErrsOut: 3, DropsOut: 4},
	}
	if virt {
		c.Host.CPU.HasVirtTimes, c.Host.CPU.Steal, c.Host.CPU.Guest, c.Host.CPU.GuestNice = true, 11, 12, 13
	}
	c.Present = HasHostCPU | HasHostMemory | HasHostDiskIO | HasHostNetIO
	c.Records = []DataFormat{CounterHostCPU, CounterHostMemory, CounterHostDiskIO, CounterHostNetIO}
	return c
}

func TestHostCountersRoundTrip(t *testing.T) {
	for _, virt := range []bool{false, true} {
		in := &Datagram{AgentAddr: netip.MustParseAddr("192.0.2.9"), Sequence: 1, NumSamples: 1,
			Counters: []CounterSample{hostSample(virt)}}
		b := AppendDatagram(nil, in)
		var d Decoder
		var out Datagram
		if err := d.Decode(b, &out); err != nil {
			t.Fatalf("virt=%v: %v", virt, err)
		}
		if len(out.Unknown) != 0 {
			t.Errorf("virt=%v: host records counted as unknown: %+v", virt, out.Unknown)
		}
		normalize(in)
		normalize(&out)
		if !reflect.DeepEqual(in, &out) {
			t.Fatalf("virt=%v: round trip mismatch\n got %+v\nwant %+v", virt, out.Counters[0].Host, in.Counters[0].Host)
		}
		// The slot is reused: a sample without host records clears them.
		plain := &Datagram{AgentAddr: in.AgentAddr, NumSamples: 1, Counters: []CounterSample{{Sequence: 5}}}
		if err := d.Decode(AppendDatagram(nil, plain), &out); err != nil {
			t.Fatal(err)
		}
		if c := &out.Counters[0]; c.Present != 0 || (c.Host != nil && *c.Host != HostCounters{}) {
			t.Errorf("host records left over: %b %+v", c.Present, c.Host)
		}
	}
}

func TestHostCountersMalformed(t *testing.T) {
	for _, tc := range []struct {
		format uint32
		size   int
		name   string
	}{{2003, 64, "host_cpu"}, {2004, 68, "host_memory"}, {2005, 48, "host_disk_io"}, {2006, 36, "host_net_io"}} {
		var d Decoder
		var dg Datagram
		err := d.Decode(dgram(counterSample(tlv(tc.format, make([]byte, tc.size)))), &dg)
		var de *DecodeError
		if !errors.As(err, &de) || de.Reason != ReasonBadLength || de.Context != tc.name {
			t.Errorf("%d-byte %s: err = %v, want bad_length in %s", tc.size, tc.name, err, tc.name)
		}
	}
}

// TestHostCountersFromTheWire decodes host records built by hand from the
// host sFlow structures (sflow.org/sflow_host.txt), not by the encoder.
func TestHostCountersFromTheWire(t *testing.T) {
	b := dgram(counterSample(
		// host_cpu without the virt times: loads 0.5/1.0/1.5 as floats.
		tlv(2003, w(0x3F000000, 0x3F800000, 0x3FC00000, 2, 300, 4, 2400, 7200,
			100, 2, 30, 900, 4, 5, 6, 1000, 2000)),
		// host_memory: 7 hypers then 4 ints.
		tlv(2004, w(0, 8<<20, 0, 2<<20, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5), w(6, 7, 8, 9)),
		// host_disk_io: total, free (hypers), part_max_used, reads,
		// bytes_read (hyper), read_time, writes, bytes_written (hyper),
		// write_time.
		tlv(2005, w(0, 1000, 0, 400, 6000, 11, 0, 12, 13, 14, 0, 15, 16)),
		// host_net_io: bytes_in (hyper), pkts_in, errs_in, drops_in,
		// bytes_out (hyper), pkts_out, errs_out, drops_out.
		tlv(2006, w(1, 2, 3, 4, 5, 0, 6, 7, 8, 9)),
	))
	var d Decoder
	var dg Datagram
	if err := d.Decode(b, &dg); err != nil {
		t.Fatal(err)
	}
	h := dg.Counters[0].Host
	want := HostCounters{
		CPU: HostCPU{LoadOne: 0.5, LoadFive: 1, LoadFifteen: 1.5, ProcRun: 2, ProcTotal: 300, CPUNum: 4, SpeedMHz: 2400,
			UptimeS: 7200, User: 100, Nice: 2, System: 30, Idle: 900, WaitIO: 4, Intr: 5, SoftIntr: 6, Interrupts: 1000, Contexts: 2000},
		Memory: HostMemory{Total: 8 << 20, Free: 2 << 20, Shared: 1, Buffers: 2, Cached: 3, SwapTotal: 4, SwapFree: 5,
			PageIn: 6, PageOut: 7, SwapIn: 8, SwapOut: 9},
		Disk: HostDiskIO{Total: 1000, Free: 400, PartMaxUsed: 6000, Reads: 11, BytesRead: 12, ReadTime: 13,
			Writes: 14, BytesWritten: 15, WriteTime: 16},
		Net: HostNetIO{BytesIn: 1<<32 | 2, PktsIn: 3, ErrsIn: 4, DropsIn: 5, BytesOut: 6, PktsOut: 7, ErrsOut: 8, DropsOut: 9},
	}
	if h == nil || *h != want {
		t.Errorf("got  %+v\nwant %+v", h, want)
	}
	if p := dg.Counters[0].Present; p != HasHostCPU|HasHostMemory|HasHostDiskIO|HasHostNetIO {
		t.Errorf("present %b", p)
	}
}
