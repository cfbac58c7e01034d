package collector

import (
	"errors"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/flowdoc"
	"github.com/elk-project/elk/collector/receiver"
	"github.com/elk-project/elk/collector/route"
	"github.com/elk-project/elk/collector/sflow"
	"github.com/elk-project/elk/collector/sink"
)

// Sample kinds in document ids and per-source sequence state.
const (
	kindFlow    uint8 = 1
	kindCounter uint8 = 2
	kindDiscard uint8 = 3
)

type agentKey struct {
	addr netip.Addr
	sub  uint32
}

type sourceKey struct {
	kind       uint8
	typ, index uint32
}

type sourceState struct {
	seq   uint32
	drops uint32
}

// agentState is what one worker knows about one agent (address and
// sub-agent). Datagrams of one sender always go to the same worker, so no
// locking is needed.
type agentState struct {
	m        *agentMetrics
	seq      uint32
	uptimeMS uint32
	bootMS   int64
	sources  map[sourceKey]sourceState
	rates    flowdoc.RateTracker

	key        agentKey
	cost       int // entries charged to the worker's budget
	prev, next *agentState
}

// maxFormats bounds the distinct record formats labelled per worker; more
// (hostile input) are counted as "other".
const maxFormats = 256

// maxSources bounds the per-agent source and rate tables (hostile agents);
// a small budget lowers it (see agentTable).
const maxSources = 1 << 16

// worker turns datagrams into documents and writes them to the sinks in
// batches. It implements receiver.Handler.
type worker struct {
	deps    workerDeps
	dec     sflow.Decoder
	dg      sflow.Datagram
	agents  *agentTable
	senders map[netip.Addr]*decodeErrorMetrics // those with their own series
	recs    map[sflow.DataFormat]prometheus.Counter
	unknown map[sflow.UnknownCount]prometheus.Counter

	body    []byte // the common part of the document being built
	arena   []byte // bodies and keys of the batch
	ids     []byte // ids of the batch, flowdoc.IDLen bytes each
	docs    []sink.Doc
	matches []route.Match
	crecs   []sflow.DataFormat
}

// workerDeps are what a worker needs from the collector.
type workerDeps struct {
	metrics *metrics
	router  *route.Router
	series  seriesSource
	out     batchWriter
	docs    docCounters
	batch   int
}

// seriesSource hands out the per-agent and per-sender metric series
// (bounded by MaxAgents across all workers).
type seriesSource interface {
	agentMetrics(k agentKey) *agentMetrics
	senderMetrics(a netip.Addr) (*decodeErrorMetrics, bool)
}

// batchWriter writes a batch of documents to every output, counting what
// an output did not take.
type batchWriter interface {
	writeBatch(docs []sink.Doc)
}

// docCounters count the documents produced, per dataset and stream.
type docCounters struct {
	flowOperator, flowTenant       prometheus.Counter
	counterOperator, counterTenant prometheus.Counter
	discardOperator, discardTenant prometheus.Counter
}

func newWorker(c *Collector) *worker {
	return &worker{
		deps:    workerDeps{metrics: c.metrics, router: c.router, series: c, out: c, docs: c.docs, batch: c.cfg.Batch},
		agents:  newAgentTable(c.stateBudget, c.metrics.stateBytes, c.metrics.stateEvictions),
		senders: map[netip.Addr]*decodeErrorMetrics{},
		recs:    map[sflow.DataFormat]prometheus.Counter{},
		unknown: map[sflow.UnknownCount]prometheus.Counter{},
		body:    make([]byte, 0, 4096),
		arena:   make([]byte, 0, c.cfg.Batch*1200),
		ids:     make([]byte, 0, c.cfg.Batch*flowdoc.IDLen),
		docs:    make([]sink.Doc, 0, c.cfg.Batch),
	}
}

var _ receiver.Handler = (*worker)(nil)

// Handle decodes one datagram and queues its documents.
func (w *worker) Handle(p *receiver.Packet) {
	start := time.Now()
	dg := &w.dg
	if err := w.dec.Decode(p.Data(), dg); err != nil {
		w.decodeFailed(p, err)
		return
	}
	d := w.begin(p, dg)
	w.flows(&d)
	w.counters(&d)
	w.discards(&d)
	w.agents.charge(d.st)
	w.deps.metrics.decodeDuration.Observe(time.Since(start).Seconds())
	if len(w.docs) >= w.deps.batch {
		w.flush()
	}
}

