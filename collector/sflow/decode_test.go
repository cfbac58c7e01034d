package sflow

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// w encodes 32-bit words big-endian.
func w(words ...uint32) []byte {
	b := make([]byte, 0, 4*len(words))
	for _, v := range words {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// tlv builds a sample or record: data_format, length, body.
func tlv(format uint32, body ...[]byte) []byte {
	c := cat(body...)
	return cat(w(format, uint32(len(c))), c)
}

// dgram builds a datagram from an IPv4 agent with the given samples.
func dgram(samples ...[]byte) []byte {
	return cat(w(5, 1, 0xC0000201, 0, 1, 1000, uint32(len(samples))), cat(samples...))
}

// flowSample builds a compact flow sample with the given records.
func flowSample(records ...[]byte) []byte {
	return tlv(1, w(1, 7, 256, 2560, 0, 7, 8, uint32(len(records))), cat(records...))
}

// counterSample builds a compact counter sample with the given records.
func counterSample(records ...[]byte) []byte {
	return tlv(2, w(1, 7, uint32(len(records))), cat(records...))
}

func rawHeaderRecord(hdr []byte) []byte {
	padded := append([]byte(nil), hdr...)
	for len(padded)%4 != 0 {
		padded = append(padded, 0)
	}
	return tlv(1, w(1, 1500, 4, uint32(len(hdr))), padded)
}

// regression92 is the known-bad input: a 92-byte datagram whose expanded
// flow sample claims 0xFFFFFFFF records.
func regression92() []byte {
	b := dgram(tlv(3, w(1, 0, 7, 256, 2560, 0, 0, 7, 0, 8, 0xFFFFFFFF), make([]byte, 12)))
	return b
}

// errorCase is a malformed datagram and the reason it must be rejected.
type errorCase struct {
	name   string
	in     []byte
	strict bool
	reason string
}

// errorCases returns hand-built malformed datagrams, one or more for each
// error reason; FuzzDecode uses them as seeds too.
func errorCases() []errorCase {
	gatewayHead := w(1, 0x0A000001, 65000, 65001, 65002)
	return []errorCase{
		{"empty", nil, false, ReasonTruncated},
		{"seven bytes", []byte{0, 0, 0, 5, 0, 0, 0}, false, ReasonTruncated},
		{"version 4", cat(w(4, 1, 0, 0, 0, 0, 0)), false, ReasonBadVersion},
		{"version 0xFFFFFFFF", cat(w(0xFFFFFFFF, 1, 0, 0, 0, 0, 0)), false, ReasonBadVersion},
		{"address type 3", w(5, 3, 0, 0, 0, 0, 0), false, ReasonBadAddressType},
		{"ipv4 address cut", w(5, 1), false, ReasonTruncated},
		{"ipv6 address cut", w(5, 2, 0, 0, 0), false, ReasonTruncated},
		{"header cut", w(5, 1, 1, 0, 1), false, ReasonTruncated},
		{"sample count too large", w(5, 1, 1, 0, 1, 1, 0xFFFFFFFF), false, ReasonCountLimit},
		{"sample count beyond bytes", cat(w(5, 1, 1, 0, 1, 1, 2), tlv(99), w(0)), false, ReasonCountLimit},
		{"sample longer than datagram", cat(w(5, 1, 1, 0, 1, 1, 1), w(1, 100), w(0, 0)), false, ReasonTruncated},
		{"sample padding beyond datagram", cat(w(5, 1, 1, 0, 1, 1, 1), w(99, 5), []byte{1, 2, 3, 4, 5}), false, ReasonTruncated},
		{"flow sample too short", dgram(tlv(1, w(1, 2, 3))), false, ReasonBadLength},
		{"expanded flow sample too short", dgram(tlv(3, w(1, 2, 3, 4, 5, 6, 7, 8))), false, ReasonBadLength},
		{"92-byte datagram claiming 0xFFFFFFFF records", regression92(), false, ReasonCountLimit},
		{"compact flow sample claiming 0xFFFFFFFF records", dgram(tlv(1, w(1, 7, 256, 2560, 0, 7, 8, 0xFFFFFFFF))), false, ReasonCountLimit},
		{"flow record longer than sample", dgram(flowSample(cat(w(1, 64), w(1, 2)))), false, ReasonBadLength},
		{"flow record padding beyond sample", dgram(flowSample(cat(w(1, 6), []byte{1, 2, 3, 4}))), false, ReasonBadLength},
		{"raw header length beyond record", dgram(flowSample(tlv(1, w(1, 1500, 4, 200), make([]byte, 8)))), false, ReasonBadLength},
		{"raw header record too short", dgram(flowSample(tlv(1, w(1, 1500)))), false, ReasonBadLength},
		{"ethernet record too short", dgram(flowSample(tlv(2, w(1, 2, 3)))), false, ReasonBadLength},
		{"ipv4 record too short", dgram(flowSample(tlv(3, w(1, 2, 3)))), false, ReasonBadLength},
		{"ipv6 record too short", dgram(flowSample(tlv(4, w(1, 2, 3)))), false, ReasonBadLength},
		{"switch record too short", dgram(flowSample(tlv(1001, w(1, 2, 3)))), false, ReasonBadLength},
		{"router bad address type", dgram(flowSample(tlv(1002, w(7, 0, 0)))), false, ReasonBadAddressType},
		{"router address cut", dgram(flowSample(tlv(1002, w(2, 0, 0)))), false, ReasonBadLength},
		{"router masks missing", dgram(flowSample(tlv(1002, w(1, 0x0A000001)))), false, ReasonBadLength},
		{"gateway as path count", dgram(flowSample(tlv(1003, gatewayHead, w(0xFFFFFFFF)))), false, ReasonCountLimit},
		{"gateway asn count", dgram(flowSample(tlv(1003, gatewayHead, w(1, 2, 0xFFFFFFF0, 0, 0)))), false, ReasonCountLimit},
		{"gateway communities count", dgram(flowSample(tlv(1003, gatewayHead, w(0, 0x40000000, 0)))), false, ReasonCountLimit},
		{"gateway local pref missing", dgram(flowSample(tlv(1003, gatewayHead, w(0, 0)))), false, ReasonBadLength},
		{"gateway cut after next hop", dgram(flowSample(tlv(1003, w(1, 0x0A000001, 1)))), false, ReasonBadLength},
		{"counter sample too short", dgram(tlv(2, w(1, 2))), false, ReasonBadLength},
		{"expanded counter sample too short", dgram(tlv(4, w(1, 2, 3))), false, ReasonBadLength},
		{"counter records count", dgram(tlv(4, w(1, 0, 7, 0x7FFFFFFF))), false, ReasonCountLimit},
		{"counter record longer than sample", dgram(counterSample(w(1, 88, 0))), false, ReasonBadLength},
		{"generic counters too short", dgram(counterSample(tlv(1, make([]byte, 84)))), false, ReasonBadLength},
		{"ethernet counters too short", dgram(counterSample(tlv(2, make([]byte, 48)))), false, ReasonBadLength},
		{"vlan counters too short", dgram(counterSample(tlv(5, make([]byte, 24)))), false, ReasonBadLength},
		{"processor counters too short", dgram(counterSample(tlv(1001, make([]byte, 24)))), false, ReasonBadLength},
		{"discard sample too short", dgram(tlv(5, w(1, 2, 3, 4))), false, ReasonBadLength},
		{"discard records count", dgram(tlv(5, w(1, 0, 7, 0, 7, 0, 258, 0xFFFFFFFF))), false, ReasonCountLimit},
		{"trailing data in strict mode", cat(dgram(), w(0)), true, ReasonTrailingData},
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			d := Decoder{Strict: tc.strict}
			var dg Datagram
			err := d.Decode(tc.in, &dg)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("got error %v (%T), want *DecodeError with reason %q", err, err, tc.reason)
			}
			if de.Reason != tc.reason {
				t.Errorf("got reason %q (%v), want %q", de.Reason, de, tc.reason)
			}
			if de.Offset < 0 || de.Offset > len(tc.in) {
				t.Errorf("offset %d outside the %d-byte datagram", de.Offset, len(tc.in))
			}
		})
	}
}

