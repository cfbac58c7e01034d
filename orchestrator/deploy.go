package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/elk-project/elk/orchestrator/kv"
	"github.com/elk-project/elk/orchestrator/target"
)

// Plan actions.
const (
	ActionAdd       = "add"
	ActionChange    = "change"
	ActionScale     = "scale" // only the blueprint count changed
	ActionRemove    = "remove"
	ActionUnchanged = "unchanged"
	ActionRecreate  = "recreate" // known to the orchestrator but missing from the target
)

// Change is one entity's line of a plan.
type Change struct {
	Entity    string   `json:"entity"`
	Action    string   `json:"action"`
	Count     int      `json:"count"`
	PrevCount int      `json:"prev_count,omitempty"`
	Diff      []string `json:"diff,omitempty"`
}

// Plan is what a deploy will do, in execution order: additions and
// changes in dependency order, then removals in reverse order.
type Plan struct {
	App     string   `json:"app"`
	Changes []Change `json:"changes"`
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	for _, c := range p.Changes {
		if c.Action != ActionUnchanged {
			return false
		}
	}
	return true
}

// Event reports the progress of an operation.
type Event struct {
	Time    time.Time `json:"time"`
	App     string    `json:"app"`
	Entity  string    `json:"entity,omitempty"`
	Action  string    `json:"action"` // plan, apply, wait, healthy, unchanged, remove, failed, rollback, done
	Message string    `json:"message,omitempty"`
}

// DeployOptions tune one deploy.
type DeployOptions struct {
	DryRun   bool
	Progress func(Event)
}

