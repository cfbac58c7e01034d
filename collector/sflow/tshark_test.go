package sflow

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// writeSFlowPcap wraps each datagram in Ethernet/IPv4/UDP to port 6343 and
// writes them as a pcap file.
func writeSFlowPcap(t *testing.T, path string, dgs [][]byte) {
	t.Helper()
	var out []byte
	out = append(out, 0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0)
	for i, p := range dgs {
		udp := cat([]byte{0x9c, 0x40, 0x18, 0xc7}, binary.BigEndian.AppendUint16(nil, uint16(8+len(p))), []byte{0, 0}, p)
		ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1}
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
		frame := cat(make([]byte, 12), []byte{0x08, 0x00}, ip, udp)
		var rec [16]byte
		binary.LittleEndian.PutUint32(rec[0:], uint32(1_700_000_000+i))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
		out = append(out, rec[:]...)
		out = append(out, frame...)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tsharkFields writes dgs to a capture and returns tshark's tab-separated
// fields, one line per datagram (repeated values joined by commas).
func tsharkFields(t *testing.T, tshark string, dgs [][]byte, fields ...string) []string {
	t.Helper()
	pcap := filepath.Join(t.TempDir(), "sflow.pcap")
	writeSFlowPcap(t, pcap, dgs)
	args := []string{"-r", pcap, "-T", "fields", "-E", "separator=/t", "-E", "aggregator=,"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tshark, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(dgs) {
		t.Fatalf("tshark printed %d lines for %d datagrams", len(lines), len(dgs))
	}
	return lines
}

// TestTsharkAgrees decodes the pmacct seeds and the encoder's output with
// tshark (an independent decoder) and checks it sees the same sample
// counts, sampling rates and frame lengths as elk. It is skipped when
// tshark is not installed.
func TestTsharkAgrees(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (Debian package tshark)")
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "pmacct", "*.bin"))
	sort.Strings(files)
	var dgs [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dgs = append(dgs, b)
	}
	full := fullDatagram()
	full.Discards = nil // tshark 4.0 does not decode discarded packet samples
	dgs = append(dgs, AppendDatagram(nil, full))
	lines := tsharkFields(t, tshark, dgs, "sflow_245.numsamples", "sflow.flow_sample.sampling_rate", "sflow_245.header.frame_length")
	var d Decoder
	var dg Datagram
	for i, line := range lines {
		if err := d.Decode(dgs[i], &dg); err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		fields := strings.Split(line, "\t")
		for len(fields) < 3 {
			fields = append(fields, "")
		}
		var rates, lengths []string
		for _, f := range dg.Flows {
			rates = append(rates, strconv.FormatUint(uint64(f.SamplingRate), 10))
			if f.Has(HasRawHeader) {
				lengths = append(lengths, strconv.FormatUint(uint64(f.RawHeader.FrameLength), 10))
			}
		}
		want(t, "datagram "+strconv.Itoa(i)+" samples", fields[0], strconv.FormatUint(uint64(dg.NumSamples), 10))
		want(t, "datagram "+strconv.Itoa(i)+" sampling rates", fields[1], strings.Join(rates, ","))
		want(t, "datagram "+strconv.Itoa(i)+" frame lengths", fields[2], strings.Join(lengths, ","))
	}
}

// TestTsharkAgreesOnNAT: tshark decodes the extended NAT record (0:1007)
// to the same translated addresses as elk, for IPv4 and IPv6 and for
// several samples per datagram. (tshark 4.0 does not know the tunnel and
// NAT port records.)
func TestTsharkAgreesOnNAT(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (Debian package tshark)")
	}
	var dgs [][]byte
	var want []string
	for i := 0; i < 20; i++ {
		in := &Datagram{AgentAddr: netip.MustParseAddr("192.0.2.1"), Sequence: uint32(i)}
		var srcs, dsts []string
		for j := 0; j <= i%3; j++ {
			f := FlowSample{Sequence: uint32(j), SamplingRate: 100}
			f.Present = HasNAT
			src := netip.AddrFrom4([4]byte{198, 51, byte(i), byte(j + 1)})
			dst := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i*3 + j)})
			if (i+j)%2 == 1 {
				src, dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i), 15: byte(j)}), netip.AddrFrom4([4]byte{203, 0, 113, byte(i*3 + j)})
			}
			f.Ext = &FlowExtensions{NAT: ExtendedNAT{Src: src, Dst: dst}}
			in.Flows = append(in.Flows, f)
			srcs, dsts = append(srcs, src.String()), append(dsts, dst.String())
		}
		b := AppendDatagram(nil, in)
		var d Decoder
		var out Datagram
		if err := d.Decode(b, &out); err != nil {
			t.Fatal(err)
		}
		var gotSrc, gotDst []string
		for _, f := range out.Flows {
			gotSrc, gotDst = append(gotSrc, f.Ext.NAT.Src.String()), append(gotDst, f.Ext.NAT.Dst.String())
		}
		if strings.Join(gotSrc, ",") != strings.Join(srcs, ",") || strings.Join(gotDst, ",") != strings.Join(dsts, ",") {
			t.Fatalf("datagram %d: elk decoded %v → %v, sent %v → %v", i, gotSrc, gotDst, srcs, dsts)
		}
		dgs = append(dgs, b)
		want = append(want, strings.Join(gotSrc, ",")+" "+strings.Join(gotDst, ","))
	}
	lines := tsharkFields(t, tshark, dgs, "sflow_245.ipv4_src", "sflow_245.ipv6_src", "sflow_245.ipv4_dst", "sflow_245.ipv6_dst")
	for i, line := range lines {
		f := strings.Split(line, "\t")
		for len(f) < 4 {
			f = append(f, "")
		}
		// tshark lists IPv4 and IPv6 addresses in separate fields; compare
		// as sets per side.
		got := sortedJoin(f[0], f[1]) + " " + sortedJoin(f[2], f[3])
		parts := strings.SplitN(want[i], " ", 2)
		if exp := sortedJoin(parts[0]) + " " + sortedJoin(parts[1]); got != exp {
			t.Errorf("datagram %d: tshark %q, elk %q", i, got, exp)
		}
	}
	t.Logf("tshark and elk agree on the NAT addresses of %d datagrams", len(dgs))
}

func sortedJoin(lists ...string) string {
	var all []string
	for _, l := range lists {
		if l != "" {
			all = append(all, strings.Split(l, ",")...)
		}
	}
	sort.Strings(all)
	return strings.Join(all, ",")
}
