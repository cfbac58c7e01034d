package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/elk-project/elk/orchestrator/kv"
	"github.com/elk-project/elk/orchestrator/target"
)

// Count sources.
const (
	SourceBlueprint = "blueprint"
	SourceOperator  = "operator"
	SourcePolicy    = "policy"
)

// ScaleOptions say who scales and why.
type ScaleOptions struct {
	Source string // operator (default) or policy
	Reason string
	Meta   map[string]string
}

// Scale sets an entity's desired count. The orchestrator records it, so
// later redeploys of an unchanged blueprint keep it.
func (e *Engine) Scale(ctx context.Context, app, entity string, count int, opts ScaleOptions) error {
	start := e.now()
	err := e.scale(ctx, app, entity, count, opts)
	e.metrics.observe("scale", err, e.now().Sub(start))
	return err
}

func (e *Engine) scale(ctx context.Context, app, entity string, count int, opts ScaleOptions) error {
	if count < 0 {
		return fmt.Errorf("scale %s/%s: count %d must not be negative: %w", app, entity, count, ErrInvalid)
	}
	if count > e.cfg.MaxInstances {
		return fmt.Errorf("scale %s/%s: count %d is above the server's limit of %d instances (--max-instances): %w",
			app, entity, count, e.cfg.MaxInstances, ErrInvalid)
	}
	if opts.Source == "" {
		opts.Source = SourceOperator
	}
	unlock, err := e.lock(app, false)
	if err != nil {
		return err
	}
	defer unlock()
	st, _, err := e.loadState(ctx, app)
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("scale %s/%s: app %w", app, entity, ErrNotFound)
	}
	cs, ok := st.Counts[entity]
	if !ok {
		return fmt.Errorf("scale %s/%s: entity %w", app, entity, ErrNotFound)
	}
	msg := opts.Reason
	if msg == "" {
		msg = fmt.Sprintf("%s scaled %s/%s from %d to %d", opts.Source, app, entity, cs.Desired, count)
	}
	if err := e.tg.Scale(ctx, app, entity, target.ScaleRequest{Count: count, Message: msg, Meta: opts.Meta}); err != nil {
		return fmt.Errorf("scale %s/%s: %w", app, entity, err)
	}
	cs.Desired, cs.Source, cs.Reason, cs.Changed = count, opts.Source, opts.Reason, e.now().UTC()
	st.Counts[entity] = cs
	st.Updated = cs.Changed
	e.log.Info("scaled", "app", app, "entity", entity, "count", count, "source", opts.Source, "reason", opts.Reason)
	return e.saveState(ctx, st)
}

// Undeploy removes every entity of app (dependents first) and forgets it;
// a deploy of app in flight is stopped first.
func (e *Engine) Undeploy(ctx context.Context, app string, progress func(Event)) error {
	start := e.now()
	err := e.undeploy(ctx, app, progress)
	e.metrics.observe("undeploy", err, e.now().Sub(start))
	return err
}

func (e *Engine) undeploy(ctx context.Context, app string, progress func(Event)) error {
	// A deploy in flight stops first (keeping its journal, which the
	// undeploy then deletes).
	e.mu.Lock()
	if cancel, ok := e.cancels[app]; ok {
		cancel(errUndeploy)
	}
	e.mu.Unlock()
	unlock, err := e.lock(app, true)
	if err != nil {
		return err
	}
	defer unlock()
	st, _, err := e.loadState(ctx, app)
	if err != nil {
		return err
	}
	var entities []Entity
	if st != nil {
		if o, err := st.App.order(); err == nil {
			entities = o
		}
	}
	j, _, jerr := e.loadJournal(ctx, app)
	if jerr == nil {
		if o, err := j.App.order(); err == nil {
			for _, en := range o {
				if !slices.ContainsFunc(entities, func(x Entity) bool { return x.ID() == en.ID() }) {
					entities = append(entities, en)
				}
			}
		}
	}
	listed, err := e.tg.List(ctx, app)
	if err != nil {
		return fmt.Errorf("undeploy %q: list entities: %w", app, err)
	}
	if st == nil && jerr != nil && len(listed) == 0 {
		return fmt.Errorf("undeploy %q: app %w", app, ErrNotFound)
	}
	var ids []string
	for _, en := range slices.Backward(entities) {
		ids = append(ids, en.ID())
	}
	for _, id := range listed {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if progress != nil {
			progress(Event{Time: e.now().UTC(), App: app, Entity: id, Action: "remove", Message: "stopping " + id})
		}
		if err := e.tg.Remove(ctx, app, id); err != nil {
			return fmt.Errorf("undeploy %q: remove %s: %w", app, id, err)
		}
	}
	if err := e.kv.Delete(ctx, e.journalKey(app)); err != nil {
		return fmt.Errorf("undeploy %q: %w", app, err)
	}
	if err := e.kv.Delete(ctx, e.stateKey(app)); err != nil {
		return fmt.Errorf("undeploy %q: %w", app, err)
	}
	if progress != nil {
		progress(Event{Time: e.now().UTC(), App: app, Action: "done", Message: app + " undeployed"})
	}
	e.log.Info("undeployed", "app", app)
	return nil
}

// AppStatus is the state of one application.
type AppStatus struct {
	Name      string         `json:"name"`
	Deployed  time.Time      `json:"deployed,omitzero"`
	Updated   time.Time      `json:"updated,omitzero"`
	Deploying *Progress      `json:"deploying,omitempty"`
	Entities  []EntityStatus `json:"entities"`
}

