package sflow

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// BenchmarkDecode decodes one datagram per op. The side-by-side comparison
// with goflow2 lives in the bench module.
func BenchmarkDecode(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join("testdata", "pmacct", "*.bin"))
	var pmacct [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		pmacct = append(pmacct, data)
	}
	sets := []struct {
		name string
		data [][]byte
	}{
		{"every-record-type", [][]byte{AppendDatagram(nil, fullDatagram())}},
		{"pmacct", pmacct},
	}
	for _, set := range sets {
		b.Run(set.name, func(b *testing.B) {
			n := 0
			for _, d := range set.data {
				n += len(d)
			}
			b.SetBytes(int64(n / len(set.data)))
			b.ReportAllocs()
			var d Decoder
			var dg Datagram
			i := 0
			for b.Loop() {
				if err := d.Decode(set.data[i], &dg); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(set.data) {
					i = 0
				}
			}
		})
	}
}

func BenchmarkAppendDatagram(b *testing.B) {
	dg := fullDatagram()
	buf := AppendDatagram(nil, dg)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendDatagram(buf[:0], dg)
	}
}

// TestDecodeMemoryBound decodes the densest datagrams an attacker can send
// (the largest UDP payload packed with the smallest samples or records)
// into a fresh Datagram and checks the memory it takes stays within a fixed
// multiple of the datagram's size: nothing is sized from a wire count.
func TestDecodeMemoryBound(t *testing.T) {
	const maxUDP = 65507
	fill := func(unit []byte) []byte {
		n := (maxUDP - 28) / len(unit)
		b := w(5, 1, 0x0A000001, 0, 1, 1, uint32(n))
		for i := 0; i < n; i++ {
			b = append(b, unit...)
		}
		return b
	}
	records := func(unit []byte) []byte {
		n := (maxUDP - 28 - 8 - 32) / len(unit)
		body := w(1, 7, 256, 2560, 0, 7, 8, uint32(n))
		for i := 0; i < n; i++ {
			body = append(body, unit...)
		}
		return dgram(tlv(1, body))
	}
	gatewaySegments := func() []byte {
		n := (maxUDP - 28 - 8 - 32 - 8 - 32) / 8
		body := w(1, 0x0A000001, 1, 2, 3, uint32(n))
		for i := 0; i < n; i++ {
			body = append(body, w(2, 0)...)
		}
		body = append(body, w(0, 100)...)
		return dgram(flowSample(tlv(1003, body)))
	}
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty flow samples", fill(tlv(1, w(1, 7, 256, 2560, 0, 7, 8, 0)))},
		{"empty counter samples", fill(tlv(2, w(1, 7, 0)))},
		{"empty discard samples", fill(tlv(5, w(1, 0, 7, 0, 7, 0, 258, 0)))},
		{"unknown samples", fill(tlv(4300<<12 | 1))},
		{"empty flow records", records(tlv(4300<<12 | 1))},
		{"minimal raw headers", records(tlv(1, w(1, 64, 4, 0)))},
		{"as path segments", gatewaySegments()},
		// Each sample carries the smallest record kept out of line
		// (FlowData.Ext is allocated once per sample slot).
		{"flow samples with a vni", fill(tlv(1, w(1, 7, 256, 2560, 0, 7, 8, 1), tlv(1029, w(42))))},
		{"flow samples with an empty nat", fill(tlv(1, w(1, 7, 256, 2560, 0, 7, 8, 1), tlv(1007, w(0, 0))))},
		{"counter samples with host net io", fill(tlv(2, w(1, 7, 1), tlv(2006, make([]byte, 40))))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.in) > maxUDP {
				t.Fatalf("test datagram is %d bytes", len(tc.in))
			}
			var d Decoder
			var dg Datagram
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if err := d.Decode(tc.in, &dg); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			runtime.ReadMemStats(&after)
			used := after.TotalAlloc - before.TotalAlloc
			if limit := uint64(16 * len(tc.in)); used > limit {
				t.Errorf("decoding %d bytes allocated %d bytes, more than %d", len(tc.in), used, limit)
			}
			t.Logf("%d-byte datagram: %d bytes allocated (%.1fx)", len(tc.in), used, float64(used)/float64(len(tc.in)))
		})
	}
}