// TestRegression92Fast checks that the known-bad datagram is rejected fast
// and without a large allocation.
func TestRegression92Fast(t *testing.T) {
	b := regression92()
	if len(b) != 92 {
		t.Fatalf("regression datagram is %d bytes, want 92", len(b))
	}
	var d Decoder
	var dg Datagram
	start := time.Now()
	allocs := testing.AllocsPerRun(10, func() { _ = d.Decode(b, &dg) })
	if el := time.Since(start); el > time.Second {
		t.Errorf("decoding took %v", el)
	}
	if allocs > 2 {
		t.Errorf("decoding allocated %.0f times, want at most 2 (the error)", allocs)
	}
	if c := cap(dg.Flows[0].Records); c > 64 {
		t.Errorf("records slice grew to %d", c)
	}
}

func TestDecodeSkipsUnknown(t *testing.T) {
	hdr := cat(ethDst, ethSrc, []byte{0x08, 0x00}, ipv4(6), tcpBytes)
	b := dgram(
		tlv(6, w(1, 2, 3)),    // 0:6 unknown standard sample
		tlv(4300<<12|1, w(9)), // vendor sample
		tlv(4300<<12|1),       // the same vendor sample, empty
		flowSample(
			tlv(1005, w(0)), // 0:1005 unknown flow record
			rawHeaderRecord(hdr),
			tlv(4413<<12|5, w(1, 2)),            // vendor flow record
			tlv(1001, w(10, 1, 20, 2), w(0, 0)), // switch record with extra trailing words
		),
		counterSample(tlv(2000, w(1)), tlv(1001, w(1, 2, 3, 0, 4, 0, 5), w(6))),
	)
	var d Decoder
	var dg Datagram
	if err := d.Decode(b, &dg); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(dg.Flows) != 1 || len(dg.Counters) != 1 {
		t.Fatalf("got %d flows %d counters, want 1 1", len(dg.Flows), len(dg.Counters))
	}
	f := &dg.Flows[0]
	want(t, "present", f.Present, HasRawHeader|HasSwitch)
	want(t, "records", len(f.Records), 4)
	want(t, "switch", f.Switch, ExtendedSwitch{SrcVLAN: 10, SrcPriority: 1, DstVLAN: 20, DstPriority: 2})
	want(t, "dst port", f.RawHeader.DstPort, uint16(80))
	want(t, "header size", f.RawHeader.HeaderSize, uint32(len(hdr)))
	want(t, "frame length", f.RawHeader.FrameLength, uint32(1500))
	c := &dg.Counters[0]
	want(t, "counter present", c.Present, HasProcessor)
	want(t, "cpu", c.Processor.CPU5m, uint32(3))
	want(t, "total memory", c.Processor.TotalMemory, uint64(4))
	wantUnknown := []UnknownCount{
		{KindSample, 6, 1},
		{KindSample, MakeFormat(4300, 1), 2},
		{KindFlowRecord, 1005, 1},
		{KindFlowRecord, MakeFormat(4413, 5), 1},
		{KindCounterRecord, 2000, 1},
	}
	if len(dg.Unknown) != len(wantUnknown) {
		t.Fatalf("unknown = %+v, want %+v", dg.Unknown, wantUnknown)
	}
	for i := range wantUnknown {
		want(t, "unknown", dg.Unknown[i], wantUnknown[i])
	}
	want(t, "unknown total", dg.UnknownTotal(), 6)
}

