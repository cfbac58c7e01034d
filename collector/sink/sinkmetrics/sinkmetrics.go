// Package sinkmetrics holds the Prometheus metrics every sink exports
// (elk_sink_*), so sinks of different kinds report under the same names.
package sinkmetrics

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/sink"
)

// Outcomes of a document handed to a sink.
const (
	OutcomeWritten   = "written"
	OutcomeIndexed   = "indexed"
	OutcomeDuplicate = "duplicate"
	OutcomeFailed    = "failed"
	OutcomeSpooled   = "spooled"
)

// Metrics counts one sink's documents. Several sinks may share a registry:
// the families are registered once and each sink gets its own series.
type Metrics struct {
	name      string
	docs      *prometheus.CounterVec
	bytes     prometheus.Counter
	Rotations prometheus.Counter

	mu    sync.Mutex
	cache map[key]prometheus.Counter
}

type key struct{ tenant, outcome string }

// New returns the metrics of the sink labelled name ("file", "stdout", …).
// reg may be nil (metrics are then kept but not exported).
func New(reg *prometheus.Registry, name string) (*Metrics, error) {
	docs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elk_sink_documents_total",
		Help: "Documents handed to a sink, by sink, tenant (empty for the operator's stream) and outcome.",
	}, []string{"sink", "tenant", "outcome"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elk_sink_written_bytes_total",
		Help: "Bytes of documents a sink wrote.",
	}, []string{"sink"})
	rot := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elk_sink_rotations_total",
		Help: "Output file rotations.",
	}, []string{"sink"})
	r := &Registrar{Reg: reg}
	docs, bytes, rot = Register(r, docs), Register(r, bytes), Register(r, rot)
	if r.Err != nil {
		return nil, r.Err
	}
	return &Metrics{
		name:      name,
		docs:      docs,
		bytes:     bytes.WithLabelValues(name),
		Rotations: rot.WithLabelValues(name),
		cache:     map[key]prometheus.Counter{},
	}, nil
}

// Registrar registers collectors in a registry that several sinks (and the
// ingest worker) share: a collector already registered under the same
// description is reused instead of failing. The first other error (a name
// registered with another type or other labels) is kept in Err.
type Registrar struct {
	Reg *prometheus.Registry // nil: collectors work but are not exported
	Err error
}

// Register registers c with r, or returns the collector registered before
// under the same description.
func Register[T prometheus.Collector](r *Registrar, c T) T {
	if r.Reg == nil {
		return c
	}
	err := r.Reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing
		}
	}
	if r.Err == nil {
		r.Err = fmt.Errorf("register sink metrics: %w", err)
	}
	return c
}

// RequestErrors registers (or reuses) elk_sink_bulk_request_errors_total
// and returns the sink's counter.
func RequestErrors(r *Registrar, sink string) prometheus.Counter {
	return Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "elk_sink_bulk_request_errors_total",
		Help: "Requests to the destination that failed as a whole (connection refused or lost, 5xx, broker errors); their documents are retried or spooled.",
	}, []string{"sink"})).WithLabelValues(sink)
}

// Counter returns the document counter for tenant and outcome.
func (m *Metrics) Counter(tenant, outcome string) prometheus.Counter {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.cache[key{tenant, outcome}]
	if !ok {
		c = m.docs.WithLabelValues(m.name, tenant, outcome)
		m.cache[key{tenant, outcome}] = c
	}
	return c
}

// Written counts one document written, with its body and newline.
func (m *Metrics) Written(d *sink.Doc) {
	m.Counter(d.Tenant, OutcomeWritten).Inc()
	m.bytes.Add(float64(len(d.Body) + 1))
}

// Failed counts documents that were not accepted.
func (m *Metrics) Failed(docs []sink.Doc) {
	for i := range docs {
		m.Counter(docs[i].Tenant, OutcomeFailed).Inc()
	}
}
