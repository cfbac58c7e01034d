package bench

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/elk-project/elk/collector/sflow"
	gfsflow "github.com/netsampler/goflow2/v2/decoders/sflow"
)

// syntheticSet builds realistic datagrams like a busy switch sends: 5 to 8
// flow samples each, with an extended switch record and a 128-byte header
// (Ethernet, sometimes 802.1Q, IPv4 or IPv6, TCP or UDP), and every fourth
// datagram also carries two counter samples (generic + Ethernet).
func syntheticSet() [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var set [][]byte
	for d := 0; d < 64; d++ {
		dg := sflow.Datagram{
			AgentAddr: netip.AddrFrom4([4]byte{192, 0, 2, 1}),
			Sequence:  uint32(d + 1),
			UptimeMS:  uint32(d * 1000),
		}
		n := 5 + rng.IntN(4)
		for i := 0; i < n; i++ {
			h := sflow.RawHeader{
				Protocol:    sflow.HeaderEthernet,
				FrameLength: uint32(64 + rng.IntN(1450)),
				Stripped:    4,
				SrcMAC:      sflow.MAC{2, 0, 0, 0, byte(i), byte(d)},
				DstMAC:      sflow.MAC{2, 0, 0, 1, byte(i), byte(d)},
				Network:     sflow.NetworkIPv4,
				SrcIP:       netip.AddrFrom4([4]byte{10, byte(d), byte(i), byte(rng.IntN(256))}),
				DstIP:       netip.AddrFrom4([4]byte{198, 51, 100, byte(rng.IntN(256))}),
				IPProto:     6,
				TTL:         64,
				SrcPort:     uint16(1024 + rng.IntN(60000)),
				DstPort:     443,
				TCPFlags:    0x10,
			}
			if rng.IntN(4) == 0 {
				h.VLANs, h.VLAN = 1, uint16(1+rng.IntN(4000))
			}
			if rng.IntN(5) == 0 {
				h.Network = sflow.NetworkIPv6
				h.SrcIP = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(d), 15: byte(i)})
				h.DstIP = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 15: byte(rng.IntN(256))})
			}
			if rng.IntN(3) == 0 {
				h.IPProto, h.DstPort = 17, 53
			}
			h.IPLength = uint16(h.FrameLength - 18)
			h.Header = sflow.AppendFrame(nil, &h, 128)
			f := sflow.FlowSample{
				Sequence:      uint32(d*8 + i),
				SourceIDIndex: uint32(1 + i%4),
				SamplingRate:  4096,
				SamplePool:    uint32((d*8 + i) * 4096),
				Input:         sflow.Interface{Value: uint32(1 + i%4)},
				Output:        sflow.Interface{Value: uint32(5 + i%4)},
			}
			f.RawHeader = h
			f.Switch = sflow.ExtendedSwitch{SrcVLAN: uint32(h.VLAN), DstVLAN: uint32(h.VLAN)}
			f.Present = sflow.HasRawHeader | sflow.HasSwitch
			dg.Flows = append(dg.Flows, f)
		}
		if d%4 == 0 {
			for port := uint32(1); port <= 2; port++ {
				c := sflow.CounterSample{Sequence: uint32(d), SourceIDIndex: port}
				c.Generic = sflow.GenericInterfaceCounters{
					IfIndex: port, IfType: 6, IfSpeed: 10_000_000_000, IfDirection: 1, IfStatus: 3,
					InOctets: uint64(d) << 30, InUcastPkts: uint32(d) << 10, OutOctets: uint64(d) << 29,
					OutUcastPkts: uint32(d) << 9, InUnknownProtos: sflow.Unknown32,
				}
				c.Present = sflow.HasGenericInterface | sflow.HasEthernetInterface
				dg.Counters = append(dg.Counters, c)
			}
		}
		set = append(set, sflow.AppendDatagram(nil, &dg))
	}
	return set
}

// pmacctSet loads the datagrams made by pmacctd's sfprobe plugin (see
// collector/sflow/testdata/README.md).
func pmacctSet(b *testing.B) [][]byte {
	files, err := filepath.Glob(filepath.Join("..", "collector", "sflow", "testdata", "pmacct", "*.bin"))
	if err != nil || len(files) == 0 {
		b.Fatalf("no pmacct seeds: %v", err)
	}
	sort.Strings(files)
	var set [][]byte
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		set = append(set, data)
	}
	return set
}

func avgSize(set [][]byte) int64 {
	n := 0
	for _, d := range set {
		n += len(d)
	}
	return int64(n / len(set))
}

// checkAgree makes sure both decoders accept every datagram and see the
// same samples and sampling rates, so that they are timed on equal work.
func checkAgree(b *testing.B, set [][]byte) {
	var d sflow.Decoder
	var dg sflow.Datagram
	for i, data := range set {
		if err := d.Decode(data, &dg); err != nil {
			b.Fatalf("elk: datagram %d: %v", i, err)
		}
		var p gfsflow.Packet
		if err := gfsflow.DecodeMessageVersion(bytes.NewBuffer(data), &p); err != nil {
			b.Fatalf("goflow2: datagram %d: %v", i, err)
		}
		if len(p.Samples) != len(dg.Flows)+len(dg.Counters) {
			b.Fatalf("datagram %d: goflow2 %d samples, elk %d", i, len(p.Samples), len(dg.Flows)+len(dg.Counters))
		}
		fi := 0
		for _, s := range p.Samples {
			var rate uint32
			switch s := s.(type) {
			case gfsflow.FlowSample:
				rate = s.SamplingRate
			case gfsflow.ExpandedFlowSample:
				rate = s.SamplingRate
			default:
				continue
			}
			if rate != dg.Flows[fi].SamplingRate {
				b.Fatalf("datagram %d flow %d: goflow2 rate %d, elk %d", i, fi, rate, dg.Flows[fi].SamplingRate)
			}
			fi++
		}
	}
}

// BenchmarkDecode decodes one datagram per op, cycling through each set.
// elk's decoder also parses every sampled header (Ethernet, VLAN, IP,
// TCP/UDP); goflow2's sflow decoder leaves the header bytes raw.
func BenchmarkDecode(b *testing.B) {
	sets := []struct {
		name string
		data [][]byte
	}{
		{"synthetic", syntheticSet()},
		{"pmacct", pmacctSet(b)},
	}
	for _, set := range sets {
		checkAgree(b, set.data)
		b.Run(set.name+"/goflow2", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(avgSize(set.data))
			var buf bytes.Buffer
			i := 0
			for b.Loop() {
				var p gfsflow.Packet
				buf = *bytes.NewBuffer(set.data[i])
				if err := gfsflow.DecodeMessageVersion(&buf, &p); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(set.data) {
					i = 0
				}
			}
		})
		b.Run(set.name+"/elk", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(avgSize(set.data))
			var d sflow.Decoder
			var dg sflow.Datagram
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
