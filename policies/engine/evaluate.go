package engine

import (
	"context"
	"errors"
	"time"

	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/source"
)

// evaluate runs one evaluation of a policy: read the count and the metrics,
// vote, combine, apply the controls and act. It records the decision in the
// journal and the metrics and returns it.
func (e *Engine) evaluate(ctx context.Context, en *entry) policies.Decision {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, e.cfg.ReadTimeout)
	defer cancel()

	en.mu.Lock()
	pol, version := en.pol, en.versions[len(en.versions)-1].N
	paused := en.paused
	var pin *Pin
	now := e.clock.Now()
	if en.pin != nil {
		if now.Before(en.pin.Until) {
			p := *en.pin
			pin = &p
		} else {
			en.pin = nil
		}
	}
	en.mu.Unlock()

	d := policies.Decision{Policy: en.key, Version: version, Time: now, Action: policies.None}
	cur, deploying, err := e.deps.Scaler.Current(ctx, pol.Target.App, pol.Target.Entity)
	if err != nil {
		d.Error = "read current count: " + err.Error()
		d.Skipped = true
		e.record(en, &d, start)
		return d
	}
	d.Current, d.Recommended, d.Desired = cur, cur, cur
	en.mu.Lock()
	if deploying {
		en.wasDeploying = true
	} else if en.wasDeploying {
		// Warm-up runs from the end of a deployment, not its start.
		en.wasDeploying = false
		en.warmStart = now
	}
	warm := pol.Controls.Warmup > 0 && now.Before(en.warmStart.Add(pol.Controls.Warmup))
	en.mu.Unlock()

	if deploying {
		d.Clip(policies.ClipDeploying)
		d.Skipped = true
		e.record(en, &d, start)
		return d
	}

	var desired int
	if pin != nil {
		d.Recommended = pin.Count
		desired = pin.Count
		d.Clip(policies.ClipPinned)
	} else {
		desired = e.recommend(ctx, en, pol, cur, now, warm, &d)
	}

	// Min and max are enforced whatever the data said.
	if desired < pol.Min {
		desired = pol.Min
		d.Clip(policies.ClipMin)
	}
	if desired > pol.Max {
		desired = pol.Max
		d.Clip(policies.ClipMax)
	}
	d.Desired = desired
	if paused && desired != cur {
		d.Clip(policies.ClipPaused)
		d.Desired = cur
	}
	if d.Desired != cur && !e.Leader() {
		d.Clip(policies.ClipStandby)
		d.Desired = cur
	}
	if d.Desired != cur {
		dir := policies.DirectionOf(d.Desired, cur)
		d.Action = dir
		if err := e.deps.Scaler.Scale(ctx, pol.Target.App, pol.Target.Entity, d.Desired, d); err != nil {
			d.Error = "scale: " + err.Error()
			d.Action = policies.None
			e.log.Warn("policy scale failed", "policy", en.key, "count", d.Desired, "error", err)
		} else {
			en.mu.Lock()
			en.warmStart = now
			en.mu.Unlock()
			e.log.Info("policy scaled", "policy", en.key, "from", cur, "to", d.Desired, "reason", d.Message())
		}
	}
	e.record(en, &d, start)
	return d
}

