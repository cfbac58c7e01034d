// Package sink defines where the collector's documents go. Each destination
// (file, stdout, Elasticsearch, Kafka) is one Sink implementation in its own
// package; the collector fans documents out to every configured sink.
package sink

import (
	"context"
	"time"
)

// Doc is one encoded document on its way to a sink.
type Doc struct {
	// ID is the deterministic document identity (see the flow schema): a
	// redelivered document has the same ID, so idempotent sinks never count
	// it twice.
	ID string
	// Dataset is "sflow.flow" or "sflow.counters".
	Dataset string
	// Tenant is the organization.id the document was routed to ("" for the
	// operator's own, untenanted copy).
	Tenant string
	// Key groups documents that must stay ordered (the agent address).
	Key []byte
	// Time is the document's @timestamp, used to pick daily indices.
	Time time.Time
	// Body is the JSON document, without a trailing newline.
	Body []byte
}

// Sink accepts batches of documents.
//
// Write hands a batch to the sink. It may block to apply backpressure, and
// returns only when the sink has taken responsibility for every document in
// the batch (written, buffered with a bound, or spooled) or ctx ends. An error
// means some documents were not accepted; the sink counts them as lost in its
// metrics. The sink must not retain docs or their Body slices after Write
// returns: callers reuse them.
//
// Flush blocks until everything accepted so far is acknowledged by the
// destination (or counted as lost). Close flushes and releases resources;
// no Write may follow it. A sink with durable storage of its own (the
// Elasticsearch spool) may close while its destination is unreachable once
// everything accepted is acknowledged or held there for a later run.
type Sink interface {
	Name() string
	Write(ctx context.Context, docs []Doc) error
	Flush(ctx context.Context) error
	Close(ctx context.Context) error
}
