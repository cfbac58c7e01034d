package sflow

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// The seeds under testdata/pmacct were made by pmacctd's sfprobe plugin (an
// independent sFlow encoder) from the pcaps beside them; see
// testdata/README.md and testdata/pmacct/make-seeds.sh.

// readPcap returns the frames of a little-endian microsecond pcap file.
func readPcap(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		t.Fatalf("%s: not a little-endian pcap", path)
	}
	var frames [][]byte
	for off := 24; off+16 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		off += 16
		if off+n > len(b) {
			t.Fatalf("%s: truncated record", path)
		}
		frames = append(frames, b[off:off+n])
		off += n
	}
	return frames
}

// seedSet decodes the datagrams of one pmacct run in order.
func seedSet(t *testing.T, name string) []*Datagram {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "pmacct", name+"-*.bin"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seeds for %s: %v", name, err)
	}
	sort.Strings(files)
	var d Decoder
	var out []*Datagram
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dg := new(Datagram)
		if err := d.Decode(b, dg); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, dg)
	}
	return out
}

func TestPmacctSeeds(t *testing.T) {
	agent := netip.MustParseAddr("192.0.2.10")
	for _, pcap := range []string{"crafted", "loopback"} {
		frames := readPcap(t, filepath.Join("testdata", "pmacct", pcap+".pcap"))
		for _, mode := range []struct {
			name string
			rate uint32
		}{{"rate1", 1}, {"ext512", 512}} {
			t.Run(pcap+"-"+mode.name, func(t *testing.T) {
				dgs := seedSet(t, pcap+"-"+mode.name)
				var flows []*FlowSample
				var counters []*CounterSample
				for i, dg := range dgs {
					if dg.AgentAddr != agent || dg.SubAgentID != 7 {
						t.Errorf("datagram %d: agent %v/%d, want %v/7", i, dg.AgentAddr, dg.SubAgentID, agent)
					}
					if dg.Sequence != uint32(i+1) {
						t.Errorf("datagram %d: sequence %d, want %d", i, dg.Sequence, i+1)
					}
					if int(dg.NumSamples) != len(dg.Flows)+len(dg.Counters) || len(dg.Unknown) != 0 {
						t.Errorf("datagram %d: %d samples declared, %d flows %d counters %d unknown", i, dg.NumSamples, len(dg.Flows), len(dg.Counters), dg.UnknownTotal())
					}
					for j := range dg.Flows {
						flows = append(flows, &dg.Flows[j])
					}
					for j := range dg.Counters {
						counters = append(counters, &dg.Counters[j])
					}
				}
				for i, f := range flows {
					if f.Sequence != uint32(i+1) {
						t.Errorf("flow %d: sequence %d, want %d", i, f.Sequence, i+1)
					}
					if f.SamplingRate != mode.rate {
						t.Errorf("flow %d: sampling rate %d, want %d", i, f.SamplingRate, mode.rate)
					}
					if mode.rate == 1 && f.SamplePool != f.Sequence {
						t.Errorf("flow %d: sample pool %d, want %d (every packet sampled)", i, f.SamplePool, f.Sequence)
					}
					if !f.Has(HasRawHeader | HasSwitch) {
						t.Errorf("flow %d: records %v, want a raw header and a switch record", i, f.Records)
					}
				}
				for _, c := range counters {
					if !c.Has(HasGenericInterface) {
						t.Errorf("counter sample without generic interface record: %v", c.Records)
						continue
					}
					if in := c.Generic.InUcastPkts; mode.rate == 1 && int(in) != len(flows) {
						t.Errorf("counter in_ucast_pkts %d, want %d (one flow sample per packet)", in, len(flows))
					}
				}
				if pcap == "loopback" {
					checkLoopback(t, flows, frames)
				} else {
					checkCrafted(t, flows, frames)
				}
			})
		}
	}
}

// checkLoopback: pmacct samples every packet of the loopback capture and
// sends it from the IP header on (header protocol 11/12) with
// frame_length = IP length + 4.
func checkLoopback(t *testing.T, flows []*FlowSample, frames [][]byte) {
	if len(flows) != len(frames) {
		t.Fatalf("%d flow samples, want one per packet (%d)", len(flows), len(frames))
	}
	for i, f := range flows {
		h := &f.RawHeader
		ip := frames[i][14:]
		if h.FrameLength != uint32(len(ip)+4) || h.Stripped != 4 {
			t.Errorf("flow %d: frame length %d stripped %d, want %d and 4", i, h.FrameLength, h.Stripped, len(ip)+4)
		}
		if !bytes.HasPrefix(ip, h.Header) || len(h.Header) == 0 {
			t.Errorf("flow %d: header bytes are not the packet's first %d bytes", i, len(h.Header))
		}
		switch h.Protocol {
		case HeaderIPv4:
			if h.Network != NetworkIPv4 || h.SrcIP != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("flow %d: network %d src %v", i, h.Network, h.SrcIP)
			}
		case HeaderIPv6:
			if h.Network != NetworkIPv6 || h.SrcIP != netip.IPv6Loopback() {
				t.Errorf("flow %d: network %d src %v", i, h.Network, h.SrcIP)
			}
		default:
			t.Errorf("flow %d: header protocol %d", i, h.Protocol)
		}
		switch h.IPProto {
		case protoTCP:
			if h.Parsed&LayerTCP == 0 || (h.SrcPort != 18080 && h.DstPort != 18080) {
				t.Errorf("flow %d: tcp ports %d->%d parsed %b", i, h.SrcPort, h.DstPort, h.Parsed)
			}
		case protoUDP:
			if h.Parsed&LayerUDP == 0 || h.DstPort != 19999 {
				t.Errorf("flow %d: udp port %d parsed %b", i, h.DstPort, h.Parsed)
			}
		case protoICMP, protoICMPv6:
			if h.Parsed&LayerICMP == 0 {
				t.Errorf("flow %d: icmp not parsed", i)
			}
		default:
			t.Errorf("flow %d: ip proto %d", i, h.IPProto)
		}
	}
}

