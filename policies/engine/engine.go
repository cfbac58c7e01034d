// Package engine runs elk's autoscaling policies: it evaluates every policy
// on its interval, reads metrics through a source.Source, applies the
// policy's strategies and controls, asks a Scaler to change the count, and
// records every evaluation in a bounded per-policy journal. It keeps a
// versioned live store of policies (edited through its HTTP API, policy
// files watched on disk or a KV store) with pause, resume and expiring pins.
//
// Wiring it into a server:
//
//	eng, err := engine.New(engine.Config{Dir: "/etc/elk/policies"}, engine.Deps{
//		Scaler:   myScaler,            // reads and changes entity counts
//		Source:   source.Mux{Query: prom, Metric: scraper},
//		KV:       kv,                  // optional: persist and watch policies
//		Lock:     lock,                // optional: only the holder acts
//		Logger:   logger,
//		Metrics: registry,
//	})
//	go eng.Run(ctx)                      // returns when ctx ends
//	mux.Handle("/v1/policies", eng.Handler())
//	mux.Handle("/v1/policies/", eng.Handler())
//	eng.Apply(policy, "blueprint demo", "blueprint") // for each blueprint entity policy
//	eng.Remove("demo", "collectors")                  // when the entity goes away
package engine

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/orchestrator/kv"
	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/source"
)

// Scaler reads and changes the instance count of entities (the
// orchestrator). Current reports the desired count the target runs and
// whether a deployment (rollout or scale) is still in progress. Scale
// changes the count; d explains why and is meant to be passed on to the
// target (d.Message() and d.Meta() fit a target.ScaleRequest).
type Scaler interface {
	Current(ctx context.Context, app, entity string) (count int, deploying bool, err error)
	Scale(ctx context.Context, app, entity string, count int, d policies.Decision) error
}

// Lock is a distributed mutex for running several engines with one leader
// (orchestrator/discovery/consul's *Lock satisfies it). Acquire blocks until
// the lock is held (or ctx ends) and returns a context that is done when the
// lock is lost; Release gives it up.
type Lock interface {
	Acquire(ctx context.Context) (held context.Context, err error)
	Release(ctx context.Context) error
}

// Clock is the engine's time source; tests and simulations use a virtual
// one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config configures the engine. Zero values take defaults.
type Config struct {
	// Dir, if set, holds standalone policy files (*.yaml) that are loaded
	// at start and watched for changes; edits through the API are written
	// back to the file a policy came from.
	Dir string
	// KVPrefix is where policies are persisted when a KV is given
	// (default "elk/policies/"); KVPoll is how often it is re-read
	// (default 5s).
	KVPrefix string
	KVPoll   time.Duration
	// StatePrefix is where operator overrides (pause, pin) are shared
	// with other servers (default "elk/policy-state/").
	StatePrefix string
	// JournalSize is the number of decisions kept per policy (default 64).
	JournalSize int
	// HistorySize is the number of versions kept per policy (default 50).
	HistorySize int
	// Workers evaluate policies concurrently (default 8).
	Workers int
	// ReadTimeout bounds one evaluation's metric reads and scale call
	// (default 10s).
	ReadTimeout time.Duration
}

// Deps are the engine's collaborators. Scaler and Source are required.
type Deps struct {
	Scaler  Scaler
	Source  source.Source
	KV      kv.KV
	Lock    Lock
	Logger  *slog.Logger
	Metrics *prometheus.Registry
	Clock   Clock
}

// Errors.
var (
	ErrNotFound = errors.New("policy not found")
	ErrInvalid  = errors.New("invalid policy")
)

// Engine evaluates policies.
type Engine struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	clock   Clock
	metrics *metrics

	mu      sync.RWMutex
	entries map[string]*entry
	leader  bool
	wake    chan struct{}
}

