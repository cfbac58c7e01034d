package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/collector/sflow"
)

func freeUDPPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func freeTCPPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestCollectorCommand runs `elk collector` in-process: it must serve
// /healthz, write the documents of what it receives to both outputs, and
// return nil when its context ends (SIGTERM in main).
func TestCollectorCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	listen, metrics := freeUDPPort(t), freeTCPPort(t)
	cmd := newCollectorCmd()
	var stdout bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetArgs([]string{"--listen", listen, "--output", "file:" + out, "--output", "stdout", "--metrics", metrics})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + metrics + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("collector never became healthy: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	h := sflow.RawHeader{Protocol: sflow.HeaderEthernet, FrameLength: 1000, EtherType: 0x0800, Network: sflow.NetworkIPv4,
		SrcIP: netip.MustParseAddr("10.0.0.1"), DstIP: netip.MustParseAddr("10.0.0.2"), IPProto: 6, TTL: 64, IPLength: 982}
	h.Header = sflow.AppendFrame(nil, &h, 64)
	h.HeaderSize = uint32(len(h.Header))
	dg := &sflow.Datagram{AgentAddr: netip.MustParseAddr("192.0.2.1"), Sequence: 1, UptimeMS: 1000, NumSamples: 1}
	f := sflow.FlowSample{Sequence: 1, SamplingRate: 100}
	f.RawHeader = h
	f.Present = sflow.HasRawHeader
	f.Records = []sflow.DataFormat{sflow.FlowRawHeader}
	dg.Flows = append(dg.Flows, f)
	conn, err := net.Dial("udp", listen)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write(sflow.AppendDatagram(nil, dg))
	conn.Close()
	for {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if strings.Contains(b.String(), `elk_collector_documents_total{dataset="sflow.flow",stream="operator"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("document not produced")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("collector returned %v on shutdown, want nil (exit 0)", err)
	}
	fileOut, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"file": fileOut, "stdout": stdout.Bytes()} {
		var d struct {
			Network struct{ Packets, Bytes uint64 }
		}
		if err := json.Unmarshal(bytes.TrimSpace(b), &d); err != nil {
			t.Fatalf("%s output %q: %v", name, b, err)
		}
		if d.Network.Packets != 100 || d.Network.Bytes != 100000 {
			t.Errorf("%s output: packets %d bytes %d, want 100 and 100000", name, d.Network.Packets, d.Network.Bytes)
		}
	}
}

func TestCollectorCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no output", []string{"--listen", "127.0.0.1:0"}, "output"},
		{"unknown output", []string{"--listen", "127.0.0.1:0", "--output", "carrier-pigeon:x"}, "unknown kind"},
		{"empty file", []string{"--listen", "127.0.0.1:0", "--output", "file:"}, "file:PATH"},
		{"bad listen", []string{"--listen", "nonsense", "--output", "stdout"}, "listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newCollectorCmd()
			cmd.SetArgs(tc.args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
