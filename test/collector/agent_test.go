package collector_test

import (
	"bytes"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elk-project/elk/agents/synth"
)

func TestAgentRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // part of the error message
	}{
		{name: "unknown scenario", args: []string{"--scenario", "tsunami"}, want: "unknown scenario"},
		{name: "zero rate", args: []string{"--rate", "0"}, want: "rate"},
		{name: "bad mix", args: []string{"--mix", "tcp=1,sctp=2"}, want: "--mix"},
		{name: "bad sampling rate", args: []string{"--sampling-rates", "256,zero"}, want: "--sampling-rates"},
		{name: "bad prefix", args: []string{"--local-prefixes", "10.0.0.0/33"}, want: "--local-prefixes"},
		{name: "missing tenants file", args: []string{"--tenants", "/nonexistent/tenants.yaml"}, want: "tenants"},
		{name: "spike outside its period", args: []string{"--scenario", "spike", "--spike-at", "2s", "--spike-for", "2s", "--spike-every", "3s"}, want: "spike"},
		{name: "stray argument", args: []string{"extra"}, want: "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"agent", "--target", "", "--duration", "1s"}, tc.args...)
			out, err := exec.Command(elkBin, args...).CombinedOutput()
			var ee *exec.ExitError
			if err == nil || !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("elk %v: err %v, want exit status 1\n%s", args, err, out)
			}
			if !strings.Contains(string(out), tc.want) || !strings.HasPrefix(string(out), "elk: ") {
				t.Errorf("elk %v printed %q, want an \"elk: \" error mentioning %q", args, out, tc.want)
			}
		})
	}
}

// TestAgentHelpDescribesEveryFlag checks that `elk agent --help` gives
// every flag a description.
func TestAgentHelpDescribesEveryFlag(t *testing.T) {
	out := runElk(t, 30*time.Second, "agent", "--help")
	_, section, ok := strings.Cut(out, "\nFlags:\n")
	if !ok {
		t.Fatalf("no Flags section in:\n%s", out)
	}
	section, _, _ = strings.Cut(section, "\n\n")
	flags := 0
	for _, line := range strings.Split(section, "\n") {
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, "-") {
			t.Errorf("unexpected line in Flags: %q", line)
			continue
		}
		flags++
		// "--name type   description": the description follows a gap.
		name, desc, ok := strings.Cut(trimmed, "   ")
		if !ok || strings.TrimSpace(desc) == "" {
			t.Errorf("flag without help: %q", name)
		}
	}
	for _, want := range []string{"--target", "--rate", "--duration", "--scenario", "--seed", "--truth", "--tenants", "--agents", "--pcap"} {
		if !strings.Contains(out, want+" ") {
			t.Errorf("help does not list %s", want)
		}
	}
	if flags < 20 {
		t.Errorf("help lists %d flags, want the full set", flags)
	}
	if !strings.Contains(out, "es-exporter") {
		t.Errorf("help does not list the es-exporter subcommand")
	}
}

// TestAgentInterruptedWritesExactTruth stops a long run with SIGINT: the
// agent exits 0 and its truth counts exactly the datagrams that arrived.
func TestAgentInterruptedWritesExactTruth(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_ = pc.(*net.UDPConn).SetReadBuffer(8 << 20)
	received := make(chan int)
	go func() {
		n := 0
		buf := make([]byte, 65536)
		for {
			_ = pc.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := pc.ReadFrom(buf); err != nil {
				received <- n
				return
			}
			n++
		}
	}()
	truthPath := filepath.Join(t.TempDir(), "truth.json")
	cmd := exec.Command(elkBin, agentArgs(pc.LocalAddr().String(), 2000, time.Hour, truthPath)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("agent after SIGINT: %v\n%s", err, out.String())
	}
	n := <-received
	truth, err := synth.ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("interrupted after %.2fs: truth %d datagrams / %d flow samples, %d datagrams received",
		truth.ElapsedSeconds, truth.Datagrams, truth.FlowSamples, n)
	if !truth.Interrupted || uint64(n) != truth.Datagrams || truth.FlowSamples == 0 {
		t.Errorf("interrupted=%v, received %d datagrams, truth %d", truth.Interrupted, n, truth.Datagrams)
	}
}
