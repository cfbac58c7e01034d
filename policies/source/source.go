// Package source defines how the policy engine reads metrics: a Source turns
// a check's query (PromQL) or built-in metric into one timestamped value.
// Implementations live in subpackages: prometheus (the Prometheus HTTP API)
// and scrape (elk's own scraper of instances' /metrics).
package source

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/elk-project/elk/policies"
)

// ErrNoData is returned (wrapped) when the source works but has no value
// for the query: an empty result or too few samples for a rate. Any other
// error means the source itself failed.
var ErrNoData = errors.New("no data")

// Query is what a check asks of a source.
type Query struct {
	App    string
	Entity string // the policy's target entity
	Check  policies.Check
}

// Sample is one value and the time it was measured.
type Sample struct {
	Value float64
	Time  time.Time
}

// Source reads the current value of a query. Read must be safe for
// concurrent use and honour ctx's deadline. It returns ErrNoData (wrapped)
// when the query has no value, another error when the source is down.
type Source interface {
	Read(ctx context.Context, q Query) (Sample, error)
}

// Mux sends PromQL queries to Query and built-in metrics to Metric. A nil
// member answers with an error saying it is not configured.
type Mux struct {
	Query  Source
	Metric Source
}

// Read implements Source.
func (m Mux) Read(ctx context.Context, q Query) (Sample, error) {
	if q.Check.Query != "" {
		if m.Query == nil {
			return Sample{}, errors.New("no Prometheus source configured for query checks")
		}
		return Finite(m.Query.Read(ctx, q))
	}
	if m.Metric == nil {
		return Sample{}, errors.New("no built-in scraper configured for metric checks")
	}
	return Finite(m.Metric.Read(ctx, q))
}

// Name says which kind of source answers q ("prometheus" or "builtin"), for
// metrics and logs.
func Name(q Query) string {
	if q.Check.Query != "" {
		return "prometheus"
	}
	return "builtin"
}

// Func adapts a function to Source.
type Func func(ctx context.Context, q Query) (Sample, error)

// Read implements Source.
func (f Func) Read(ctx context.Context, q Query) (Sample, error) { return Finite(f(ctx, q)) }

// Finite passes s and err through, except that a NaN or ±Inf value is
// missing data: it becomes ErrNoData (wrapped), never a vote.
func Finite(s Sample, err error) (Sample, error) {
	if err == nil && (math.IsNaN(s.Value) || math.IsInf(s.Value, 0)) {
		return Sample{Time: s.Time}, fmt.Errorf("value %v is not a number: %w", s.Value, ErrNoData)
	}
	return s, err
}
