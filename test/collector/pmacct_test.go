package collector_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elk-project/elk/agents/synth"
)

// TestSfacctdAgreesWithElk is a differential test against pmacct: the same
// datagrams go to the elk collector (over loopback) and to sfacctd, and
// both must report the same estimated packets and bytes, in total and per
// agent. sfacctd is fed twice: from the agent's capture (pcap_savefile),
// and over UDP on loopback, replaying that capture's datagrams.
//
// sfacctd semantics: with sfacctd_renormalize each flow sample counts for
// sampling_rate packets and frame_length × sampling_rate bytes (the raw
// header record's frame_length, FCS included) — the same estimates as elk's
// network.packets and network.bytes. peer_ip_src is the agent address of
// the datagram. Known difference: sfacctd 1.7.7 does not parse 802.1ad
// (0x88A8) outer tags and loses those samples, so this test sends no QinQ.
func TestSfacctdAgreesWithElk(t *testing.T) {
	sfacctd := requireTool(t, "sfacctd", "pmacct")
	dir := t.TempDir()
	pcap := filepath.Join(dir, "agent.pcap")
	truthPath := filepath.Join(dir, "truth.json")
	out := filepath.Join(dir, "flows.ndjson")

	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp"))
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp"))
	c := startCollector(t, listen, out, metrics)
	runElk(t, time.Minute, agentArgs(listen, 5000, 4*time.Second, truthPath,
		"--pcap", pcap, "--agents", "5", "--sub-agents", "2", "--expanded", "--vlan", "0.4")...)
	truth, err := synth.ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	waitReceived(t, c, truth.Datagrams)
	c.stop()
	elk := readDocs(t, out)
	t.Logf("truth: flow_samples=%d packets=%d bytes=%d", truth.FlowSamples, truth.Packets, truth.Bytes)
	t.Logf("elk:   flow_docs=%d packets=%d bytes=%d", elk.flows, elk.packets, elk.bytes)
	if elk.packets != truth.Packets || elk.bytes != truth.Bytes {
		t.Errorf("totals: elk %d packets / %d bytes, truth %d / %d", elk.packets, elk.bytes, truth.Packets, truth.Bytes)
	}

	t.Run("pcap_savefile", func(t *testing.T) {
		// sfacctd reads the capture and exits at its end, purging its
		// print plugin's cache as JSON.
		result := filepath.Join(t.TempDir(), "sfacctd.json")
		conf := writeSfacctdConf(t, result, "pcap_savefile: "+pcap)
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, sfacctd, "-f", conf)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfacctd: %v\n%s", err, b)
		}
		compareSfacctd(t, readSfacctd(t, result), elk)
	})

	t.Run("udp", func(t *testing.T) {
		tmp := t.TempDir()
		result := filepath.Join(tmp, "sfacctd.json")
		port := freePort(t, "udp")
		conf := writeSfacctdConf(t, result, "sfacctd_ip: 127.0.0.1", fmt.Sprintf("sfacctd_port: %d", port),
			"sfacctd_pipe_size: 8388608")
		logPath := filepath.Join(tmp, "sfacctd.log")
		logFile, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		defer logFile.Close()
		cmd := exec.Command(sfacctd, "-f", conf)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sfacctd: %v", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		defer func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				<-done
			}
		}()
		sfLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
		if !waitFor(15*time.Second, func() bool {
			l := sfLog()
			return strings.Contains(l, "waiting for sFlow data") && strings.Contains(l, "setting object handlers")
		}) {
			t.Fatalf("sfacctd did not start listening:\n%s", sfLog())
		}
		n := replayPcap(t, pcap, fmt.Sprintf("127.0.0.1:%d", port))
		if uint64(n) != truth.Datagrams {
			t.Fatalf("replayed %d datagrams, truth has %d", n, truth.Datagrams)
		}
		// Give sfacctd a moment to drain its socket, then stop it: on
		// SIGINT it purges the print plugin's cache and exits.
		time.Sleep(time.Second)
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("sfacctd exit: %v\n%s", err, sfLog())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("sfacctd still running 30s after SIGINT\n%s", sfLog())
		}
		compareSfacctd(t, readSfacctd(t, result), elk)
	})
}