// recommend reads the checks, combines their votes and applies
// stabilization, warm-up and max step. It returns the desired count before
// min and max.
func (e *Engine) recommend(ctx context.Context, en *entry, pol *policies.Policy, cur int, now time.Time, warm bool, d *policies.Decision) int {
	d.Readings = make([]policies.Reading, 0, len(pol.Checks))
	d.Votes = make([]policies.Vote, 0, len(pol.Checks))
	hold, sourceDown := false, ""
	for _, c := range pol.Checks {
		q := source.Query{App: pol.Target.App, Entity: pol.Target.Entity, Check: c}
		s, err := source.Finite(e.deps.Source.Read(ctx, q))
		r := policies.Reading{Check: c.Name, Value: s.Value, SampleTime: s.Time}
		switch {
		case err != nil:
			r.Missing, r.Error = true, err.Error()
			if !errors.Is(err, source.ErrNoData) {
				sourceDown = err.Error()
				en.m.sourceError(source.Name(q))
			}
		default:
			stale := c.MaxStaleness
			if stale == 0 {
				stale = 3 * pol.EvaluationInterval
			}
			if !s.Time.IsZero() && now.Sub(s.Time) > stale {
				r.Missing, r.Stale = true, true
			}
		}
		d.Readings = append(d.Readings, r)
		var v policies.Vote
		if r.Missing {
			d.Clip(policies.ClipMissingData)
			v = policies.Vote{Check: c.Name, Count: cur, Direction: policies.None}
			switch c.OnMissing.Mode {
			case policies.Hold:
				hold = true
				v.Why = "no data, hold"
			case policies.Fallback:
				v.Count = c.OnMissing.Count
				v.Direction = policies.DirectionOf(v.Count, cur)
				v.Why = "no data, fallback"
			default:
				v.Why = "no data, up only"
			}
			if r.Stale {
				v.Why = "stale sample, " + v.Why[len("no data, "):]
			}
		} else {
			en.m.value(c.Name, s.Value)
			v = c.Strategy.Vote(c.Name, s.Value, cur, pol.Controls.Tolerance)
		}
		d.Votes = append(d.Votes, v)
	}
	rec := policies.Combine(d.Votes, cur)
	if hold {
		rec = cur
	}
	en.mu.Lock()
	en.sourceDown = sourceDown
	en.mu.Unlock()
	if sourceDown != "" && rec < cur {
		// Never scale down on a dead source.
		rec = cur
		d.Clip(policies.ClipSourceDown)
	} else if sourceDown != "" {
		d.Clip(policies.ClipSourceDown)
	}
	d.Recommended = rec

	if warm {
		// New instances' metrics are not trusted yet: the recommendation
		// is journaled but stays out of the stabilization history, where
		// the warm-up counts as holding the current count. Each window
		// must be covered by trusted recommendations before it acts.
		en.mu.Lock()
		en.remember(pol, now, cur, cur)
		en.mu.Unlock()
		d.Clip(policies.ClipWarmup)
		return cur
	}
	en.mu.Lock()
	en.remember(pol, now, cur, rec)
	desired := en.stabilize(pol, now, cur, rec)
	en.mu.Unlock()
	if desired != rec {
		d.Clip(policies.ClipStabilization)
	}
	if limit := pol.Controls.MaxStepUp.Of(cur); desired > cur && limit > 0 && desired-cur > limit {
		desired = cur + limit
		d.Clip(policies.ClipStep)
	}
	if limit := pol.Controls.MaxStepDown.Of(cur); desired < cur && limit > 0 && cur-desired > limit {
		desired = cur - limit
		d.Clip(policies.ClipStep)
	}
	return desired
}

// remember adds n, the recommendation made at now, to the stabilization
// history and drops the records no window needs any more. Call with en.mu
// held.
func (en *entry) remember(pol *policies.Policy, now time.Time, cur, n int) {
	if len(en.hist) == 0 {
		// A new policy has seen the current count so far: neither
		// direction acts before a full window of evidence.
		en.hist = append(en.hist, rec{at: now, n: cur})
	}
	en.hist = append(en.hist, rec{at: now, n: n})
	keep := max(pol.Controls.StabilizationUp, pol.Controls.StabilizationDown)
	// Drop records older than the longest window, keeping the one in
	// force at its start.
	cut := 0
	for cut+1 < len(en.hist) && !en.hist[cut+1].at.After(now.Add(-keep)) {
		cut++
	}
	if cut > 0 {
		en.hist = append(en.hist[:0], en.hist[cut:]...)
	}
}

// stabilize returns the stabilized recommendation for r, the latest record
// of the history: growth to the smallest recommendation of the up window,
// shrinkage to the largest of the down window. Recommendations are a step
// function over time, so the one in force at the window's start counts
// too. Call with en.mu held.
func (en *entry) stabilize(pol *policies.Policy, now time.Time, cur, r int) int {
	window := func(w time.Duration, pick func(a, b int) int) int {
		out := r
		from := now.Add(-w)
		for i := len(en.hist) - 1; i >= 0; i-- {
			out = pick(out, en.hist[i].n)
			if !en.hist[i].at.After(from) {
				break
			}
		}
		return out
	}
	switch {
	case r > cur:
		return max(cur, window(pol.Controls.StabilizationUp, func(a, b int) int { return min(a, b) }))
	case r < cur:
		return min(cur, window(pol.Controls.StabilizationDown, func(a, b int) int { return max(a, b) }))
	}
	return r
}
