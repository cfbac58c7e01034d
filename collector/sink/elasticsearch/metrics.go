package elasticsearch

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/sink/sinkmetrics"
)

// Final outcomes of a document, the values of the outcome label of
// elk_sink_documents_total. Every document written is counted exactly once,
// under one of them, when its fate is known: indexed + duplicate + failed
// equals the documents written once everything spooled has drained.
// Spooling is not an outcome; elk_sink_spooled_documents_total counts it.
const (
	OutcomeIndexed   = sinkmetrics.OutcomeIndexed
	OutcomeDuplicate = sinkmetrics.OutcomeDuplicate
	OutcomeFailed    = sinkmetrics.OutcomeFailed
)

type metrics struct {
	docs          *sinkmetrics.Metrics
	bulkDuration  prometheus.Observer
	bulkBytes     prometheus.Observer
	bulkErrors    prometheus.Counter
	retries       prometheus.Counter
	backlog       prometheus.Gauge
	spooled       prometheus.Counter
	spoolBytes    prometheus.Gauge
	spoolDocs     prometheus.Gauge
	spoolAge      prometheus.Gauge
	adopted       prometheus.Counter
	templateInits prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, name string) (*metrics, error) {
	docs, err := sinkmetrics.New(reg, name)
	if err != nil {
		return nil, err
	}
	l := prometheus.Labels{"sink": name}
	sinkOnly := []string{"sink"}
	r := &sinkmetrics.Registrar{Reg: reg}
	m := &metrics{
		docs: docs,
		bulkDuration: sinkmetrics.Register(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "elk_sink_bulk_duration_seconds",
			Help:    "Duration of one bulk request to the destination.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 13),
		}, sinkOnly)).With(l),
		bulkBytes: sinkmetrics.Register(r, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "elk_sink_bulk_request_bytes",
			Help:    "Size of one bulk request body.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 9),
		}, sinkOnly)).With(l),
		bulkErrors: sinkmetrics.RequestErrors(r, name),
		retries: sinkmetrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_sink_retries_total",
			Help: "Documents sent again after a transient failure (429, 5xx, connection error).",
		}, sinkOnly)).With(l),
		backlog: sinkmetrics.Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elk_sink_backlog_documents",
			Help: "Documents accepted by the sink and not yet acknowledged by the destination (client-side queue depth).",
		}, sinkOnly)).With(l),
		spooled: sinkmetrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_sink_spooled_documents_total",
			Help: "Documents appended to the on-disk spool; each is counted again in elk_sink_documents_total when it drains (its final outcome).",
		}, sinkOnly)).With(l),
		spoolBytes: sinkmetrics.Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elk_sink_spool_bytes",
			Help: "Bytes waiting in the on-disk spool.",
		}, sinkOnly)).With(l),
		spoolDocs: sinkmetrics.Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elk_sink_spool_documents",
			Help: "Documents waiting in the on-disk spool.",
		}, sinkOnly)).With(l),
		spoolAge: sinkmetrics.Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elk_sink_spool_oldest_age_seconds",
			Help: "Age of the oldest spooled document (0 when the spool is empty).",
		}, sinkOnly)).With(l),
		adopted: sinkmetrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_sink_spool_adopted_documents_total",
			Help: "Documents found in spools other sinks left behind (stopped while the destination was unreachable), drained by this sink.",
		}, sinkOnly)).With(l),
		templateInits: sinkmetrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_sink_template_installs_total",
			Help: "Index templates installed or updated by the sink.",
		}, sinkOnly)).With(l),
	}
	if r.Err != nil {
		return nil, r.Err
	}
	return m, nil
}
