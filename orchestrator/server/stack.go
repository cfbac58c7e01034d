package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/orchestrator"
	"github.com/elk-project/elk/orchestrator/catalog"
	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/discovery/consul"
	"github.com/elk-project/elk/orchestrator/discovery/embedded"
	"github.com/elk-project/elk/orchestrator/target"
	"github.com/elk-project/elk/orchestrator/target/local"
	"github.com/elk-project/elk/orchestrator/target/nomad"
	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/engine"
	"github.com/elk-project/elk/policies/source"
	promsource "github.com/elk-project/elk/policies/source/prometheus"
	"github.com/elk-project/elk/policies/source/scrape"
)

// BlueprintCompiler compiles blueprints with the blueprints package and
// the entity catalog.
type BlueprintCompiler struct {
	Options catalog.Options
}

// Compile parses and validates a blueprint and builds its entities' specs.
func (c BlueprintCompiler) Compile(filename string, data []byte) (orchestrator.App, error) {
	bp, err := blueprints.Parse(filename, data)
	if err != nil {
		return orchestrator.App{}, err
	}
	specs, err := catalog.Specs(bp, c.Options)
	if err != nil {
		if c.Options.Target != "" && bp.Target != c.Options.Target {
			err = fmt.Errorf("%w\n(the blueprint targets %s; this server runs the %s target)", err, bp.Target, c.Options.Target)
		}
		return orchestrator.App{}, err
	}
	app := orchestrator.App{Name: bp.Name, Source: string(data)}
	for _, s := range specs {
		var deps []string
		if e := bp.Entity(s.Entity); e != nil {
			deps = e.DependsOn
		}
		app.Entities = append(app.Entities, orchestrator.Entity{Spec: s, DependsOn: deps})
	}
	return app, nil
}

// policySink hands a deployed blueprint's policies to the policy engine.
type policySink struct {
	eng *engine.Engine
	mu  sync.Mutex
	has map[string][]string // app -> entities with policies
}

func (p *policySink) Deployed(app orchestrator.App) error {
	bp, err := blueprints.Parse(app.Name+".yaml", []byte(app.Source))
	if err != nil {
		return err
	}
	var errs []error
	var ents []string
	for _, e := range bp.Entities {
		for _, pol := range e.Scaling {
			if _, err := p.eng.Apply(pol, "blueprint "+app.Name, "blueprint"); err != nil {
				errs = append(errs, fmt.Errorf("policy of %s: %w", e.ID, err))
				continue
			}
			ents = append(ents, e.ID)
		}
	}
	p.mu.Lock()
	for _, old := range p.has[app.Name] {
		if bp.Entity(old) == nil || len(bp.Entity(old).Scaling) == 0 {
			p.eng.Remove(app.Name, old)
		}
	}
	p.has[app.Name] = ents
	p.mu.Unlock()
	return errors.Join(errs...)
}

func (p *policySink) Undeployed(app string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.has[app] {
		p.eng.Remove(app, e)
	}
	delete(p.has, app)
}

// scaler lets the policy engine read and change the orchestrator's counts.
type scaler struct{ e *orchestrator.Engine }

func (s scaler) Current(ctx context.Context, app, entity string) (int, bool, error) {
	return s.e.Current(ctx, app, entity)
}

func (s scaler) Scale(ctx context.Context, app, entity string, count int, d policies.Decision) error {
	return s.e.Scale(ctx, app, entity, count, orchestrator.ScaleOptions{
		Source: orchestrator.SourcePolicy, Reason: d.Message(), Meta: d.Meta()})
}

// LocalConfig configures a server running the local target.
type LocalConfig struct {
	// Listen is the API address (default 127.0.0.1:7878; port 0 picks one).
	Listen string
	// StateDir holds the KV state, the processes' pid files and logs.
	StateDir string
	// ElkBinary runs elk's own components (default: this executable).
	ElkBinary string
	// Prometheus, if set, answers the policies' PromQL checks.
	Prometheus string
	// WaitTimeout bounds the wait for an entity to become healthy.
	WaitTimeout time.Duration
	Logger      *slog.Logger
}