// New builds an engine; Run starts it.
func New(cfg Config, deps Deps) (*Engine, error) {
	if deps.Scaler == nil || deps.Source == nil {
		return nil, errors.New("policy engine: Scaler and Source are required")
	}
	if cfg.KVPrefix == "" {
		cfg.KVPrefix = "elk/policies/"
	}
	if cfg.StatePrefix == "" {
		cfg.StatePrefix = "elk/policy-state/"
	}
	if cfg.KVPoll <= 0 {
		cfg.KVPoll = 5 * time.Second
	}
	if cfg.JournalSize <= 0 {
		cfg.JournalSize = 64
	}
	if cfg.HistorySize <= 0 {
		cfg.HistorySize = 50
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Clock == nil {
		deps.Clock = realClock{}
	}
	m, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		cfg: cfg, deps: deps, log: deps.Logger, clock: deps.Clock, metrics: m,
		entries: map[string]*entry{},
		leader:  deps.Lock == nil,
		wake:    make(chan struct{}, 1),
	}
	if deps.Lock == nil {
		m.leader.Set(1)
	}
	if cfg.Dir != "" {
		if err := e.loadDir(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Run evaluates policies until ctx ends, watching the policy directory and
// the KV store when configured, and competing for the leader lock when one
// is given. It returns ctx's error.
func (e *Engine) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	start := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	if e.cfg.Dir != "" {
		start(e.watchDir)
	}
	if e.deps.KV != nil {
		start(e.watchKV)
	}
	if e.deps.Lock != nil {
		start(e.lead)
	}
	work := make(chan *entry)
	done := make(chan *entry, e.cfg.Workers)
	for range e.cfg.Workers {
		start(func(ctx context.Context) {
			for {
				select {
				case <-ctx.Done():
					return
				case en := <-work:
					e.evaluate(ctx, en)
					select {
					case done <- en:
					case <-ctx.Done():
						return
					}
				}
			}
		})
	}
	e.schedule(ctx, work, done)
	cancel()
	wg.Wait()
	return ctx.Err()
}

type item struct {
	en  *entry
	gen uint64
	at  time.Time
}

type queue []item

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q queue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)        { *q = append(*q, x.(item)) }
func (q *queue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// schedule dispatches due policies to workers; a policy is queued again
// once its evaluation is done.
func (e *Engine) schedule(ctx context.Context, work chan<- *entry, done <-chan *entry) {
	q := &queue{}
	busy := map[*entry]bool{}
	queued := map[*entry]uint64{}
	sync := func() {
		e.mu.RLock()
		defer e.mu.RUnlock()
		now := e.clock.Now()
		for _, en := range e.entries {
			gen := en.generation()
			if busy[en] || queued[en] == gen {
				continue
			}
			queued[en] = gen
			heap.Push(q, item{en, gen, now})
		}
	}
	sync()
	for {
		var timer <-chan time.Time
		var next chan<- *entry
		var head *entry
		for q.Len() > 0 {
			it := (*q)[0]
			if it.en.removed() || queued[it.en] != it.gen {
				heap.Pop(q)
				if queued[it.en] == it.gen {
					delete(queued, it.en)
				}
				continue
			}
			if d := it.at.Sub(e.clock.Now()); d > 0 {
				timer = e.clock.After(d)
			} else {
				next, head = work, it.en
			}
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
			sync()
		case <-timer:
		case next <- head:
			heap.Pop(q)
			delete(queued, head)
			busy[head] = true
		case en := <-done:
			delete(busy, en)
			if !en.removed() {
				gen := en.generation()
				queued[en] = gen
				heap.Push(q, item{en, gen, e.clock.Now().Add(en.interval())})
			}
		}
	}
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// lead holds the leader lock while it can.
func (e *Engine) lead(ctx context.Context) {
	for ctx.Err() == nil {
		held, err := e.deps.Lock.Acquire(ctx)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("acquire policy leader lock", "error", err)
				select {
				case <-ctx.Done():
				case <-e.clock.After(time.Second):
				}
			}
			continue
		}
		e.setLeader(true)
		e.log.Info("policy engine is the leader")
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			if err := e.deps.Lock.Release(rctx); err != nil {
				e.log.Warn("release policy leader lock", "error", err)
			}
			cancel()
		case <-held.Done():
			e.log.Warn("policy engine lost the leader lock")
		}
		e.setLeader(false)
	}
}

func (e *Engine) setLeader(b bool) {
	e.mu.Lock()
	e.leader = b
	e.mu.Unlock()
	if b {
		e.metrics.leader.Set(1)
	} else {
		e.metrics.leader.Set(0)
	}
}

// Leader reports whether this engine may act.
func (e *Engine) Leader() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.leader
}

func (e *Engine) get(key string) (*entry, error) {
	e.mu.RLock()
	en := e.entries[key]
	e.mu.RUnlock()
	if en == nil {
		return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return en, nil
}

// Keys lists the policies' app/entity keys, sorted.
func (e *Engine) Keys() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	keys := make([]string, 0, len(e.entries))
	for k := range e.entries {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// EvaluateNow evaluates one policy immediately and returns its decision;
// simulations and tests drive the engine with it instead of Run.
func (e *Engine) EvaluateNow(ctx context.Context, app, entity string) (policies.Decision, error) {
	en, err := e.get(app + "/" + entity)
	if err != nil {
		return policies.Decision{}, err
	}
	return e.evaluate(ctx, en), nil
}
