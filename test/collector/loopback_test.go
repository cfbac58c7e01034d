package collector_test

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/elk-project/elk/agents/synth"
)

// Collector metric families the tests read.
const (
	metricDatagrams   = "elk_collector_received_datagrams_total"
	metricKernelDrops = "elk_collector_kernel_drops_total"
	metricQueueDrops  = "elk_collector_queue_drops_total"
	metricDecodeErrs  = "elk_collector_decode_errors_total"
	metricTenantPkts  = "elk_collector_tenant_estimated_packets_total"
	metricTenantBytes = "elk_collector_tenant_estimated_bytes_total"
	metricUnmatched   = "elk_collector_unmatched_flows_total"
	metricEstPackets  = "elk_collector_estimated_packets_total"
	metricEstBytes    = "elk_collector_estimated_bytes_total"
	metricSamples     = "elk_collector_agent_samples_total"
	metricAgentDgrams = "elk_collector_agent_datagrams_total"
	metricLoss        = "elk_collector_loss_total"
	metricDgramGaps   = "elk_collector_agent_datagram_sequence_gaps_total"
	metricSampleGaps  = "elk_collector_agent_sample_sequence_gaps_total"
	metricRestarts    = "elk_collector_agent_restarts_total"
)

// waitReceived waits until the collector has received and decoded n
// datagrams (or a timeout, after which the comparisons report the
// difference).
func waitReceived(t *testing.T, c *collector, n uint64) {
	t.Helper()
	var received, decoded float64
	ok := waitFor(20*time.Second, func() bool {
		m, err := c.scrape()
		if err != nil {
			return false
		}
		received, _ = m.sum(metricDatagrams)
		decoded, _ = m.sum(metricAgentDgrams)
		return uint64(received) >= n && uint64(decoded) >= n
	})
	if !ok {
		t.Logf("collector received %.0f and decoded %.0f datagrams of %d after waiting", received, decoded, n)
	}
}