// checkCrafted: pmacct samples the hand-built Ethernet frames it can parse
// (it skips some, e.g. QinQ) and sends them with their Ethernet header and
// frame_length = frame length + 4. Each flow's header must be the start of
// a later frame in the pcap, and the parsed fields must match what genpcap
// wrote for that frame.
func checkCrafted(t *testing.T, flows []*FlowSample, frames [][]byte) {
	next := 0
	kinds := map[string]int{}
	for i, f := range flows {
		h := &f.RawHeader
		k := next
		for k < len(frames) && !bytes.HasPrefix(frames[k], h.Header) {
			k++
		}
		if k == len(frames) || len(h.Header) == 0 {
			t.Fatalf("flow %d: header matches no frame", i)
		}
		next = k + 1
		if h.Protocol != HeaderEthernet || h.FrameLength != uint32(len(frames[k])+4) {
			t.Errorf("flow %d: protocol %d frame length %d, want 1 and %d", i, h.Protocol, h.FrameLength, len(frames[k])+4)
		}
		// genpcap's frame k has destination 192.0.2.k or 2001:db8::k.
		var dst netip.Addr
		if h.Network == NetworkIPv6 {
			dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(k)})
		} else {
			dst = netip.AddrFrom4([4]byte{192, 0, 2, byte(k)})
		}
		if h.DstIP != dst {
			t.Errorf("flow %d (frame %d): dst %v, want %v", i, k, h.DstIP, dst)
		}
		var kind string
		switch k % 8 {
		case 0:
			kind = "tcp"
			wantLayers(t, i, h, LayerEthernet|LayerIPv4|LayerTCP)
			want(t, "dst port", h.DstPort, uint16(443))
			want(t, "tcp flags", h.TCPFlags, uint8(0x18))
		case 1:
			kind = "vlan-udp"
			wantLayers(t, i, h, LayerEthernet|LayerVLAN|LayerIPv4|LayerUDP)
			want(t, "vlan", h.VLAN, uint16(100))
			want(t, "switch src vlan", f.Switch.SrcVLAN, uint32(100))
		case 2:
			kind = "qinq"
			wantLayers(t, i, h, LayerEthernet|LayerVLAN|LayerIPv4|LayerTCP)
			want(t, "vlans", [2]uint16{h.VLAN, h.InnerVLAN}, [2]uint16{200, 30})
		case 3:
			kind = "mpls"
			wantLayers(t, i, h, LayerEthernet|LayerMPLS|LayerIPv4|LayerUDP)
			want(t, "labels", [2]uint32{uint32(h.MPLSLabels), h.MPLSTopLabel}, [2]uint32{2, 1000})
			want(t, "dst port", h.DstPort, uint16(9001))
		case 4:
			kind = "ipv6-tcp"
			wantLayers(t, i, h, LayerEthernet|LayerIPv6|LayerTCP)
			want(t, "dst port", h.DstPort, uint16(22))
		case 5:
			kind = "ipv6-hbh-udp"
			wantLayers(t, i, h, LayerEthernet|LayerIPv6|LayerUDP)
			want(t, "dst port", h.DstPort, uint16(123))
		case 6:
			kind = "icmp"
			wantLayers(t, i, h, LayerEthernet|LayerIPv4|LayerICMP)
			want(t, "icmp type", h.ICMPType, uint8(8))
		case 7:
			kind = "vlan-icmpv6"
			wantLayers(t, i, h, LayerEthernet|LayerVLAN|LayerIPv6|LayerICMP)
			want(t, "vlan", h.VLAN, uint16(300))
			want(t, "icmpv6 type", h.ICMPType, uint8(128))
		}
		kinds[kind]++
	}
	for _, k := range []string{"tcp", "vlan-udp", "mpls", "ipv6-tcp", "ipv6-hbh-udp", "icmp", "vlan-icmpv6"} {
		if kinds[k] == 0 {
			t.Errorf("no %s flow among the pmacct seeds (got %v)", k, kinds)
		}
	}
}

func wantLayers(t *testing.T, i int, h *RawHeader, l Layers) {
	t.Helper()
	if h.Parsed != l {
		t.Errorf("flow %d: parsed layers %08b, want %08b", i, h.Parsed, l)
	}
}