// TestDecodeUnalignedLengths: lengths are XDR opaque lengths, so a length
// that is not a multiple of 4 is followed by padding, as sflowtool reads it.
func TestDecodeUnalignedLengths(t *testing.T) {
	hdr := cat(ethDst, ethSrc, []byte{0x08, 0x00}, ipv4(17), udpBytes) // 42 bytes
	raw := cat(w(1, uint32(16+len(hdr))), w(1, 1500, 4, uint32(len(hdr))), hdr, []byte{0, 0})
	vendor := cat(w(4413<<12|9, 5), []byte{1, 2, 3, 4, 5, 0, 0, 0})
	b := dgram(
		cat(w(4413<<12|7, 3), []byte{9, 9, 9, 0}), // unknown sample of 3 bytes + padding
		flowSample(vendor, raw),
	)
	var d Decoder
	var dg Datagram
	if err := d.Decode(b, &dg); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if len(dg.Flows) != 1 || !dg.Flows[0].Has(HasRawHeader) {
		t.Fatalf("got %d flows, want 1 with a raw header", len(dg.Flows))
	}
	h := &dg.Flows[0].RawHeader
	want(t, "header size", len(h.Header), len(hdr))
	want(t, "dst port", h.DstPort, uint16(0xc000))
	want(t, "unknown", dg.UnknownTotal(), 2)
}

func TestInterfaceWords(t *testing.T) {
	tests := []struct {
		name     string
		word     uint32
		format   uint32
		value    uint32
		ifIndex  bool
		discard  bool
		multiple bool
	}{
		{"ifindex", 7, InterfaceIndex, 7, true, false, false},
		{"internal", 0x3FFFFFFF, InterfaceIndex, IfIndexInternal, true, false, false},
		{"discard acl", 1<<30 | 258, InterfaceDiscarded, DiscardACL, false, true, false},
		{"multiple 3", 2<<30 | 3, InterfaceMultiple, 3, false, false, true},
		{"multiple unknown", 2 << 30, InterfaceMultiple, 0, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := dgram(tlv(1, w(1, 7, 256, 2560, 0, 7, tc.word, 0)))
			var d Decoder
			var dg Datagram
			if err := d.Decode(b, &dg); err != nil {
				t.Fatal(err)
			}
			out := dg.Flows[0].Output
			want(t, "interface", out, Interface{Format: tc.format, Value: tc.value})
			_, ok := out.IfIndex()
			want(t, "ifindex", ok, tc.ifIndex)
			_, ok = out.Discarded()
			want(t, "discarded", ok, tc.discard)
			_, ok = out.Multiple()
			want(t, "multiple", ok, tc.multiple)
		})
	}
}

func TestDataFormat(t *testing.T) {
	f := MakeFormat(4413, 5)
	want(t, "enterprise", f.Enterprise(), uint32(4413))
	want(t, "format", f.Format(), uint32(5))
	want(t, "string", f.String(), "4413:5")
	want(t, "standard", FlowExtendedGateway.String(), "0:1003")
	want(t, "kind", KindCounterRecord.String(), "counter_record")
	want(t, "mac", MAC{0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc}.String(), "00:1b:21:aa:bb:cc")
	if _, ok := Known32(Unknown32); ok {
		t.Error("Known32(Unknown32) reported a known value")
	}
	if v, ok := Known64(5); !ok || v != 5 {
		t.Error("Known64(5) reported an unknown value")
	}
}
