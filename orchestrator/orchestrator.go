// Package orchestrator is elk's deploy engine: it turns an application (its
// entities as target specs with their dependencies) into running entities
// on a target, in dependency order and waiting for health, rolls back what
// a failed deploy created, scales and undeploys, owns the desired counts
// and reports drift. Its state and a journal of the deploy in progress live
// in a kv.KV so a restarted server resumes where it stopped.
package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/orchestrator/kv"
	"github.com/elk-project/elk/orchestrator/secrets"
	"github.com/elk-project/elk/orchestrator/target"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid application")
	ErrBusy     = errors.New("another operation on the application is in progress")
	// ErrDeployFailed wraps the error of a deploy that failed and was
	// rolled back.
	ErrDeployFailed = errors.New("deploy failed")
)

// App is what the engine deploys.
type App struct {
	Name string `json:"name"`
	// Source is the blueprint text the app came from, kept for reference.
	Source   string   `json:"source,omitempty"`
	Entities []Entity `json:"entities"`
}

// Entity is one entity of an App: how it runs and what it waits for.
type Entity struct {
	Spec      target.Spec `json:"spec"`
	DependsOn []string    `json:"depends_on,omitempty"`
}

// ID is the entity's id.
func (e Entity) ID() string { return e.Spec.Entity }

// Config tunes the engine.
type Config struct {
	// Prefix of the engine's KV keys (default "elk/orchestrator/").
	Prefix string
	// WaitTimeout bounds the wait for one entity to become healthy
	// (default 2m).
	WaitTimeout time.Duration
	// RefreshInterval is how often Run refreshes the entity gauges and
	// drift (default 5s).
	RefreshInterval time.Duration
	// MaxInstances caps every count the engine sets, whoever asks: an
	// operator's scale, a policy, a deploy (default DefaultMaxInstances).
	MaxInstances int
	// Keyring seals the entities' secrets in the KV; without one they are
	// stored as they are.
	Keyring *secrets.Keyring
}

// DefaultMaxInstances is the default server-wide cap on an entity's count,
// the blueprint format's own maximum.
const DefaultMaxInstances = 1000

// Deps are the engine's collaborators.
type Deps struct {
	Target  target.Target // required
	KV      kv.KV         // required
	Logger  *slog.Logger
	Metrics *prometheus.Registry
	Now     func() time.Time
}

// Engine deploys, scales and undeploys applications.
type Engine struct {
	cfg     Config
	tg      target.Target
	kv      kv.KV
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	mu    sync.Mutex
	locks map[string]*appLock
	// running holds the progress of deploys in flight, per app.
	running map[string]*Progress
	// cancels stops the deploy in flight of an app (for Undeploy).
	cancels map[string]context.CancelCauseFunc
	// drift is the last drift reported per app/entity, to log changes.
	drift map[string]string
}