// datagramCtx is what the samples of one datagram share.
type datagramCtx struct {
	p         *receiver.Packet
	dg        *sflow.Datagram
	agent     netip.Addr
	st        *agentState
	restarted bool
	snap      *route.Snapshot
	meta      flowdoc.Meta
	id        flowdoc.IDKey
}

// decodeFailed counts a datagram that did not decode.
func (w *worker) decodeFailed(p *receiver.Packet, err error) {
	reason := sflow.ReasonTruncated
	var de *sflow.DecodeError
	if errors.As(err, &de) {
		reason = de.Reason
	}
	w.sender(p.Src.Addr()).inc(reason)
	w.deps.metrics.lossDecode.Inc()
}

// begin updates the state of the datagram's agent and returns what its
// samples share.
func (w *worker) begin(p *receiver.Packet, dg *sflow.Datagram) datagramCtx {
	agent := dg.AgentAddr
	if !agent.IsValid() {
		agent = p.Src.Addr()
	}
	st, restarted := w.track(agentKey{agent, dg.SubAgentID}, dg, p.Received)
	if restarted {
		st.rates.Reset()
	}
	for _, u := range dg.Unknown {
		w.unknownCounter(u).Add(float64(u.Count))
	}
	return datagramCtx{
		p:         p,
		dg:        dg,
		agent:     agent,
		st:        st,
		restarted: restarted,
		meta:      flowdoc.Meta{Received: p.Received, BootMS: st.bootMS},
		snap:      w.deps.router.Current(),
		id:        flowdoc.IDKey{Agent: agent, SubAgent: dg.SubAgentID, BootMS: st.bootMS, Sequence: dg.Sequence},
	}
}

// flows queues the documents of the flow samples: one for the operator,
// one per tenant the flow routes to.
func (w *worker) flows(d *datagramCtx) {
	m := w.deps.metrics
	dg, st, snap, id, agent := d.dg, d.st, d.snap, &d.id, d.agent
	for i := range dg.Flows {
		f := &dg.Flows[i]
		st.m.flows.Inc()
		st.m.samplingRate.Set(float64(f.SamplingRate))
		w.sample(st, kindFlow, f.SourceIDType, f.SourceIDIndex, f.Sequence, f.Drops, true)
		w.countRecords(f.Records)
		packets, bytes, _ := flowdoc.Estimates(f)
		m.estPackets.Add(float64(packets))
		m.estBytes.Add(float64(bytes))

		w.matches = w.matches[:0]
		if snap.Len() > 0 {
			rf := routeFlow(f, agent)
			w.matches = snap.Route(&rf, w.matches)
			for _, mt := range w.matches {
				snap.Account(mt, packets, bytes)
			}
		}
		w.body = flowdoc.AppendFlowBody(w.body[:0], dg, f, &d.meta)
		id.Sample, id.Record, id.Counter, id.SampleKind = uint32(i), 0, false, kindFlow
		w.emitWithTenants(d, flowdoc.DatasetFlow, true, w.deps.docs.flowOperator, w.deps.docs.flowTenant)
	}
}

// counters queues the documents of the counter samples: one per record
// for the operator and for each tenant the interface belongs to.
func (w *worker) counters(d *datagramCtx) {
	dg, st, snap, id, agent := d.dg, d.st, d.snap, &d.id, d.agent
	for i := range dg.Counters {
		c := &dg.Counters[i]
		st.m.counters.Inc()
		w.sample(st, kindCounter, c.SourceIDType, c.SourceIDIndex, c.Sequence, 0, false)
		w.countRecords(c.Records)
		w.crecs = flowdoc.CounterRecords(c, w.crecs[:0])
		if snap.Len() > 0 {
			rf := route.Flow{Agent: agent, InIf: c.SourceIDIndex, OutIf: c.SourceIDIndex, HasIfIndex: c.SourceIDType == sflow.SourceIfIndex}
			if c.Has(sflow.HasVLAN) {
				rf.VLAN = c.VLAN.VLANID
			}
			w.matches = snap.Match(&rf, w.matches[:0])
		} else {
			w.matches = w.matches[:0]
		}
		for j, rec := range w.crecs {
			var rates *flowdoc.Rates
			r, ok := st.rates.For(rec, dg, c, d.restarted)
			if ok {
				rates = &r
			}
			w.body = flowdoc.AppendCounterBody(w.body[:0], dg, c, rec, rates, &d.meta)
			id.Sample, id.Record, id.Counter, id.SampleKind = uint32(i), uint32(j), true, kindCounter
			w.emitWithTenants(d, flowdoc.DatasetCounters, false, w.deps.docs.counterOperator, w.deps.docs.counterTenant)
		}
	}
}