// Result is the outcome of a deploy.
type Result struct {
	Plan     Plan          `json:"plan"`
	DryRun   bool          `json:"dry_run,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Journal records a deploy in progress so a restarted server can finish
// it. Created lists entities this deploy added; Previous keeps the specs
// of the entities it changed, for the rollback.
type Journal struct {
	ID       string                 `json:"id"`
	App      App                    `json:"app"`
	Plan     Plan                   `json:"plan"`
	Counts   map[string]CountState  `json:"counts"`
	Started  time.Time              `json:"started"`
	Created  []string               `json:"created,omitempty"`
	Previous map[string]target.Spec `json:"previous,omitempty"`
	Done     []string               `json:"done,omitempty"`
}

// Progress is the live view of a deploy in flight.
type Progress struct {
	ID      string  `json:"id"`
	Entity  string  `json:"entity,omitempty"`
	Events  []Event `json:"events"`
	Resumed bool    `json:"resumed,omitempty"`
}

// specDiff names the fields that differ between two specs.
func specDiff(a, b target.Spec) []string {
	var d []string
	add := func(name string, x, y any) {
		bx, _ := json.Marshal(x)
		by, _ := json.Marshal(y)
		if string(bx) != string(by) {
			d = append(d, name)
		}
	}
	add("type", a.Type, b.Type)
	add("command", a.Command, b.Command)
	add("env", a.Env, b.Env)
	add("secrets", a.Secrets, b.Secrets)
	add("image", a.Image, b.Image)
	add("ports", a.Ports, b.Ports)
	add("resources", [2]int{a.CPUMHz, a.MemoryMB}, [2]int{b.CPUMHz, b.MemoryMB})
	add("health", a.Health, b.Health)
	add("tags", a.Tags, b.Tags)
	add("meta", a.Meta, b.Meta)
	return d
}

// counts computes the desired count of every entity of app: new entities
// take the blueprint's count; existing ones keep the orchestrator's count
// unless the blueprint's count itself changed.
func (e *Engine) counts(prev *State, app App) map[string]CountState {
	now := e.now().UTC()
	out := map[string]CountState{}
	for _, en := range app.Entities {
		bc := en.Spec.Count
		if prev != nil {
			if cs, ok := prev.Counts[en.ID()]; ok {
				if cs.Blueprint == bc {
					out[en.ID()] = cs
					continue
				}
			}
		}
		out[en.ID()] = CountState{Desired: bc, Blueprint: bc, Source: "blueprint", Changed: now}
	}
	return out
}

// plan compares app with the stored state and what the target runs.
func (e *Engine) plan(ctx context.Context, prev *State, app App, counts map[string]CountState) (Plan, error) {
	order, err := app.order()
	if err != nil {
		return Plan{}, err
	}
	p := Plan{App: app.Name}
	for _, en := range order {
		id := en.ID()
		c := Change{Entity: id, Count: counts[id].Desired}
		var old Entity
		var known bool
		if prev != nil {
			old, known = prev.App.entity(id)
		}
		if !known {
			c.Action = ActionAdd
			p.Changes = append(p.Changes, c)
			continue
		}
		c.PrevCount = prev.Counts[id].Desired
		if d := specDiff(old.Spec, en.Spec); len(d) > 0 {
			c.Action, c.Diff = ActionChange, d
		} else if _, err := e.tg.Status(ctx, app.Name, id); errors.Is(err, target.ErrNotFound) {
			c.Action = ActionRecreate
		} else if err != nil {
			return Plan{}, fmt.Errorf("status of %s/%s: %w", app.Name, id, err)
		} else if c.Count != c.PrevCount {
			c.Action = ActionScale
		} else {
			c.Action = ActionUnchanged
		}
		if c.Count != c.PrevCount {
			c.Diff = append(c.Diff, fmt.Sprintf("count %d -> %d", c.PrevCount, c.Count))
		}
		p.Changes = append(p.Changes, c)
	}
	if prev != nil {
		old, _ := prev.App.order()
		for _, en := range slices.Backward(old) {
			if _, ok := app.entity(en.ID()); !ok {
				p.Changes = append(p.Changes, Change{Entity: en.ID(), Action: ActionRemove, PrevCount: prev.Counts[en.ID()].Desired})
			}
		}
	}
	return p, nil
}

// Plan returns what deploying app would do, without doing it.
func (e *Engine) Plan(ctx context.Context, app App) (Plan, error) {
	if err := app.Validate(); err != nil {
		return Plan{}, err
	}
	prev, _, err := e.loadState(ctx, app.Name)
	if err != nil {
		return Plan{}, err
	}
	return e.plan(ctx, prev, app, e.counts(prev, app))
}

// Deploy brings app to its blueprint: entities start in dependency order,
// each once its dependencies are healthy; a failure rolls back what this
// deploy created or changed and says why. Deploying the same app twice
// changes nothing. ctx ending interrupts the deploy without a rollback:
// the journal lets Resume finish it.
func (e *Engine) Deploy(ctx context.Context, app App, opts DeployOptions) (*Result, error) {
	start := e.now()
	if err := app.Validate(); err != nil {
		return nil, err
	}
	unlock, err := e.lock(app.Name, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, _, err := e.loadJournal(ctx, app.Name); err == nil {
		return nil, fmt.Errorf("app %q: an interrupted deploy is being resumed: %w", app.Name, ErrBusy)
	}
	prev, _, err := e.loadState(ctx, app.Name)
	if err != nil {
		return nil, err
	}
	counts := e.counts(prev, app)
	plan, err := e.plan(ctx, prev, app, counts)
	if err != nil {
		return nil, err
	}
	res := &Result{Plan: plan, DryRun: opts.DryRun}
	if opts.DryRun {
		res.Duration = e.now().Sub(start)
		return res, nil
	}
	j := &Journal{
		ID:      fmt.Sprintf("%s-%d", app.Name, start.UnixNano()),
		App:     app,
		Plan:    plan,
		Counts:  counts,
		Started: start.UTC(),
	}
	if err := e.saveJournal(ctx, j); err != nil {
		return nil, err
	}
	err = e.execute(e.cancellable(ctx, app.Name), j, prev, opts.Progress, false)
	res.Duration = e.now().Sub(start)
	e.metrics.observe("deploy", err, res.Duration)
	return res, err
}

func (e *Engine) loadJournal(ctx context.Context, app string) (*Journal, uint64, error) {
	b, idx, err := e.kv.Get(ctx, e.journalKey(app))
	if err != nil {
		return nil, 0, err
	}
	var j Journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, 0, fmt.Errorf("decode journal of %q: %w", app, err)
	}
	if j.App, err = e.appSecrets(j.App, e.cfg.Keyring.OpenMap); err == nil {
		j.Previous, err = specSecrets(j.Previous, e.cfg.Keyring.OpenMap)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("journal of %q: %w", app, err)
	}
	return &j, idx, nil
}

func (e *Engine) saveJournal(ctx context.Context, j *Journal) error {
	sealed := *j
	var err error
	if sealed.App, err = e.appSecrets(j.App, e.cfg.Keyring.SealMap); err == nil {
		sealed.Previous, err = specSecrets(j.Previous, e.cfg.Keyring.SealMap)
	}
	if err != nil {
		return fmt.Errorf("save deploy journal of %q: %w", j.App.Name, err)
	}
	b, err := json.Marshal(&sealed)
	if err != nil {
		return err
	}
	if err := e.kv.Put(ctx, e.journalKey(j.App.Name), b); err != nil {
		return fmt.Errorf("save deploy journal of %q: %w", j.App.Name, err)
	}
	return nil
}

// Resume finishes the deploys a previous server left in its journal.
func (e *Engine) Resume(ctx context.Context) error {
	m, err := e.kv.List(ctx, e.cfg.Prefix+"journal/")
	if err != nil {
		return fmt.Errorf("list deploy journals: %w", err)
	}
	var errs []error
	for k := range m {
		app := strings.TrimPrefix(k, e.cfg.Prefix+"journal/")
		if err := e.resume(ctx, app); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) resume(ctx context.Context, app string) error {
	unlock, err := e.lock(app, true)
	if err != nil {
		return err
	}
	defer unlock()
	j, _, err := e.loadJournal(ctx, app)
	if errors.Is(err, kv.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	prev, _, err := e.loadState(ctx, app)
	if err != nil {
		return err
	}
	e.log.Info("resuming an interrupted deploy", "app", app, "deploy", j.ID, "done", j.Done)
	start := e.now()
	err = e.execute(e.cancellable(ctx, app), j, prev, nil, true)
	e.metrics.observe("deploy", err, e.now().Sub(start))
	if err != nil {
		return fmt.Errorf("resume deploy of %q: %w", app, err)
	}
	return nil
}

// deployError is a failed, rolled back deploy: it matches ErrDeployFailed
// and unwraps to the entity's error.
type deployError struct {
	msg string
	err error
}

func (e *deployError) Error() string   { return e.msg }
func (e *deployError) Unwrap() []error { return []error{ErrDeployFailed, e.err} }

// errUndeploy is the cause of a deploy stopped by an undeploy.
var errUndeploy = errors.New("the application is being undeployed")

// cancellable derives the context of a deploy that Undeploy can stop; the
// entry goes away when execute returns.
func (e *Engine) cancellable(ctx context.Context, app string) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	e.mu.Lock()
	e.cancels[app] = cancel
	e.mu.Unlock()
	return ctx
}

// execute runs a journaled deploy.
func (e *Engine) execute(ctx context.Context, j *Journal, prev *State, progress func(Event), resumed bool) error {
	r := e.startRun(ctx, j, prev, progress, resumed)
	defer r.end()
	r.announce()
	if err := r.startEntities(); err != nil {
		return err
	}
	if err := r.removeEntities(); err != nil {
		return err
	}
	return r.finish()
}

// deployRun is one execution of a journaled deploy.
type deployRun struct {
	e        *Engine
	ctx      context.Context
	j        *Journal
	app      App
	prev     *State
	prevApp  App
	pr       *Progress
	progress func(Event)
	resumed  bool
	emitMu   sync.Mutex
	// jmu guards j while the entities of one wave deploy concurrently.
	jmu sync.Mutex
}

// startRun registers the live progress of a deploy; end unregisters it.
func (e *Engine) startRun(ctx context.Context, j *Journal, prev *State, progress func(Event), resumed bool) *deployRun {
	r := &deployRun{
		e:        e,
		ctx:      ctx,
		j:        j,
		app:      j.App,
		prev:     prev,
		pr:       &Progress{ID: j.ID, Resumed: resumed},
		progress: progress,
		resumed:  resumed,
	}
	if prev != nil {
		r.prevApp = prev.App
	}
	e.mu.Lock()
	e.running[r.app.Name] = r.pr
	e.mu.Unlock()
	return r
}

// end forgets the deploy's progress and its cancel function.
func (r *deployRun) end() {
	e := r.e
	e.mu.Lock()
	delete(e.running, r.app.Name)
	if c, ok := e.cancels[r.app.Name]; ok {
		c(nil)
		delete(e.cancels, r.app.Name)
	}
	e.mu.Unlock()
}

// emit records an event in the progress, the log and the caller's
// callback.
func (r *deployRun) emit(entity, action, format string, args ...any) {
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	e := r.e
	ev := Event{Time: e.now().UTC(), App: r.app.Name, Entity: entity, Action: action, Message: fmt.Sprintf(format, args...)}
	e.mu.Lock()
	r.pr.Entity = entity
	r.pr.Events = append(r.pr.Events, ev)
	e.mu.Unlock()
	e.log.Info("deploy", "app", r.app.Name, "entity", entity, "action", action, "message", ev.Message)
	if r.progress != nil {
		r.progress(ev)
	}
}

// announce emits the plan.
func (r *deployRun) announce() {
	if r.resumed {
		r.emit("", "plan", "resuming deploy %s", r.j.ID)
	}
	for _, c := range r.j.Plan.Changes {
		if c.Action == ActionRemove {
			continue
		}
		r.emit(c.Entity, "plan", "%s%s", c.Action, diffText(c))
	}
}

// fail ends the deploy at entity: an interrupted deploy keeps its journal,
// a failed one is rolled back.
func (r *deployRun) fail(entity string, err error) error {
	ctx, e, app := r.ctx, r.e, r.app
	if ctx.Err() != nil {
		// Interrupted (the server is stopping): keep the journal so
		// the next server resumes instead of rolling back.
		return fmt.Errorf("deploy of %q interrupted at %s: %w", app.Name, entity, context.Cause(ctx))
	}
	r.emit(entity, "failed", "%v", err)
	rb := e.rollback(r.j, r.prevApp, r.emit)
	_ = e.kv.Delete(context.WithoutCancel(ctx), e.journalKey(app.Name))
	return &deployError{msg: fmt.Sprintf("deploy of %q failed at entity %s: %v; %s", app.Name, entity, err, rb), err: err}
}

// save updates the journal and stores it.
func (r *deployRun) save(update func()) error {
	r.jmu.Lock()
	defer r.jmu.Unlock()
	update()
	return r.e.saveJournal(r.ctx, r.j)
}

// startEntities starts the entities in waves: each wave holds the
// entities whose dependencies are all deployed, and its members start
// concurrently.
func (r *deployRun) startEntities() error {
	var pending []Change
	for _, c := range r.j.Plan.Changes {
		if c.Action != ActionRemove && !slices.Contains(r.j.Done, c.Entity) {
			pending = append(pending, c)
		}
	}
	for len(pending) > 0 {
		var wave []Change
		wave, pending = r.nextWave(pending)
		if err := r.runWave(wave); err != nil {
			return err
		}
	}
	return nil
}

// nextWave splits pending into the entities that depend on none of
// pending and the rest.
func (r *deployRun) nextWave(pending []Change) (wave, rest []Change) {
	waiting := map[string]bool{}
	for _, c := range pending {
		waiting[c.Entity] = true
	}
	for _, c := range pending {
		en, _ := r.app.entity(c.Entity)
		if slices.ContainsFunc(en.DependsOn, func(d string) bool { return waiting[d] }) {
			rest = append(rest, c)
		} else {
			wave = append(wave, c)
		}
	}
	return wave, rest
}

// runWave deploys the entities of a wave concurrently. The first failure
// of a wave stops its siblings and fails the deploy.
func (r *deployRun) runWave(wave []Change) error {
	wctx, wcancel := context.WithCancelCause(r.ctx)
	first := -1
	errs := make([]error, len(wave))
	var wg sync.WaitGroup
	var fmu sync.Mutex
	for i, c := range wave {
		wg.Go(func() {
			if errs[i] = r.deployEntity(wctx, c); errs[i] != nil {
				fmu.Lock()
				if first < 0 {
					first = i
					wcancel(fmt.Errorf("%s failed", c.Entity))
				}
				fmu.Unlock()
			}
		})
	}
	wg.Wait()
	wcancel(nil)
	if first >= 0 {
		return r.fail(wave[first].Entity, errs[first])
	}
	return nil
}

// deployEntity deploys one entity once its dependencies are healthy.
func (r *deployRun) deployEntity(ctx context.Context, c Change) error {
	en, _ := r.app.entity(c.Entity)
	spec := en.Spec
	spec.Count = r.j.Counts[c.Entity].Desired
	if err := r.waitDependencies(ctx, c.Entity, en.DependsOn); err != nil {
		return err
	}
	if err := r.journalUndo(c); err != nil {
		return err
	}
	if err := r.apply(ctx, c, spec); err != nil {
		return err
	}
	if err := r.awaitHealthy(ctx, c, spec); err != nil {
		return err
	}
	return r.save(func() { r.j.Done = append(r.j.Done, c.Entity) })
}

// waitDependencies waits for the dependencies of entity to be healthy.
func (r *deployRun) waitDependencies(ctx context.Context, entity string, deps []string) error {
	for _, d := range deps {
		r.emit(entity, "wait", "waiting for dependency %s to be healthy", d)
		if err := r.e.waitHealthy(ctx, r.app.Name, d); err != nil {
			return fmt.Errorf("dependency %s is not healthy: %w", d, err)
		}
	}
	return nil
}

// journalUndo records in the journal what a rollback needs before the
// change is applied: the entities added, the previous specs of the
// entities changed.
func (r *deployRun) journalUndo(c Change) error {
	j := r.j
	switch c.Action {
	case ActionAdd:
		return r.save(func() {
			if !slices.Contains(j.Created, c.Entity) {
				j.Created = append(j.Created, c.Entity)
			}
		})
	case ActionChange:
		old, ok := r.prevApp.entity(c.Entity)
		if !ok {
			return nil
		}
		return r.save(func() {
			if _, ok := j.Previous[c.Entity]; ok {
				return
			}
			if j.Previous == nil {
				j.Previous = map[string]target.Spec{}
			}
			ps := old.Spec
			ps.Count = r.prev.Counts[c.Entity].Desired
			j.Previous[c.Entity] = ps
		})
	}
	return nil
}

// apply sends the entity's spec to the target, unless it is unchanged
// (a resumed deploy applies every entity again).
func (r *deployRun) apply(ctx context.Context, c Change, spec target.Spec) error {
	if c.Action == ActionUnchanged && !r.resumed {
		return nil
	}
	r.emit(c.Entity, "apply", "%d instance(s) of %s", spec.Count, spec.Type)
	return r.e.tg.Apply(ctx, spec)
}

// awaitHealthy waits for the instances apply started to be healthy.
func (r *deployRun) awaitHealthy(ctx context.Context, c Change, spec target.Spec) error {
	if c.Action == ActionUnchanged && !r.resumed {
		r.emit(c.Entity, "unchanged", "%d instance(s)", spec.Count)
		return nil
	}
	r.emit(c.Entity, "wait", "waiting for %d healthy instance(s)", spec.Count)
	if err := r.e.waitHealthy(ctx, r.app.Name, c.Entity); err != nil {
		return err
	}
	r.emit(c.Entity, "healthy", "%d/%d healthy", spec.Count, spec.Count)
	return nil
}

// removeEntities removes the entities no longer in the blueprint.
func (r *deployRun) removeEntities() error {
	for _, c := range r.j.Plan.Changes {
		if c.Action != ActionRemove {
			continue
		}
		r.emit(c.Entity, "remove", "entity no longer in the blueprint")
		if err := r.e.tg.Remove(r.ctx, r.app.Name, c.Entity); err != nil {
			return r.fail(c.Entity, fmt.Errorf("remove: %w", err))
		}
	}
	return nil
}

// finish stores the deployed state and drops the journal.
func (r *deployRun) finish() error {
	e, app, prev := r.e, r.app, r.prev
	now := e.now().UTC()
	st := &State{App: app, Counts: r.j.Counts, Deployed: now, Updated: now}
	if prev != nil && !prev.Deployed.IsZero() {
		st.Deployed = prev.Deployed
	}
	if err := e.saveState(r.ctx, st); err != nil {
		return r.fail("", err)
	}
	if err := e.kv.Delete(r.ctx, e.journalKey(app.Name)); err != nil {
		e.log.Warn("delete deploy journal", "app", app.Name, "error", err)
	}
	r.emit("", "done", "%s deployed", app.Name)
	return nil
}

func diffText(c Change) string {
	if len(c.Diff) == 0 {
		return ""
	}
	return " (" + strings.Join(c.Diff, ", ") + ")"
}

// waitHealthy waits for an entity with the engine's timeout.
func (e *Engine) waitHealthy(ctx context.Context, app, entity string) error {
	wctx, cancel := context.WithTimeoutCause(ctx, e.cfg.WaitTimeout,
		fmt.Errorf("not healthy within %v", e.cfg.WaitTimeout))
	defer cancel()
	return e.tg.Wait(wctx, app, entity)
}

// rollback removes the entities the deploy created and restores the ones
// it changed, newest first, and says what it did.
func (e *Engine) rollback(j *Journal, prevApp App, emit func(entity, action, format string, args ...any)) string {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.WaitTimeout)
	defer cancel()
	var removed, restored, failed []string
	for _, id := range slices.Backward(j.Created) {
		emit(id, "rollback", "removing %s", id)
		if err := e.tg.Remove(ctx, j.App.Name, id); err != nil {
			failed = append(failed, fmt.Sprintf("remove %s: %v", id, err))
			continue
		}
		removed = append(removed, id)
	}
	for _, id := range slices.Sorted(maps.Keys(j.Previous)) {
		emit(id, "rollback", "restoring the previous spec of %s", id)
		if err := e.tg.Apply(ctx, j.Previous[id]); err != nil {
			failed = append(failed, fmt.Sprintf("restore %s: %v", id, err))
			continue
		}
		restored = append(restored, id)
	}
	var parts []string
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	if len(restored) > 0 {
		parts = append(parts, "restored "+strings.Join(restored, ", "))
	}
	if len(failed) > 0 {
		parts = append(parts, "rollback errors: "+strings.Join(failed, "; "))
	}
	if len(parts) == 0 {
		return "nothing to roll back"
	}
	return "rolled back: " + strings.Join(parts, "; ")
}
