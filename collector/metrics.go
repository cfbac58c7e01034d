package collector

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/sflow"
)

// Loss stages of elk_collector_loss_total.
const (
	stageNetwork = "network" // datagram or sample sequence gaps
	stageAgent   = "agent"   // drops the agent reports
	stageKernel  = "kernel"  // socket buffer overflow
	stageQueue   = "queue"   // decode queue full
	stageDecode  = "decode"  // malformed datagrams
	stageSink    = "sink"    // documents a sink did not accept
)

// otherAgent is the label used once MaxAgents distinct agents have been
// seen, so spoofed agent addresses cannot blow up metric cardinality.
const otherAgent = "_other"

type metrics struct {
	loss *prometheus.CounterVec
	// loss counters, by stage and unit
	lossDatagramGaps, lossSampleGaps, lossAgentDrops prometheus.Counter
	lossKernel, lossQueue, lossDecode, lossSink      prometheus.Counter

	agentDatagrams *prometheus.CounterVec
	agentSamples   *prometheus.CounterVec
	datagramGaps   *prometheus.CounterVec
	sampleGaps     *prometheus.CounterVec
	agentDrops     *prometheus.CounterVec
	restarts       *prometheus.CounterVec
	reordered      *prometheus.CounterVec
	lastSeen       *prometheus.GaugeVec
	samplingRate   *prometheus.GaugeVec
	agents         prometheus.Gauge
	stateBytes     prometheus.Gauge
	stateBudget    prometheus.Gauge
	stateEvictions prometheus.Counter

	decodeErrors   *prometheus.CounterVec
	decodeDuration prometheus.Histogram
	records        *prometheus.CounterVec
	unknown        *prometheus.CounterVec
	documents      *prometheus.CounterVec
	estPackets     prometheus.Counter
	estBytes       prometheus.Counter
	discards       prometheus.Counter
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	agent := []string{"agent", "sub_agent"}
	m := &metrics{
		loss: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_loss_total",
			Help: "Data lost, by stage (network, agent, kernel, queue, decode, sink) and unit (datagrams, samples, documents).",
		}, []string{"stage", "unit"}),
		agentDatagrams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_agent_datagrams_total", Help: "Datagrams decoded, per agent."}, agent),
		agentSamples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_agent_samples_total", Help: "Samples decoded, per agent and type (flow, counter, discard)."},
			[]string{"agent", "sub_agent", "type"}),
		datagramGaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_agent_datagram_sequence_gaps_total", Help: "Datagrams missing from an agent's datagram sequence."}, agent),
		sampleGaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_agent_sample_sequence_gaps_total", Help: "Samples missing from the per-source sample sequences of an agent."}, agent),
		agentDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_agent_reported_drops_total", Help: "Samples an agent reports it dropped (delta of the drops field)."}, agent),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_agent_restarts_total", Help: "Agent restarts detected (sequence reset or uptime going backwards)."}, agent),
		reordered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_agent_reordered_datagrams_total", Help: "Datagrams that arrived late or twice (sequence not ahead of the last one)."}, agent),
		lastSeen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elk_collector_agent_last_seen_timestamp_seconds", Help: "Unix time of an agent's last datagram."}, agent),
		samplingRate: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elk_collector_agent_sampling_rate", Help: "Sampling rate of an agent's last flow sample (1 in N)."}, agent),
		agents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "elk_collector_agents", Help: "Agents seen since start (bounded by the agent limit)."}),
		stateBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "elk_collector_state_bytes", Help: "Estimated memory of the agent state remembered (agents, their sources and counters)."}),
		stateBudget: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "elk_collector_state_budget_bytes", Help: "Memory the agent state may use (--state-memory); the least recently heard agents are forgotten beyond it."}),
		stateEvictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "elk_collector_state_evictions_total", Help: "Agents forgotten to stay within the state budget (least recently heard first)."}),
		decodeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_decode_errors_total", Help: "Datagrams that failed to decode, per sender address and reason."},
			[]string{"agent", "reason"}),
		decodeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "elk_collector_decode_duration_seconds",
			Help:    "Time to decode one datagram and build its documents.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10),
		}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_records_total", Help: "Flow and counter records decoded, per enterprise:format."}, []string{"record"}),
		unknown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_unknown_structures_total", Help: "Samples and records skipped because their type is unknown, per kind and enterprise:format."},
			[]string{"kind", "format"}),
		documents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_documents_total", Help: "Documents produced, per dataset and stream (operator, tenant)."},
			[]string{"dataset", "stream"}),
		estPackets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "elk_collector_estimated_packets_total", Help: "Estimated packets of all flow samples (sum of sampling rates), each sample counted once."}),
		estBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "elk_collector_estimated_bytes_total", Help: "Estimated bytes of all flow samples (sum of frame length times sampling rate), each sample counted once."}),
		discards: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "elk_collector_discard_samples_total", Help: "Discarded packet samples (0:5) received; they are counted, not turned into documents."}),
	}
	m.lossDatagramGaps = m.loss.WithLabelValues(stageNetwork, "datagrams")
	m.lossSampleGaps = m.loss.WithLabelValues(stageNetwork, "samples")
	m.lossAgentDrops = m.loss.WithLabelValues(stageAgent, "samples")
	m.lossKernel = m.loss.WithLabelValues(stageKernel, "datagrams")
	m.lossQueue = m.loss.WithLabelValues(stageQueue, "datagrams")
	m.lossDecode = m.loss.WithLabelValues(stageDecode, "datagrams")
	m.lossSink = m.loss.WithLabelValues(stageSink, "documents")
	for _, ds := range []string{"sflow.flow", "sflow.counters"} {
		m.documents.WithLabelValues(ds, "operator")
		m.documents.WithLabelValues(ds, "tenant")
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.loss, m.agentDatagrams, m.agentSamples, m.datagramGaps, m.sampleGaps,
			m.agentDrops, m.restarts, m.reordered, m.lastSeen, m.samplingRate, m.agents, m.stateBytes, m.stateBudget, m.stateEvictions, m.decodeErrors, m.decodeDuration,
			m.records, m.unknown, m.documents, m.estPackets, m.estBytes, m.discards} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register collector metrics: %w", err)
			}
		}
	}
	return m, nil
}