// discards queues the documents of the discarded packet samples: one for
// the operator, one per tenant the packet routes to.
func (w *worker) discards(d *datagramCtx) {
	m := w.deps.metrics
	dg, st, snap, id, agent := d.dg, d.st, d.snap, &d.id, d.agent
	for i := range dg.Discards {
		ds := &dg.Discards[i]
		st.m.discards.Inc()
		m.discards.Inc()
		w.countRecords(ds.Records)
		w.matches = w.matches[:0]
		if snap.Len() > 0 {
			e := flowdoc.FlowEndpoints(&ds.FlowData)
			rf := route.Flow{Src: e.Src, Dst: e.Dst, Agent: agent, VLAN: uint32(e.VLAN),
				InIf: ds.Input, OutIf: ds.Output, HasIfIndex: true}
			w.matches = snap.Route(&rf, w.matches)
		}
		w.body = flowdoc.AppendDiscardBody(w.body[:0], dg, ds, &d.meta)
		id.Sample, id.Record, id.Counter, id.SampleKind = uint32(i), 0, false, kindDiscard
		w.emitWithTenants(d, flowdoc.DatasetDiscards, true, w.deps.docs.discardOperator, w.deps.docs.discardTenant)
	}
}

// emitWithTenants queues the document in w.body for the operator and once
// for each tenant of w.matches (with the flow's direction for that tenant
// when withDir), counting them in op and tenant.
func (w *worker) emitWithTenants(d *datagramCtx, dataset string, withDir bool, op, tenant prometheus.Counter) {
	id := &d.id
	id.Tenant = ""
	w.emit(id, dataset, d.p, d.agent, "", "")
	op.Inc()
	for _, mt := range w.matches {
		id.Tenant = d.snap.Tenants[mt.Tenant].ID
		dir := ""
		if withDir {
			dir = direction(mt)
		}
		w.emit(id, dataset, d.p, d.agent, id.Tenant, dir)
		tenant.Inc()
	}
}

func direction(m route.Match) string {
	switch {
	case m.Internal:
		return flowdoc.DirectionInternal
	case m.Rule == route.RuleSource:
		return flowdoc.DirectionOutbound
	case m.Rule == route.RuleDestination:
		return flowdoc.DirectionInbound
	}
	return flowdoc.DirectionNone
}

// routeFlow extracts what routing looks at from a flow sample.
func routeFlow(f *sflow.FlowSample, agent netip.Addr) route.Flow {
	e := flowdoc.FlowEndpoints(&f.FlowData)
	rf := route.Flow{Src: e.Src, Dst: e.Dst, Agent: agent, VLAN: uint32(e.VLAN)}
	if in, ok := f.Input.IfIndex(); ok {
		rf.InIf, rf.HasIfIndex = in, true
	}
	if out, ok := f.Output.IfIndex(); ok {
		rf.OutIf, rf.HasIfIndex = out, true
	}
	return rf
}

// emit finishes the document in w.body (adding the tenant tail) into the
// arena and queues it.
func (w *worker) emit(id *flowdoc.IDKey, dataset string, p *receiver.Packet, agent netip.Addr, tenant, dir string) {
	w.ids = flowdoc.AppendID(w.ids, id)
	a := w.arena
	idEnd := len(a)
	a = agent.AppendTo(a)
	keyEnd := len(a)
	a = append(a, w.body...)
	if dataset != flowdoc.DatasetCounters {
		a = flowdoc.AppendFlowTail(a, tenant, dir)
	} else {
		a = flowdoc.AppendCounterTail(a, tenant)
	}
	w.arena = a
	// Key and Body alias the arena, reused once the batch is written
	// (sinks must not keep them); the id is set in flush.
	w.docs = append(w.docs, sink.Doc{
		Dataset: dataset,
		Tenant:  tenant,
		Key:     a[idEnd:keyEnd:keyEnd],
		Time:    p.Received,
		Body:    a[keyEnd:len(a):len(a)],
	})
}

// Idle flushes the batch when the queue runs dry.
func (w *worker) Idle() {
	if len(w.docs) > 0 {
		w.flush()
	}
}

// Close flushes what is left.
func (w *worker) Close() { w.Idle() }