// Stack is a complete orchestrator server on the local target: embedded
// registry, directory KV, local processes, deploy engine, policy engine
// and HTTP API.
type Stack struct {
	// Addr is the API's base URL, e.g. http://127.0.0.1:7878.
	Addr     string
	Engine   *orchestrator.Engine
	Target   *local.Target
	Registry *embedded.Registry
	Server   *Server
	Metrics  *prometheus.Registry

	log      *slog.Logger
	listener net.Listener
	policies *engine.Engine
	scraper  *scrape.Scraper
	// With a leader lock (several servers on Nomad), Run waits to hold
	// it before binding listen and serving, and stops when it is lost.
	lock   *consul.Lock
	listen string
}

// NewLocal builds the local stack and binds its listener.
func NewLocal(cfg LocalConfig) (*Stack, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:7878"
	}
	if cfg.StateDir == "" {
		return nil, errors.New("server: state directory is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ElkBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("server: find the elk binary: %w", err)
		}
		cfg.ElkBinary = exe
	}
	log := cfg.Logger
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("server: listen on %s: %w", cfg.Listen, err)
	}
	ok := false
	defer func() {
		if !ok {
			l.Close()
		}
	}()
	addr := "http://" + l.Addr().String()
	kv, err := embedded.NewDirKV(filepath.Join(cfg.StateDir, "kv"))
	if err != nil {
		return nil, err
	}
	reg := embedded.New(embedded.Config{}, log.With("component", "registry"))
	tg, err := local.New(local.Config{
		StateDir: filepath.Join(cfg.StateDir, "local"), RegistryURL: addr, Registry: reg, ElkBinary: cfg.ElkBinary,
	}, log.With("component", "local"))
	if err != nil {
		reg.Close()
		return nil, err
	}
	st, err := assemble(tg, kv, reg, reg.Handler(), catalog.Options{Target: blueprints.TargetLocal, ElkBinary: cfg.ElkBinary},
		cfg.Prometheus, cfg.WaitTimeout, log)
	if err != nil {
		tg.Close()
		reg.Close()
		return nil, err
	}
	st.Addr, st.listener, st.Target, st.Registry = addr, l, tg, reg
	ok = true
	return st, nil
}

// assemble builds the engines and the API over a target, a KV and a
// registry.
func assemble(tg target.Target, kv discovery.KV, reg discovery.Registry, regHandler http.Handler, opts catalog.Options,
	prom string, wait time.Duration, log *slog.Logger) (*Stack, error) {
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	eng, err := orchestrator.New(orchestrator.Config{WaitTimeout: wait}, orchestrator.Deps{
		Target: tg, KV: kv, Logger: log.With("component", "orchestrator"), Registry: metrics})
	if err != nil {
		return nil, err
	}
	scr := scrape.New(scrape.Config{}, scrape.FromRegistry(reg, "metrics"), nil, log.With("component", "scrape"))
	mux := source.Mux{Metric: scr}
	if prom != "" {
		ps, err := promsource.New(prom)
		if err != nil {
			return nil, err
		}
		mux.Query = ps
	}
	pol, err := engine.New(engine.Config{}, engine.Deps{
		Scaler: scaler{eng}, Source: mux, KV: kv, Logger: log.With("component", "policy"), Registry: metrics})
	if err != nil {
		return nil, err
	}
	srv, err := New(Deps{
		Engine: eng, Compiler: BlueprintCompiler{Options: opts}, Registry: regHandler, Policies: pol.Handler(),
		PolicySink: &policySink{eng: pol, has: map[string][]string{}}, Metrics: metrics, Logger: log.With("component", "api"),
	})
	if err != nil {
		return nil, err
	}
	return &Stack{Engine: eng, Server: srv, Metrics: metrics, log: log, policies: pol, scraper: scr}, nil
}