// agentMetrics are one agent's series, resolved once when it is first seen.
type agentMetrics struct {
	datagrams, flows, counters, discards prometheus.Counter
	datagramGaps, sampleGaps, drops      prometheus.Counter
	restarts, reordered                  prometheus.Counter
	lastSeen, samplingRate               prometheus.Gauge
}

func (m *metrics) forAgent(agent string, sub uint32) *agentMetrics {
	s := strconv.FormatUint(uint64(sub), 10)
	if agent == otherAgent {
		s = ""
	}
	return &agentMetrics{
		datagrams:    m.agentDatagrams.WithLabelValues(agent, s),
		flows:        m.agentSamples.WithLabelValues(agent, s, "flow"),
		counters:     m.agentSamples.WithLabelValues(agent, s, "counter"),
		discards:     m.agentSamples.WithLabelValues(agent, s, "discard"),
		datagramGaps: m.datagramGaps.WithLabelValues(agent, s),
		sampleGaps:   m.sampleGaps.WithLabelValues(agent, s),
		drops:        m.agentDrops.WithLabelValues(agent, s),
		restarts:     m.restarts.WithLabelValues(agent, s),
		reordered:    m.reordered.WithLabelValues(agent, s),
		lastSeen:     m.lastSeen.WithLabelValues(agent, s),
		samplingRate: m.samplingRate.WithLabelValues(agent, s),
	}
}

// decodeErrorMetrics are one sender's decode error series, by reason. A
// sender's own series are made when its first error of a reason happens
// (one worker owns them); the shared "_other" ones exist from the start
// and are only read.
type decodeErrorMetrics struct {
	vec    *prometheus.CounterVec
	sender string
	lazy   bool
	by     map[string]prometheus.Counter
}

func (m *metrics) forSender(sender string, lazy bool) *decodeErrorMetrics {
	d := &decodeErrorMetrics{vec: m.decodeErrors, sender: sender, lazy: lazy, by: map[string]prometheus.Counter{}}
	if !lazy {
		for _, r := range sflow.Reasons() {
			d.by[r] = m.decodeErrors.WithLabelValues(sender, r)
		}
	}
	return d
}

// inc counts one error of a known reason.
func (d *decodeErrorMetrics) inc(reason string) {
	c, ok := d.by[reason]
	if !ok {
		if !d.lazy || !slices.Contains(sflow.Reasons(), reason) {
			return
		}
		c = d.vec.WithLabelValues(d.sender, reason)
		d.by[reason] = c
	}
	c.Inc()
}
