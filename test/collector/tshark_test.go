package collector_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/agents/synth"
)

// TestTsharkDecodesAgentDatagrams checks the agent's datagrams with an
// independent decoder: tshark must see the same datagrams, flow and counter
// samples, sampling rates and frame lengths as the agent's truth.
func TestTsharkDecodesAgentDatagrams(t *testing.T) {
	tshark := requireTool(t, "tshark", "tshark")
	dir := t.TempDir()
	pcap := filepath.Join(dir, "agent.pcap")
	truthPath := filepath.Join(dir, "truth.json")
	// No target: the datagrams only go to the capture, generated unpaced.
	runElk(t, time.Minute, agentArgs("", 3000, 4*time.Second, truthPath,
		"--pcap", pcap, "--agents", "3", "--sub-agents", "2", "--expanded",
		"--vlan", "0.5", "--qinq", "0.2", "--counter-interval", "1s")...)
	truth, err := synth.ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(tshark, "-n", "-r", pcap, "-d", "udp.port==6343,sflow", "-T", "fields",
		"-E", "occurrence=a", "-E", "separator=|", "-E", "aggregator=,",
		"-e", "sflow_245.agent", "-e", "sflow_245.sub_agent_id", "-e", "sflow_245.sequence_number",
		"-e", "sflow_245.numsamples", "-e", "sflow_245.sampletype",
		"-e", "sflow.flow_sample.sampling_rate", "-e", "sflow_245.header.frame_length")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}

	var (
		datagrams, flows, counters uint64
		packets, byteSum, frameSum uint64
		rates                      = map[uint32]uint64{}
		agents                     = map[string]*synth.Totals{}
		lastSeq                    = map[string]uint64{}
	)
	for n, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 7 {
			t.Fatalf("tshark line %d: want 7 fields, got %q", n+1, line)
		}
		datagrams++
		agent, sub := f[0], f[1]
		seq := atou(t, f[2])
		key := agent + "/" + sub
		if prev, ok := lastSeq[key]; ok && seq != prev+1 {
			t.Errorf("datagram %d: sequence of %s jumps from %d to %d", n+1, key, prev, seq)
		}
		lastSeq[key] = seq
		types := splitList(f[4])
		if uint64(len(types)) != atou(t, f[3]) {
			t.Fatalf("datagram %d: numsamples %s but %d samples decoded", n+1, f[3], len(types))
		}
		sampleRates, frameLens := splitList(f[5]), splitList(f[6])
		if len(sampleRates) != len(frameLens) {
			t.Fatalf("datagram %d: %d sampling rates but %d frame lengths", n+1, len(sampleRates), len(frameLens))
		}
		a := agents[agent]
		if a == nil {
			a = &synth.Totals{}
			agents[agent] = a
		}
		a.Datagrams++
		var nflow int
		for _, ty := range types {
			switch ty {
			case "1", "3":
				nflow++
			case "2", "4":
				counters++
				a.CounterSamples++
			default:
				t.Errorf("datagram %d: unexpected sample type %s", n+1, ty)
			}
		}
		if nflow != len(sampleRates) {
			t.Fatalf("datagram %d: %d flow samples but %d sampling rates", n+1, nflow, len(sampleRates))
		}
		for i := range sampleRates {
			r, l := atou(t, sampleRates[i]), atou(t, frameLens[i])
			flows++
			packets += r
			byteSum += r * l
			frameSum += l
			rates[uint32(r)]++
			a.FlowSamples++
			a.Packets += r
			a.Bytes += r * l
		}
	}
	t.Logf("tshark: datagrams=%d flow_samples=%d counter_samples=%d packets=%d bytes=%d frame_bytes=%d rates=%v",
		datagrams, flows, counters, packets, byteSum, frameSum, rates)
	t.Logf("truth:  datagrams=%d flow_samples=%d counter_samples=%d packets=%d bytes=%d frame_bytes=%d rates=%v",
		truth.Datagrams, truth.FlowSamples, truth.CounterSamples, truth.Packets, truth.Bytes, truth.SampledFrameBytes, truth.SamplingRates)

	check := func(what string, got, want uint64) {
		t.Helper()
		if got != want {
			t.Errorf("%s: tshark %d, truth %d", what, got, want)
		}
	}
	check("datagrams", datagrams, truth.Datagrams)
	check("flow samples", flows, truth.FlowSamples)
	check("counter samples", counters, truth.CounterSamples)
	check("packets (Σ sampling rate)", packets, truth.Packets)
	check("bytes (Σ frame length × sampling rate)", byteSum, truth.Bytes)
	check("Σ frame length", frameSum, truth.SampledFrameBytes)
	if flows != 12000 {
		t.Errorf("flow samples: %d, want 3000/s × 4s = 12000", flows)
	}
	for r, n := range truth.SamplingRates {
		check("samples at rate "+strconv.Itoa(int(r)), rates[r], n)
	}
	check("distinct sampling rates", uint64(len(rates)), uint64(len(truth.SamplingRates)))
	for addr, want := range truth.Agents {
		got := agents[addr]
		if got == nil {
			t.Errorf("agent %s: not seen by tshark", addr)
			continue
		}
		if *got != *want {
			t.Errorf("agent %s: tshark %+v, truth %+v", addr, *got, *want)
		}
	}
	if len(lastSeq) != 6 {
		t.Errorf("agent/sub-agent streams: %d, want 3 agents × 2 sub-agents", len(lastSeq))
	}
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func atou(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return v
}