// Run serves until ctx ends, then stops everything: the API, the engines
// and every local process.
func (s *Stack) Run(ctx context.Context) error {
	if s.lock != nil {
		s.log.Info("standby: waiting to become the leader", "listen", s.listen)
		held, err := s.lock.Acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("server: acquire leadership: %w", err)
		}
		defer func() {
			rctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			_ = s.lock.Release(rctx)
		}()
		l, err := net.Listen("tcp", s.listen)
		if err != nil {
			return fmt.Errorf("server: listen on %s: %w", s.listen, err)
		}
		s.listener, s.Addr = l, "http://"+l.Addr().String()
		lctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			select {
			case <-held.Done():
				s.log.Error("leadership lost: stopping")
				stop()
			case <-lctx.Done():
			}
		}()
		ctx = lctx
	}
	bg, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.Engine.Run(bg) })
	wg.Go(func() { _ = s.policies.Run(bg) })
	wg.Go(func() { _ = s.scraper.Run(bg) })
	s.log.Info("orchestrator server listening", "addr", s.Addr, "target", s.Engine.Target().Name())
	if s.Target != nil {
		// Processes restored from the state directory whose application
		// the orchestrator no longer knows keep running: say so.
		if known, err := s.Engine.Apps(ctx); err == nil {
			for _, a := range s.Target.Apps() {
				if !slices.Contains(known, a) {
					s.log.Warn("the local target runs entities of an unknown application; `elk undeploy` removes them", "app", a)
				}
			}
		}
	}
	err := s.Server.Serve(ctx, s.listener)
	cancel()
	wg.Wait()
	if s.Target != nil {
		s.log.Info("stopping every local process")
		s.Target.Close()
	}
	if s.Registry != nil {
		s.Registry.Close()
	}
	return err
}

// NomadConfig configures a server running the nomad target. Nomad and
// Consul are reached through their usual environment variables
// (NOMAD_ADDR, NOMAD_TOKEN, NOMAD_NAMESPACE, NOMAD_REGION, NOMAD_CACERT...,
// CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN).
type NomadConfig struct {
	// Listen is the API address (default 127.0.0.1:7878).
	Listen string
	// ElkBinary is the path of the elk binary on the Nomad client nodes
	// (default "elk", found in their PATH).
	ElkBinary string
	// Prometheus, if set, answers the policies' PromQL checks.
	Prometheus  string
	WaitTimeout time.Duration
	Logger      *slog.Logger
}

// NewNomad builds a server that deploys onto Nomad, registers and
// resolves through Consul and keeps its state in Consul KV. Several
// servers may run: the one holding the Consul lock
// elk/orchestrator/leader serves, the others wait as standbys.
func NewNomad(cfg NomadConfig) (*Stack, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:7878"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger
	tg, err := nomad.New(nomad.Config{Logger: log.With("component", "nomad")})
	if err != nil {
		return nil, err
	}
	ccfg := consul.Config{Logger: log.With("component", "consul")}
	reg, err := consul.NewRegistry(ccfg)
	if err != nil {
		return nil, err
	}
	kv, err := consul.NewKV(ccfg)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	lock, err := consul.NewLock(ccfg, consul.LockConfig{
		Key: "elk/orchestrator/leader", Value: []byte(host + " " + cfg.Listen), SessionName: "elk-orchestrator"})
	if err != nil {
		return nil, err
	}
	st, err := assemble(tg, kv, reg, nil, catalog.Options{Target: blueprints.TargetNomad, ElkBinary: cfg.ElkBinary},
		cfg.Prometheus, cfg.WaitTimeout, log)
	if err != nil {
		return nil, err
	}
	st.Addr, st.lock, st.listen = "http://"+cfg.Listen, lock, cfg.Listen
	return st, nil
}