// TestLoopbackZeroLoss is the collector's headline check: 20,000 flow
// samples per second for 10 s from the agent over loopback, and the
// collector's documents add up exactly to the agent's truth — flows,
// estimated packets and bytes, per agent and per tenant — with its metrics
// agreeing and reporting no drops.
func TestLoopbackZeroLoss(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "flows.ndjson")
	truthPath := filepath.Join(dir, "truth.json")
	tenants := filepath.Join("testdata", "tenants.yaml")

	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp"))
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp"))
	c := startCollector(t, listen, out, metrics, "--tenants", tenants)

	start := time.Now()
	runElk(t, time.Minute, agentArgs(listen, 20000, 10*time.Second, truthPath,
		"--tenants", tenants, "--counter-interval", "2s", "--local-prefixes", "10.0.0.0/8,172.16.0.0/12,fd00:e1c::/48",
		"--sub-agents", "2", "--expanded", "--vlan", "0.4", "--qinq", "0.2")...)
	sent := time.Since(start)
	truth, err := synth.ReadTruth(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	waitReceived(t, c, truth.Datagrams)
	m, err := c.scrape()
	if err != nil {
		t.Fatalf("scrape metrics: %v", err)
	}
	stopAt := time.Now()
	c.stop()
	readAt := time.Now()
	docs := readDocs(t, out)
	t.Logf("collector drained and stopped in %v; documents read in %v",
		readAt.Sub(stopAt).Round(time.Millisecond), time.Since(readAt).Round(time.Millisecond))

	t.Logf("agent sent in %v: datagrams=%d flow_samples=%d counter_samples=%d packets=%d bytes=%d",
		sent.Round(time.Millisecond), truth.Datagrams, truth.FlowSamples, truth.CounterSamples, truth.Packets, truth.Bytes)
	t.Logf("collector docs:  flow_docs=%d counter_docs=%d (one per counter record; truth %d) packets=%d bytes=%d",
		docs.flows, docs.counters, truth.CounterRecords, docs.packets, docs.bytes)

	check := func(what string, got, want uint64) {
		t.Helper()
		if got != want {
			t.Errorf("%s: collector %d, truth %d (diff %d)", what, got, want, int64(got)-int64(want))
		}
	}
	if truth.FlowSamples != 200000 {
		t.Errorf("agent generated %d flow samples, want 20000/s × 10s = 200000", truth.FlowSamples)
	}
	check("flow documents", docs.flows, truth.FlowSamples)
	check("network.packets", docs.packets, truth.Packets)
	check("network.bytes", docs.bytes, truth.Bytes)
	check("counter documents (one per counter record)", docs.counters, truth.CounterRecords)

	for addr, want := range truth.Agents {
		got := docs.agents[addr]
		if got == nil {
			t.Errorf("agent %s: no documents", addr)
			continue
		}
		check("flows of agent "+addr, got.FlowSamples, want.FlowSamples)
		check("packets of agent "+addr, got.Packets, want.Packets)
		check("bytes of agent "+addr, got.Bytes, want.Bytes)
	}

	ids := make([]string, 0, len(truth.Tenants))
	for id := range truth.Tenants {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		want := truth.Tenants[id]
		got := docs.tenants[id]
		if got == nil {
			got = &synth.Totals{}
		}
		mp, _ := m.sum(metricTenantPkts, `tenant="`+id+`"`)
		mb, _ := m.sum(metricTenantBytes, `tenant="`+id+`"`)
		t.Logf("tenant %-12s truth flows=%d packets=%d bytes=%d; docs flows=%d packets=%d bytes=%d; metrics packets=%.0f bytes=%.0f",
			id, want.FlowSamples, want.Packets, want.Bytes, got.FlowSamples, got.Packets, got.Bytes, mp, mb)
		check("flow documents of tenant "+id, got.FlowSamples, want.FlowSamples)
		check("packets of tenant "+id, got.Packets, want.Packets)
		check("bytes of tenant "+id, got.Bytes, want.Bytes)
		check("packets metric of tenant "+id, uint64(mp), want.Packets)
		check("bytes metric of tenant "+id, uint64(mb), want.Bytes)
	}

	if truth.Unmatched != nil {
		um, _ := m.sum(metricUnmatched)
		t.Logf("flows matching no tenant: truth %d, metric %.0f", truth.Unmatched.FlowSamples, um)
		check("unmatched flows (metric)", uint64(um), truth.Unmatched.FlowSamples)
	}

	dg, ok := m.sum(metricDatagrams)
	if !ok {
		t.Fatalf("metric %s missing; families: %v", metricDatagrams, m.families())
	}
	kd, _ := m.sum(metricKernelDrops)
	qd, _ := m.sum(metricQueueDrops)
	de, _ := m.sum(metricDecodeErrs)
	t.Logf("collector metrics: datagrams=%.0f kernel_drops=%.0f queue_drops=%.0f decode_errors=%.0f", dg, kd, qd, de)
	check("datagrams received (metric)", uint64(dg), truth.Datagrams)
	if kd != 0 || qd != 0 || de != 0 {
		t.Errorf("drops: kernel %.0f, queue %.0f, decode errors %.0f; want none", kd, qd, de)
	}
	metric := func(name string, labels ...string) uint64 {
		t.Helper()
		v, ok := m.sum(name, labels...)
		if !ok && len(labels) == 0 {
			t.Errorf("metric %s missing", name)
		}
		return uint64(v)
	}
	check("estimated packets (metric)", metric(metricEstPackets), truth.Packets)
	check("estimated bytes (metric)", metric(metricEstBytes), truth.Bytes)
	check("flow samples (metric)", metric(metricSamples, `type="flow"`), truth.FlowSamples)
	check("counter samples (metric)", metric(metricSamples, `type="counter"`), truth.CounterSamples)
	for addr, want := range truth.Agents {
		check("datagrams of agent "+addr+" (metric)", metric(metricAgentDgrams, `agent="`+addr+`"`), want.Datagrams)
	}
	for _, name := range []string{metricLoss, metricDgramGaps, metricSampleGaps, metricRestarts} {
		if v, _ := m.sum(name); v != 0 {
			t.Errorf("%s = %.0f, want 0", name, v)
		}
	}
}