func (w *worker) flush() {
	// Sinks may keep ids (strings are immutable): make them substrings of
	// one string per batch rather than one allocation per document.
	ids := string(w.ids)
	for i := range w.docs {
		w.docs[i].ID = ids[i*flowdoc.IDLen : (i+1)*flowdoc.IDLen]
	}
	w.deps.out.writeBatch(w.docs)
	clear(w.docs) // drop references to tenant strings
	w.docs = w.docs[:0]
	w.arena = w.arena[:0]
	w.ids = w.ids[:0]
}

// track updates the agent's datagram sequence state. It returns the state
// and whether the agent restarted.
func (w *worker) track(k agentKey, dg *sflow.Datagram, now time.Time) (*agentState, bool) {
	st, ok := w.agents.get(k)
	boot := flowdoc.BootTime(now, dg.UptimeMS)
	if !ok {
		st = &agentState{m: w.deps.series.agentMetrics(k)}
		w.agents.add(k, st)
		st.seq, st.uptimeMS, st.bootMS = dg.Sequence, dg.UptimeMS, boot
		st.m.datagrams.Inc()
		st.m.lastSeen.Set(float64(now.UnixMilli()) / 1000)
		return st, false
	}
	st.m.datagrams.Inc()
	st.m.lastSeen.Set(float64(now.UnixMilli()) / 1000)
	delta := int32(dg.Sequence - st.seq)
	backwards := int32(dg.UptimeMS-st.uptimeMS) < -2000
	restarted := false
	switch {
	case delta == 1:
	case backwards || (delta <= 0 && dg.Sequence < 16 && st.seq >= 16):
		// Uptime went back or the sequence started over: a restart.
		restarted = true
		st.m.restarts.Inc()
		clear(st.sources)
		st.bootMS = boot
	case delta > 1:
		gap := float64(delta - 1)
		st.m.datagramGaps.Add(gap)
		w.deps.metrics.lossDatagramGaps.Add(gap)
	default:
		// Late or duplicate: keep the state, produce the documents.
		st.m.reordered.Inc()
		return st, false
	}
	st.seq, st.uptimeMS = dg.Sequence, dg.UptimeMS
	if d := boot - st.bootMS; d > 5000 || d < -5000 {
		st.bootMS = boot // the agent's clock and ours drifted apart
	}
	return st, restarted
}

// sample updates a source's sample sequence and reported drops.
func (w *worker) sample(st *agentState, kind uint8, typ, index, seq, drops uint32, hasDrops bool) {
	k := sourceKey{kind, typ, index}
	prev, ok := st.sources[k]
	if !ok && len(st.sources) >= w.agents.perAgent {
		clear(st.sources)
	}
	st.sources[k] = sourceState{seq: seq, drops: drops}
	if !ok {
		return
	}
	if d := int32(seq - prev.seq); d > 1 {
		st.m.sampleGaps.Add(float64(d - 1))
		w.deps.metrics.lossSampleGaps.Add(float64(d - 1))
	}
	if hasDrops && drops > prev.drops {
		st.m.drops.Add(float64(drops - prev.drops))
		w.deps.metrics.lossAgentDrops.Add(float64(drops - prev.drops))
	}
}

// sender returns the decode error series of a sender. Only senders with
// their own series (at most MaxAgents) are cached: the others share one.
func (w *worker) sender(a netip.Addr) *decodeErrorMetrics {
	d, ok := w.senders[a]
	if !ok {
		var own bool
		if d, own = w.deps.series.senderMetrics(a); own {
			w.senders[a] = d
		}
	}
	return d
}

func (w *worker) countRecords(recs []sflow.DataFormat) {
	for _, r := range recs {
		c, ok := w.recs[r]
		if !ok {
			if len(w.recs) >= maxFormats {
				c = w.deps.metrics.records.WithLabelValues("other")
			} else {
				c = w.deps.metrics.records.WithLabelValues(r.String())
				w.recs[r] = c
			}
		}
		c.Inc()
	}
}

func (w *worker) unknownCounter(u sflow.UnknownCount) prometheus.Counter {
	k := sflow.UnknownCount{Kind: u.Kind, Format: u.Format}
	c, ok := w.unknown[k]
	if !ok {
		if len(w.unknown) >= maxFormats {
			return w.deps.metrics.unknown.WithLabelValues(u.Kind.String(), "other")
		}
		c = w.deps.metrics.unknown.WithLabelValues(u.Kind.String(), u.Format.String())
		w.unknown[k] = c
	}
	return c
}