// EntityStatus is the state of one entity: the orchestrator's desired
// count against what the target runs.
type EntityStatus struct {
	ID          string   `json:"id"`
	Type        string   `json:"type,omitempty"`
	DependsOn   []string `json:"depends_on,omitempty"`
	Desired     int      `json:"desired"`
	CountSource string   `json:"count_source,omitempty"`
	CountReason string   `json:"count_reason,omitempty"`
	Running     int      `json:"running"`
	Healthy     int      `json:"healthy"`
	Deploying   bool     `json:"deploying,omitempty"`
	Drift       string   `json:"drift,omitempty"`
	Error       string   `json:"error,omitempty"`
	// Rates are live throughput figures the server adds (e.g. a
	// collector's samples_per_second), measured from the instances'
	// metrics.
	Rates     map[string]float64 `json:"rates,omitempty"`
	Instances []target.Instance  `json:"instances"`
}

// Status reports app: every entity with desired, running and healthy
// counts, its instances and any drift.
func (e *Engine) Status(ctx context.Context, app string) (*AppStatus, error) {
	st, _, err := e.loadState(ctx, app)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	pr := e.running[app]
	var prc *Progress
	if pr != nil {
		c := *pr
		c.Events = slices.Clone(pr.Events)
		prc = &c
	}
	e.mu.Unlock()
	var model App
	var counts map[string]CountState
	if st != nil {
		model, counts = st.App, st.Counts
	} else if j, _, err := e.loadJournal(ctx, app); err == nil {
		model, counts = j.App, j.Counts
	} else if !errors.Is(err, kv.ErrNotFound) {
		return nil, err
	} else if listed, lerr := e.tg.List(ctx, app); lerr != nil || len(listed) == 0 {
		return nil, fmt.Errorf("app %q: %w", app, ErrNotFound)
	}
	out := &AppStatus{Name: app, Deploying: prc, Entities: []EntityStatus{}}
	if st != nil {
		out.Deployed, out.Updated = st.Deployed, st.Updated
	}
	order, _ := model.order()
	known := map[string]bool{}
	for _, en := range order {
		id := en.ID()
		known[id] = true
		cs := counts[id]
		es := EntityStatus{ID: id, Type: en.Spec.Type, DependsOn: en.DependsOn, Desired: cs.Desired,
			CountSource: cs.Source, CountReason: cs.Reason, Instances: []target.Instance{}}
		ts, err := e.tg.Status(ctx, app, id)
		switch {
		case errors.Is(err, target.ErrNotFound):
			if st != nil && prc == nil {
				es.Drift = "missing from the target"
			}
		case err != nil:
			es.Error = err.Error()
		default:
			es.Running, es.Healthy, es.Deploying, es.Instances = ts.Running, ts.Healthy, ts.Deploying, ts.Instances
			if st != nil && prc == nil && ts.Desired != cs.Desired {
				es.Drift = fmt.Sprintf("target runs count %d, orchestrator wants %d (changed outside elk)", ts.Desired, cs.Desired)
			}
		}
		out.Entities = append(out.Entities, es)
	}
	if listed, err := e.tg.List(ctx, app); err == nil {
		for _, id := range listed {
			if known[id] {
				continue
			}
			es := EntityStatus{ID: id, Instances: []target.Instance{}}
			if prc == nil {
				es.Drift = "not part of the application (unmanaged)"
			}
			if ts, err := e.tg.Status(ctx, app, id); err == nil {
				es.Running, es.Healthy, es.Instances = ts.Running, ts.Healthy, ts.Instances
			}
			out.Entities = append(out.Entities, es)
		}
	}
	return out, nil
}

// refresh updates the entity gauges.
func (e *Engine) refresh(ctx context.Context) {
	apps, err := e.Apps(ctx)
	if err != nil {
		e.log.Warn("refresh status", "error", err)
		return
	}
	e.metrics.desired.Reset()
	e.metrics.running.Reset()
	e.metrics.healthy.Reset()
	e.metrics.drift.Reset()
	e.metrics.apps.Set(float64(len(apps)))
	for _, a := range apps {
		st, err := e.Status(ctx, a)
		if err != nil {
			continue
		}
		for _, es := range st.Entities {
			e.metrics.desired.WithLabelValues(a, es.ID).Set(float64(es.Desired))
			e.metrics.running.WithLabelValues(a, es.ID).Set(float64(es.Running))
			e.metrics.healthy.WithLabelValues(a, es.ID).Set(float64(es.Healthy))
			d := 0.0
			if es.Drift != "" {
				d = 1
			}
			key := a + "/" + es.ID
			e.mu.Lock()
			if e.drift[key] != es.Drift {
				if es.Drift != "" {
					e.log.Warn("drift", "app", a, "entity", es.ID, "drift", es.Drift)
				} else if e.drift[key] != "" {
					e.log.Info("drift resolved", "app", a, "entity", es.ID)
				}
				e.drift[key] = es.Drift
			}
			e.mu.Unlock()
			e.metrics.drift.WithLabelValues(a, es.ID).Set(d)
		}
	}
}

// Current returns the desired count of an entity and whether a deploy of
// its app is in progress (for the policy engine).
func (e *Engine) Current(ctx context.Context, app, entity string) (int, bool, error) {
	st, _, err := e.loadState(ctx, app)
	if err != nil {
		return 0, false, err
	}
	e.mu.Lock()
	_, deploying := e.running[app]
	e.mu.Unlock()
	if st == nil {
		return 0, deploying, fmt.Errorf("app %q: %w", app, ErrNotFound)
	}
	cs, ok := st.Counts[entity]
	if !ok {
		return 0, deploying, fmt.Errorf("entity %s/%s: %w", app, entity, ErrNotFound)
	}
	if ts, err := e.tg.Status(ctx, app, entity); err == nil && ts.Deploying {
		deploying = true
	}
	return cs.Desired, deploying, nil
}