// New builds an engine. Call Resume (or Run) after a restart to finish
// interrupted deploys.
func New(cfg Config, deps Deps) (*Engine, error) {
	if deps.Target == nil || deps.KV == nil {
		return nil, errors.New("orchestrator: target and KV are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "elk/orchestrator/"
	}
	if cfg.MaxInstances <= 0 {
		cfg.MaxInstances = DefaultMaxInstances
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = 2 * time.Minute
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 5 * time.Second
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	return &Engine{
		cfg: cfg, tg: deps.Target, kv: deps.KV, log: deps.Logger, now: deps.Now, metrics: m,
		locks: map[string]*appLock{}, running: map[string]*Progress{}, cancels: map[string]context.CancelCauseFunc{},
		drift: map[string]string{},
	}, nil
}

// Target returns the engine's target.
func (e *Engine) Target() target.Target { return e.tg }

// Run resumes interrupted deploys (retrying until the KV answers), then
// refreshes the per-entity gauges and drift until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	e.metrics.leader.Set(1)
	defer e.metrics.leader.Set(0)
	t := time.NewTicker(e.cfg.RefreshInterval)
	defer t.Stop()
	resumed := false
	for {
		// Resume interrupted deploys, retrying while the KV is unreachable.
		if !resumed {
			if err := e.Resume(ctx); err != nil {
				e.log.Error("resume interrupted deploys", "error", err)
			} else {
				resumed = true
			}
		}
		e.refresh(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// lock serializes operations on one app; it fails fast with ErrBusy when
// wait is false.
func (e *Engine) lock(app string, wait bool) (func(), error) {
	e.mu.Lock()
	l := e.locks[app]
	if l == nil {
		l = &appLock{}
		e.locks[app] = l
	}
	l.refs++
	e.mu.Unlock()
	release := func() {
		e.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(e.locks, app)
		}
		e.mu.Unlock()
	}
	if wait {
		l.mu.Lock()
	} else if !l.mu.TryLock() {
		release()
		return nil, fmt.Errorf("app %q: %w", app, ErrBusy)
	}
	return func() { l.mu.Unlock(); release() }, nil
}

// appLock serializes the operations on one app. Its entry in Engine.locks
// lives while someone holds or waits for it (refs, under Engine.mu), so
// requests naming apps that do not exist leave nothing behind.
type appLock struct {
	mu   sync.Mutex
	refs int
}

// lockedApps is how many apps have a lock entry (tests).
func (e *Engine) lockedApps() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.locks)
}

// Validate checks an app before anything is deployed: names, duplicate
// entities, dangling dependencies and cycles; every problem at once.
func (a *App) Validate() error {
	var errs []error
	if a.Name == "" {
		errs = append(errs, errors.New("app has no name"))
	}
	ids := map[string]bool{}
	for _, en := range a.Entities {
		id := en.ID()
		if id == "" {
			errs = append(errs, errors.New("entity without id"))
			continue
		}
		if ids[id] {
			errs = append(errs, fmt.Errorf("entity %q: defined twice", id))
		}
		ids[id] = true
		if en.Spec.App != a.Name {
			errs = append(errs, fmt.Errorf("entity %q: spec app %q is not %q", id, en.Spec.App, a.Name))
		}
		if en.Spec.Count < 0 {
			errs = append(errs, fmt.Errorf("entity %q: negative count %d", id, en.Spec.Count))
		}
	}
	for _, en := range a.Entities {
		for _, d := range en.DependsOn {
			if !ids[d] {
				errs = append(errs, fmt.Errorf("entity %q depends on unknown entity %q", en.ID(), d))
			}
		}
	}
	if len(errs) == 0 {
		if _, err := a.order(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// order returns the entities in dependency order (dependencies first,
// blueprint order among independent ones).
func (a *App) order() ([]Entity, error) {
	byID := map[string]Entity{}
	for _, en := range a.Entities {
		byID[en.ID()] = en
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var out []Entity
	var visit func(id string, path []string) error
	visit = func(id string, path []string) error {
		switch color[id] {
		case grey:
			return fmt.Errorf("depends_on cycle: %v", append(path, id))
		case black:
			return nil
		}
		color[id] = grey
		en, ok := byID[id]
		if ok {
			for _, d := range en.DependsOn {
				if err := visit(d, append(path, id)); err != nil {
					return err
				}
			}
			out = append(out, en)
		}
		color[id] = black
		return nil
	}
	for _, en := range a.Entities {
		if err := visit(en.ID(), nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// entity returns the entity id of a.
func (a *App) entity(id string) (Entity, bool) {
	i := slices.IndexFunc(a.Entities, func(e Entity) bool { return e.ID() == id })
	if i < 0 {
		return Entity{}, false
	}
	return a.Entities[i], true
}

// appSecrets returns a copy of app whose entities' secrets went through
// f (the keyring's SealMap before storing, OpenMap after loading).
func (e *Engine) appSecrets(app App, f func(map[string]string) (map[string]string, error)) (App, error) {
	app.Entities = slices.Clone(app.Entities)
	for i := range app.Entities {
		s := &app.Entities[i].Spec
		var err error
		if s.Secrets, err = f(s.Secrets); err != nil {
			return App{}, fmt.Errorf("entity %s: %w", s.Entity, err)
		}
	}
	return app, nil
}

// specSecrets is appSecrets for a map of specs.
func specSecrets(specs map[string]target.Spec, f func(map[string]string) (map[string]string, error)) (map[string]target.Spec, error) {
	if specs == nil {
		return nil, nil
	}
	out := make(map[string]target.Spec, len(specs))
	for id, s := range specs {
		var err error
		if s.Secrets, err = f(s.Secrets); err != nil {
			return nil, fmt.Errorf("entity %s: %w", id, err)
		}
		out[id] = s
	}
	return out, nil
}

func (e *Engine) stateKey(app string) string   { return e.cfg.Prefix + "apps/" + app }
func (e *Engine) journalKey(app string) string { return e.cfg.Prefix + "journal/" + app }

// State is what the engine stores per deployed application.
type State struct {
	App      App                   `json:"app"`
	Counts   map[string]CountState `json:"counts"`
	Deployed time.Time             `json:"deployed"`
	Updated  time.Time             `json:"updated"`
}

// CountState is the orchestrator-owned desired count of an entity.
type CountState struct {
	Desired int `json:"desired"`
	// Blueprint is the count the last deployed blueprint asked for; a
	// redeploy only overrides Desired when the blueprint's count changes.
	Blueprint int `json:"blueprint"`
	// Source says who set Desired: blueprint, operator or policy.
	Source  string    `json:"source"`
	Reason  string    `json:"reason,omitempty"`
	Changed time.Time `json:"changed"`
}

func (e *Engine) loadState(ctx context.Context, app string) (*State, uint64, error) {
	b, idx, err := e.kv.Get(ctx, e.stateKey(app))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load state of %q: %w", app, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, 0, fmt.Errorf("decode state of %q: %w", app, err)
	}
	if st.App, err = e.appSecrets(st.App, e.cfg.Keyring.OpenMap); err != nil {
		return nil, 0, fmt.Errorf("state of %q: %w", app, err)
	}
	return &st, idx, nil
}

func (e *Engine) saveState(ctx context.Context, st *State) error {
	sealed := *st
	var err error
	if sealed.App, err = e.appSecrets(st.App, e.cfg.Keyring.SealMap); err != nil {
		return fmt.Errorf("save state of %q: %w", st.App.Name, err)
	}
	b, err := json.Marshal(&sealed)
	if err != nil {
		return err
	}
	if err := e.kv.Put(ctx, e.stateKey(st.App.Name), b); err != nil {
		return fmt.Errorf("save state of %q: %w", st.App.Name, err)
	}
	return nil
}

// Apps lists the deployed applications and those with a deploy journal.
func (e *Engine) Apps(ctx context.Context) ([]string, error) {
	names := map[string]bool{}
	for _, p := range []string{e.cfg.Prefix + "apps/", e.cfg.Prefix + "journal/"} {
		m, err := e.kv.List(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("list apps: %w", err)
		}
		for k := range m {
			names[k[len(p):]] = true
		}
	}
	var out []string
	for n := range names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}
