// Package prometheus reads policy metrics from a Prometheus server through
// its HTTP API (client_golang's api/prometheus/v1).
package prometheus

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/elk-project/elk/policies/source"
)

// Source runs a check's PromQL query as an instant query.
type Source struct {
	api v1.API
	now func() time.Time
}

// New returns a source for the Prometheus server at addr
// (e.g. http://127.0.0.1:9090).
func New(addr string) (*Source, error) {
	c, err := api.NewClient(api.Config{Address: addr})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", addr, err)
	}
	return &Source{api: v1.NewAPI(c), now: time.Now}, nil
}

// Read implements source.Source. The query must return one series or a
// scalar: an empty vector is ErrNoData (Prometheus drops series whose last
// sample is older than its lookback, so a dead exporter reads as no data);
// several series are also ErrNoData, with a hint to aggregate.
func (s *Source) Read(ctx context.Context, q source.Query) (source.Sample, error) {
	val, _, _, err := s.api.Query(ctx, q.Check.Query, s.now())
	if err != nil {
		return source.Sample{}, fmt.Errorf("prometheus query %q: %w", q.Check.Query, err)
	}
	switch v := val.(type) {
	case model.Vector:
		switch len(v) {
		case 0:
			return source.Sample{}, fmt.Errorf("query %q returned no series: %w", q.Check.Query, source.ErrNoData)
		case 1:
			return sample(v[0].Value, v[0].Timestamp)
		default:
			return source.Sample{}, fmt.Errorf("query %q returned %d series, aggregate it (sum, avg, max): %w", q.Check.Query, len(v), source.ErrNoData)
		}
	case *model.Scalar:
		return sample(v.Value, v.Timestamp)
	default:
		return source.Sample{}, fmt.Errorf("query %q returned a %s, want a vector or scalar: %w", q.Check.Query, val.Type(), source.ErrNoData)
	}
}

func sample(v model.SampleValue, ts model.Time) (source.Sample, error) {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return source.Sample{}, fmt.Errorf("value %v: %w", f, source.ErrNoData)
	}
	return source.Sample{Value: f, Time: ts.Time()}, nil
}

// Range runs query over [start, end] every step and returns the first
// series' samples (for simulations over recorded data).
func (s *Source) Range(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]source.Sample, error) {
	val, _, _, err := s.api.QueryRange(ctx, query, v1.Range{Start: start, End: end, Step: step})
	if err != nil {
		return nil, fmt.Errorf("prometheus range query %q: %w", query, err)
	}
	m, ok := val.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("range query %q returned a %s, want a matrix", query, val.Type())
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("range query %q: %w", query, source.ErrNoData)
	}
	if len(m) > 1 {
		return nil, fmt.Errorf("range query %q returned %d series, aggregate it (sum, avg, max)", query, len(m))
	}
	out := make([]source.Sample, 0, len(m[0].Values))
	for _, p := range m[0].Values {
		if s, err := sample(p.Value, p.Timestamp); err == nil {
			out = append(out, s) // NaN and ±Inf points are gaps, as in a recording
		}
	}
	return out, nil
}
