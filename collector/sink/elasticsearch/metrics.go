package elasticsearch

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a document, the values of the outcome label.
const (
	OutcomeIndexed   = "indexed"
	OutcomeDuplicate = "duplicate"
	OutcomeFailed    = "failed"
	OutcomeSpooled   = "spooled"
)

type metrics struct {
	docs          *prometheus.CounterVec
	bulkDuration  prometheus.Observer
	bulkErrors    prometheus.Counter
	retries       prometheus.Counter
	backlog       prometheus.Gauge
	spoolBytes    prometheus.Gauge
	spoolDocs     prometheus.Gauge
	spoolAge      prometheus.Gauge
	templateInits prometheus.Counter
}

// register registers c, or returns the collector already registered under
// the same description (several sinks share one registry).
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
	}
	return c
}

func newMetrics(reg prometheus.Registerer, name string) *metrics {
	sinkLabel := prometheus.Labels{"sink": name}
	docs := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elk_sink_documents_total",
		Help: "Documents handled by a sink, by sink, tenant and outcome (indexed, duplicate, failed, spooled, produced).",
	}, []string{"sink", "tenant", "outcome"}))
	dur := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "elk_sink_bulk_duration_seconds",
		Help:    "Duration of one bulk request to the destination.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 13),
	}, []string{"sink"}))
	reqErrs := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elk_sink_bulk_request_errors_total",
		Help: "Bulk requests that failed as a whole (connection error, 5xx after retries).",
	}, []string{"sink"}))
	retries := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elk_sink_retries_total",
		Help: "Documents sent again after a transient failure (429, 5xx, connection error).",
	}, []string{"sink"}))
	backlog := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "elk_sink_backlog_documents",
		Help: "Documents accepted by the sink and not yet acknowledged by the destination (client-side queue depth).",
	}, []string{"sink"}))
	spoolBytes := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "elk_sink_spool_bytes",
		Help: "Bytes waiting in the on-disk spool.",
	}, []string{"sink"}))
	spoolDocs := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "elk_sink_spool_documents",
		Help: "Documents waiting in the on-disk spool.",
	}, []string{"sink"}))
	spoolAge := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "elk_sink_spool_oldest_age_seconds",
		Help: "Age of the oldest spooled document (0 when the spool is empty).",
	}, []string{"sink"}))
	tmpl := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elk_sink_template_installs_total",
		Help: "Index templates installed or updated by the sink.",
	}, []string{"sink"}))
	return &metrics{
		docs:          docs,
		bulkDuration:  dur.With(sinkLabel),
		bulkErrors:    reqErrs.With(sinkLabel),
		retries:       retries.With(sinkLabel),
		backlog:       backlog.With(sinkLabel),
		spoolBytes:    spoolBytes.With(sinkLabel),
		spoolDocs:     spoolDocs.With(sinkLabel),
		spoolAge:      spoolAge.With(sinkLabel),
		templateInits: tmpl.With(sinkLabel),
	}
}
