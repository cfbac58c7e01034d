package sflow

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder. The corpus in
// testdata/fuzz/FuzzDecode holds real datagrams made by pmacctd's sfprobe
// plugin; the encoder's output and the malformed datagrams of
// TestDecodeErrors (including the 92-byte regression) are added as seeds. It checks that Decode never panics, that every
// error is a *DecodeError with a known reason and an offset inside the
// input, and that a successfully decoded datagram re-encodes to bytes that
// decode to the same model and re-encode to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(AppendDatagram(nil, fullDatagram()))
	f.Add(AppendDatagram(nil, &Datagram{AgentAddr: fullDatagram().AgentAddr}))
	f.Add(regression92())
	f.Add(AppendDatagram(nil, &Datagram{AgentAddr: fullDatagram().AgentAddr, Flows: []FlowSample{extensionsSample()}}))
	f.Add(AppendDatagram(nil, &Datagram{AgentAddr: fullDatagram().AgentAddr, Counters: []CounterSample{hostSample(true)}}))
	for _, tc := range errorCases() {
		f.Add(tc.in)
	}
	reasons := map[string]bool{}
	for _, r := range Reasons() {
		reasons[r] = true
	}
	var d Decoder
	var dg, dg2 Datagram
	f.Fuzz(func(t *testing.T, b []byte) {
		err := d.Decode(b, &dg)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, want *DecodeError", err, err)
			}
			if !reasons[de.Reason] {
				t.Fatalf("unknown reason %q", de.Reason)
			}
			if de.Offset < 0 || de.Offset > len(b) {
				t.Fatalf("offset %d outside a %d-byte input", de.Offset, len(b))
			}
			return
		}
		if n := len(dg.Flows) + len(dg.Counters) + len(dg.Discards) + dg.UnknownTotal() - unknownRecords(&dg); n != int(dg.NumSamples) {
			t.Fatalf("decoded %d samples, datagram declared %d", n, dg.NumSamples)
		}
		// Re-encode the known part and decode it again: the model must be
		// stable (unknown structures and record order are not kept, so the
		// comparison is between the first and second re-encoding).
		enc := AppendDatagram(nil, &dg)
		if err := d.Decode(enc, &dg2); err != nil {
			t.Fatalf("re-encoded datagram does not decode: %v", err)
		}
		enc2 := AppendDatagram(nil, &dg2)
		if string(enc) != string(enc2) {
			t.Fatalf("encoding is not stable: %d vs %d bytes", len(enc), len(enc2))
		}
		if len(dg2.Flows) != len(dg.Flows) || len(dg2.Counters) != len(dg.Counters) || len(dg2.Discards) != len(dg.Discards) {
			t.Fatalf("re-decoded sample counts differ")
		}
		for i := range dg.Flows {
			a, b := &dg.Flows[i], &dg2.Flows[i]
			if a.SamplingRate != b.SamplingRate || a.Sequence != b.Sequence || a.Present != b.Present {
				t.Fatalf("flow %d differs after re-encoding", i)
			}
			if a.Has(HasRawHeader) && !reflect.DeepEqual(headerFields(&a.RawHeader), headerFields(&b.RawHeader)) {
				t.Fatalf("flow %d header differs after re-encoding", i)
			}
		}
	})
}

// unknownRecords counts the unknown records (not samples) in dg.
func unknownRecords(dg *Datagram) int {
	n := 0
	for _, u := range dg.Unknown {
		if u.Kind != KindSample {
			n += u.Count
		}
	}
	return n
}

// headerFields is the raw header without its slice, for comparison.
func headerFields(h *RawHeader) RawHeader {
	c := *h
	c.Header = nil
	return c
}
