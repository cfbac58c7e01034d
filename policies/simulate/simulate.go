package simulate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/engine"
	"github.com/elk-project/elk/policies/source"
)

// Config describes one simulation.
type Config struct {
	Policy    *policies.Policy
	Recording Recording
	// Initial is the count at the start (default: the policy's min).
	Initial int
	// Startup is how long a scale takes until the new count runs; the
	// target reports a deployment in progress meanwhile (default 0).
	Startup time.Duration
}

// Point is the state after one evaluation.
type Point struct {
	Time        time.Time `json:"time"`
	Value       float64   `json:"value"` // the first check's recorded value (total load)
	HasValue    bool      `json:"has_value"`
	Recommended int       `json:"recommended"`
	Desired     int       `json:"desired"`
	Actual      int       `json:"actual"`
	Over        bool      `json:"over"` // load above what Actual instances handle
}

// Summary is what the policy would have cost and how well it kept up.
type Summary struct {
	Start           time.Time     `json:"start"`
	End             time.Time     `json:"end"`
	Evaluations     int           `json:"evaluations"`
	Actions         int           `json:"actions"`
	ScaleUps        int           `json:"scale_ups"`
	ScaleDowns      int           `json:"scale_downs"`
	InstanceSeconds float64       `json:"instance_seconds"`
	OverUpper       time.Duration `json:"-"` // time the load exceeded the running instances' upper bound
	OverUpperSec    float64       `json:"over_upper_seconds"`
	PeakCount       int           `json:"peak_count"`
	// Bound is the per-instance upper bound used for OverUpper (target,
	// bounds.upper or threshold.upper of the first check).
	Bound float64 `json:"bound"`
}

// Result of a simulation.
type Result struct {
	Points    []Point             `json:"points"`
	Summary   Summary             `json:"summary"`
	Decisions []policies.Decision `json:"-"`
}

type simScaler struct {
	mu      sync.Mutex
	clock   *engine.ManualClock
	startup time.Duration
	actual  int
	desired int
	readyAt time.Time
	actions []policies.Decision
}

func (s *simScaler) settle() {
	if s.desired != s.actual && !s.clock.Now().Before(s.readyAt) {
		s.actual = s.desired
	}
}

func (s *simScaler) Current(ctx context.Context, app, entity string) (int, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	return s.desired, s.desired != s.actual, nil
}

func (s *simScaler) Scale(ctx context.Context, app, entity string, n int, d policies.Decision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.desired = n
	s.readyAt = s.clock.Now().Add(s.startup)
	s.settle()
	s.actions = append(s.actions, d)
	return nil
}

func (s *simScaler) running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle()
	return s.actual
}

// Run simulates the policy over the recording, evaluating every
// evaluation_interval of virtual time.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	p := cfg.Policy
	if p == nil || len(cfg.Recording) == 0 {
		return nil, fmt.Errorf("simulate: a policy and a recording are required")
	}
	if p.Target.App == "" {
		p.Target = policies.Target{App: "sim", Entity: "sim"}
	}
	start, end := cfg.Recording.span()
	clock := engine.NewManualClock(start)
	initial := cfg.Initial
	if initial <= 0 {
		initial = max(p.Min, 1)
	}
	sc := &simScaler{clock: clock, startup: cfg.Startup, actual: initial, desired: initial}
	series := func(check string) []source.Sample {
		if s, ok := cfg.Recording[check]; ok {
			return s
		}
		return cfg.Recording[""]
	}
	for _, c := range p.Checks {
		if len(series(c.Name)) == 0 {
			return nil, fmt.Errorf("simulate: the recording has no series for check %q (and no unnamed series)", c.Name)
		}
	}
	src := source.Func(func(ctx context.Context, q source.Query) (source.Sample, error) {
		s, ok := at(series(q.Check.Name), clock.Now())
		if !ok {
			return source.Sample{}, fmt.Errorf("before the recording: %w", source.ErrNoData)
		}
		// Recordings hold the total load; an average metric is what each
		// running instance would see.
		if q.Check.Strategy.Kind != policies.Threshold && q.Check.Strategy.Input == policies.PerInstance {
			if n := sc.running(); n > 0 {
				s.Value /= float64(n)
			}
		}
		return s, nil
	})
	eng, err := engine.New(engine.Config{JournalSize: 1}, engine.Deps{Scaler: sc, Source: src, Clock: clock})
	if err != nil {
		return nil, err
	}
	if _, err := eng.Apply(p, "simulate", "simulate"); err != nil {
		return nil, err
	}
	bound := upperBound(p.Checks[0])
	res := &Result{Summary: Summary{Start: start, End: end, Bound: bound}}
	step := p.EvaluationInterval
	first := series(p.Checks[0].Name)
	for t := start; !t.After(end); t = t.Add(step) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		clock.Set(t)
		d, err := eng.EvaluateNow(ctx, p.Target.App, p.Target.Entity)
		if err != nil {
			return nil, err
		}
		res.Decisions = append(res.Decisions, d)
		pt := Point{Time: t, Recommended: d.Recommended, Desired: d.Desired, Actual: sc.running()}
		if d.Skipped {
			pt.Recommended = d.Current
		}
		if s, ok := at(first, t); ok {
			pt.Value, pt.HasValue = s.Value, true
			pt.Over = bound > 0 && s.Value > bound*float64(max(pt.Actual, 0))
			if p.Checks[0].Strategy.Kind == policies.Threshold {
				pt.Over = s.Value > bound
			}
		}
		res.Points = append(res.Points, pt)
		sum := &res.Summary
		sum.Evaluations++
		sum.InstanceSeconds += float64(pt.Actual) * step.Seconds()
		sum.PeakCount = max(sum.PeakCount, pt.Actual)
		if pt.Over {
			sum.OverUpper += step
			sum.OverUpperSec = sum.OverUpper.Seconds()
		}
		switch d.Action {
		case policies.Up:
			sum.Actions++
			sum.ScaleUps++
		case policies.Down:
			sum.Actions++
			sum.ScaleDowns++
		}
	}
	return res, nil
}

func upperBound(c policies.Check) float64 {
	switch c.Strategy.Kind {
	case policies.TargetValue:
		return c.Strategy.Target
	case policies.Bounds, policies.Threshold:
		if c.Strategy.HasUpper {
			return c.Strategy.Upper
		}
	}
	return 0
}

// String renders the summary for people.
func (s Summary) String() string {
	return fmt.Sprintf("simulated %s → %s (%d evaluations)\nactions: %d (%d up, %d down)\npeak count: %d\ninstance-seconds: %.0f (%.2f instance-hours)\ntime over the upper bound (%g per instance): %s",
		s.Start.Format(time.RFC3339), s.End.Format(time.RFC3339), s.Evaluations,
		s.Actions, s.ScaleUps, s.ScaleDowns, s.PeakCount, s.InstanceSeconds, s.InstanceSeconds/3600, s.Bound, s.OverUpper)
}
