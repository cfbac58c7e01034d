package collector_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/agents/synth"
)

// TestSfacctdAgreesWithElk is a differential test against pmacct: the same
// datagrams go to the elk collector (over loopback) and to sfacctd (from the
// agent's capture of them), and both must report the same estimated packets
// and bytes, in total and per agent.
//
// sfacctd semantics: with sfacctd_renormalize each flow sample counts for
// sampling_rate packets and frame_length × sampling_rate bytes (the raw
// header record's frame_length, FCS included) — the same estimates as elk's
// network.packets and network.bytes. peer_src_ip is the sender of the UDP
// datagram, which in the agent's capture is the agent address.
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
		"--pcap", pcap, "--agents", "5", "--expanded", "--vlan", "0.4")...)
	truth, err := synth.ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	waitReceived(t, c, truth.Datagrams)
	c.stop()
	elk := readDocs(t, out)

	// sfacctd reads the capture (pcap_savefile) and exits at its end,
	// purging its print plugin's cache as JSON.
	result := filepath.Join(dir, "sfacctd.json")
	conf := filepath.Join(dir, "sfacctd.conf")
	err = os.WriteFile(conf, []byte(strings.Join([]string{
		"daemonize: false",
		"pcap_savefile: " + pcap,
		"plugins: print",
		"print_output: json",
		"print_output_file: " + result,
		"print_refresh_time: 300",
		"aggregate: peer_src_ip",
		"sfacctd_renormalize: true",
		"",
	}, "\n")), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sfacctd, "-f", conf)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("sfacctd: %v\n%s", err, log.String())
	}
	pm := readSfacctd(t, result)

	var pmPackets, pmBytes uint64
	agents := make([]string, 0, len(pm))
	for a, tt := range pm {
		pmPackets += tt.Packets
		pmBytes += tt.Bytes
		agents = append(agents, a)
	}
	sort.Strings(agents)
	t.Logf("truth:   flow_samples=%d packets=%d bytes=%d", truth.FlowSamples, truth.Packets, truth.Bytes)
	t.Logf("elk:     flow_docs=%d packets=%d bytes=%d", elk.flows, elk.packets, elk.bytes)
	t.Logf("sfacctd: packets=%d bytes=%d (agents %v)", pmPackets, pmBytes, agents)
	if pmPackets != elk.packets || pmBytes != elk.bytes {
		t.Errorf("totals: sfacctd %d packets / %d bytes, elk %d / %d", pmPackets, pmBytes, elk.packets, elk.bytes)
	}
	if elk.packets != truth.Packets || elk.bytes != truth.Bytes {
		t.Errorf("totals: elk %d packets / %d bytes, truth %d / %d", elk.packets, elk.bytes, truth.Packets, truth.Bytes)
	}
	if len(pm) != len(truth.Agents) {
		t.Errorf("sfacctd saw %d agents, truth has %d", len(pm), len(truth.Agents))
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