// writeSfacctdConf writes an sfacctd configuration that prints renormalized
// packets and bytes per agent as JSON to result, plus the given lines.
func writeSfacctdConf(t *testing.T, result string, extra ...string) string {
	t.Helper()
	conf := filepath.Join(filepath.Dir(result), "sfacctd.conf")
	lines := append([]string{
		"daemonize: false",
		"plugins: print",
		"print_output: json",
		"print_output_file: " + result,
		"print_refresh_time: 300",
		"aggregate: peer_src_ip",
		"sfacctd_renormalize: true",
	}, extra...)
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// replayPcap sends the UDP payloads of a capture to addr in small bursts
// and returns how many it sent.
func replayPcap(t *testing.T, pcap, addr string) int {
	t.Helper()
	b, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := 0
	for off := 24; off+16 <= len(b); {
		size := int(binary.LittleEndian.Uint32(b[off+8:]))
		frame := b[off+16 : off+16+size]
		off += 16 + size
		const udpPayload = 14 + 20 + 8 // Ethernet, IPv4 without options, UDP
		if _, err := conn.Write(frame[udpPayload:]); err != nil {
			t.Fatalf("replay datagram %d: %v", n, err)
		}
		if n++; n%32 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	return n
}

// compareSfacctd checks sfacctd's per-agent totals against elk's documents.
func compareSfacctd(t *testing.T, pm map[string]*synth.Totals, elk docTotals) {
	t.Helper()
	var pmPackets, pmBytes uint64
	agents := make([]string, 0, len(pm))
	for a, tt := range pm {
		pmPackets += tt.Packets
		pmBytes += tt.Bytes
		agents = append(agents, a)
	}
	sort.Strings(agents)
	t.Logf("sfacctd: packets=%d bytes=%d (agents %v)", pmPackets, pmBytes, agents)
	if pmPackets != elk.packets || pmBytes != elk.bytes {
		t.Errorf("totals: sfacctd %d packets / %d bytes, elk %d / %d", pmPackets, pmBytes, elk.packets, elk.bytes)
	}
	if len(pm) != len(elk.agents) {
		t.Errorf("sfacctd saw %d agents, elk %d", len(pm), len(elk.agents))
	}
	for _, a := range agents {
		p, e := pm[a], elk.agents[a]
		if e == nil {
			t.Errorf("agent %s: in sfacctd's output, not in elk's", a)
			continue
		}
		t.Logf("agent %s: sfacctd %d packets %d bytes, elk %d packets %d bytes", a, p.Packets, p.Bytes, e.Packets, e.Bytes)
		if p.Packets != e.Packets || p.Bytes != e.Bytes {
			t.Errorf("agent %s: sfacctd %d packets / %d bytes, elk %d / %d", a, p.Packets, p.Bytes, e.Packets, e.Bytes)
		}
	}
}

// readSfacctd sums sfacctd's print plugin JSON lines per peer_ip_src.
func readSfacctd(t *testing.T, path string) map[string]*synth.Totals {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("sfacctd output: %v", err)
	}
	defer f.Close()
	out := map[string]*synth.Totals{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Peer    string `json:"peer_ip_src"`
			Packets uint64 `json:"packets"`
			Bytes   uint64 `json:"bytes"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("sfacctd output %q: %v", sc.Text(), err)
		}
		tt := out[rec.Peer]
		if tt == nil {
			tt = &synth.Totals{}
			out[rec.Peer] = tt
		}
		tt.Packets += rec.Packets
		tt.Bytes += rec.Bytes
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("sfacctd wrote no records to %s", path)
	}
	return out
}
