package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	"github.com/elk-project/elk/orchestrator/discovery/nomadsvc"
	"github.com/elk-project/elk/orchestrator/kv"
	"github.com/elk-project/elk/orchestrator/secrets"
	"github.com/elk-project/elk/orchestrator/statedir"
	"github.com/elk-project/elk/orchestrator/target"
	"github.com/elk-project/elk/orchestrator/target/local"
	"github.com/elk-project/elk/orchestrator/target/nomad"
	"github.com/elk-project/elk/orchestrator/tenant"
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
	// AddressCheck, if set, is called when entities of an application
	// reach other entities (or advertise themselves) by address: refs
	// names them. Its error rejects the blueprint before anything is
	// deployed.
	AddressCheck func(app string, refs []string) error
}

// Compile parses and validates a blueprint and builds its entities' specs
// and policies.
func (c BlueprintCompiler) Compile(filename string, data []byte) (Compiled, error) {
	bp, err := blueprints.Parse(filename, data)
	if err != nil {
		return Compiled{}, err
	}
	opts := c.Options
	var refs []string
	if c.AddressCheck != nil && opts.ServiceHost != nil {
		host := opts.ServiceHost
		opts.ServiceHost = func(app, entity string) string {
			if !slices.Contains(refs, entity) {
				refs = append(refs, entity)
			}
			return host(app, entity)
		}
	}
	specs, err := catalog.Specs(bp, opts)
	if err == nil && len(refs) > 0 {
		err = c.AddressCheck(bp.Name, refs)
	}
	if err != nil {
		if c.Options.Target != "" && bp.Target != c.Options.Target {
			err = fmt.Errorf("%w\n(the blueprint targets %s; this server runs the %s target)", err, bp.Target, c.Options.Target)
		}
		return Compiled{}, err
	}
	// The text is kept for reference; the specs carry the credentials
	// (sealed), the text only their redaction.
	out := Compiled{App: orchestrator.App{Name: bp.Name, Source: secrets.RedactText(string(data))}, Policies: map[string][]*policies.Policy{}}
	for _, s := range specs {
		var deps []string
		if e := bp.Entity(s.Entity); e != nil {
			deps = e.DependsOn
			if len(e.Scaling) > 0 {
				out.Policies[e.ID] = e.Scaling
			}
		}
		out.App.Entities = append(out.App.Entities, orchestrator.Entity{Spec: s, DependsOn: deps})
	}
	return out, nil
}

// writeTenantTable renders the tenant records as the collectors' tenant
// table at path (they reload it when it changes). Filters the collector
// cannot route yet are logged.
func writeTenantTable(ctx context.Context, s *tenant.Store, path string, log *slog.Logger) {
	recs, err := s.List(ctx)
	if err != nil {
		log.Error("tenant table: list tenants", "error", err)
		if recs == nil {
			return
		}
	}
	table, skipped := tenant.RouteTable(recs)
	for _, msg := range skipped {
		log.Warn("tenant table: filter left out", "reason", msg)
	}
	if err := statedir.WriteFile(path, table); err != nil {
		log.Error("tenant table: write", "path", path, "error", err)
	}
}

// policySink hands a deployed blueprint's policies to the policy engine.
type policySink struct {
	eng *engine.Engine
	mu  sync.Mutex
	has map[string][]string // app -> entities with policies
}

func (p *policySink) Deployed(app string, pols map[string][]*policies.Policy) error {
	var errs []error
	var ents []string
	for _, id := range slices.Sorted(maps.Keys(pols)) {
		for _, pol := range pols[id] {
			if _, err := p.eng.Apply(pol, "blueprint "+app, "blueprint"); err != nil {
				errs = append(errs, fmt.Errorf("policy of %s: %w", id, err))
				continue
			}
			ents = append(ents, id)
		}
	}
	p.mu.Lock()
	for _, old := range p.has[app] {
		if len(pols[old]) == 0 {
			p.eng.Remove(app, old)
		}
	}
	p.has[app] = ents
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

// TenantTableFile is the collectors' tenant table the local server writes
// into its state directory from its tenant records.
const TenantTableFile = "tenants.yaml"

// KeyringFile is the key file in a server's state directory that seals the
// entities' secrets (mode 0600; keep it out of backups of the rest).
const KeyringFile = "keyring"

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
	// MaxInstances caps every entity's count (default
	// orchestrator.DefaultMaxInstances).
	MaxInstances int
	Logger       *slog.Logger
	// Security protects the API (tokens, browser defenses, TLS).
	Security Security
}

// Stack is a complete orchestrator server on the local target: embedded
// registry, directory KV, local processes, deploy engine, policy engine
// and HTTP API.
type Stack struct {
	// Addr is the API's base URL, e.g. http://127.0.0.1:7878.
	Addr      string
	Engine    *orchestrator.Engine
	Target    *local.Target
	Discovery *embedded.Registry
	Server    *Server
	Metrics   *prometheus.Registry

	log      *slog.Logger
	listener net.Listener
	policies *engine.Engine
	scraper  *scrape.Scraper
	// With a leader lock (several servers on Nomad), Run waits to hold
	// it before binding listen and serving, and stops when it is lost.
	lock   *consul.Lock
	listen string
	// dirLock keeps a second server off the same state directory.
	dirLock *statedir.Lock
}

// NewLocal builds the local stack and binds its listener.
func NewLocal(cfg LocalConfig) (*Stack, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:7878"
	}
	if cfg.StateDir == "" {
		return nil, errors.New("server: state directory is required")
	}
	return lockedStack(cfg.StateDir, func() (*Stack, error) { return newLocal(cfg) })
}

func newLocal(cfg LocalConfig) (*Stack, error) {
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
	addr := scheme(cfg.Security) + l.Addr().String()
	kv, err := embedded.NewDirKV(filepath.Join(cfg.StateDir, "kv"))
	if err != nil {
		return nil, err
	}
	keys, err := secrets.LoadOrCreate(filepath.Join(cfg.StateDir, KeyringFile))
	if err != nil {
		return nil, err
	}
	reg := embedded.New(embedded.Config{}, log.With("component", "registry"))
	tg, err := local.New(local.Config{
		StateDir: filepath.Join(cfg.StateDir, "local"), RegistryURL: addr, Discovery: reg, ElkBinary: cfg.ElkBinary, Keyring: keys,
	}, log.With("component", "local"))
	if err != nil {
		reg.Close()
		return nil, err
	}
	table, err := filepath.Abs(filepath.Join(cfg.StateDir, TenantTableFile))
	if err != nil {
		tg.Close()
		reg.Close()
		return nil, err
	}
	st, err := assemble(tg, kv, reg, reg.Handler(), BlueprintCompiler{Options: catalog.Options{Target: blueprints.TargetLocal, ElkBinary: cfg.ElkBinary, TenantTable: table}},
		cfg.Prometheus, orchestrator.Config{WaitTimeout: cfg.WaitTimeout, MaxInstances: cfg.MaxInstances, Keyring: keys}, cfg.Security, log)
	if err != nil {
		tg.Close()
		reg.Close()
		return nil, err
	}
	st.Addr, st.listener, st.Target, st.Discovery = addr, l, tg, reg
	ok = true
	return st, nil
}

// lockedStack takes the state directory's lock, so no second server shares
// it, and builds the stack; the stack holds the lock until Run returns.
func lockedStack(dir string, build func() (*Stack, error)) (*Stack, error) {
	lock, err := statedir.Acquire(dir)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	st, err := build()
	if err != nil {
		lock.Close()
		return nil, err
	}
	st.dirLock = lock
	return st, nil
}

// assemble builds the engines and the API over a target, a KV and a
// registry.
func assemble(tg target.Target, kv kv.KV, reg discovery.Registry, regHandler http.Handler, comp BlueprintCompiler,
	prom string, oc orchestrator.Config, sec Security, log *slog.Logger) (*Stack, error) {
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	eng, err := orchestrator.New(oc, orchestrator.Deps{
		Target: tg, KV: kv, Logger: log.With("component", "orchestrator"), Metrics: metrics})
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
		Scaler: scaler{eng}, Source: mux, KV: kv, Logger: log.With("component", "policy"), Metrics: metrics})
	if err != nil {
		return nil, err
	}
	tenants := tenant.NewStore(kv, "")
	var tenantsChanged func(context.Context)
	if path := comp.Options.TenantTable; path != "" {
		tenantsChanged = func(ctx context.Context) { writeTenantTable(ctx, tenants, path, log) }
		tenantsChanged(context.Background())
	}
	srv, err := New(Deps{
		Engine: eng, Compiler: comp, DiscoveryAPI: regHandler, Policies: pol.Handler(), Tenants: tenant.Handler(tenants, tenantsChanged),
		PolicySink: &policySink{eng: pol, has: map[string][]string{}}, Metrics: metrics, Logger: log.With("component", "api"),
		Security: sec,
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
		s.listener, s.Addr = l, scheme(s.Server.deps.Security)+l.Addr().String()
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
	if s.Discovery != nil {
		s.Discovery.Close()
	}
	s.dirLock.Close()
	return err
}

// scheme is the API URL's scheme prefix.
func scheme(sec Security) string {
	if sec.TLS != nil {
		return "https://"
	}
	return "http://"
}

// Discovery backends of the nomad target.
const (
	// DiscoveryConsul: services in Consul, state in Consul KV, a Consul
	// leader lock (several servers may run).
	DiscoveryConsul = "consul"
	// DiscoveryNomad: services in Nomad's native registry, state in a
	// local directory, one server.
	DiscoveryNomad = "nomad"
)

// DefaultDiscovery is the nomad target's discovery backend when none is
// chosen: consul when CONSUL_HTTP_ADDR is set, nomad otherwise.
func DefaultDiscovery(getenv func(string) string) string {
	if getenv("CONSUL_HTTP_ADDR") != "" {
		return DiscoveryConsul
	}
	return DiscoveryNomad
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
	// Discovery is DiscoveryConsul or DiscoveryNomad; empty:
	// DefaultDiscovery(os.Getenv).
	Discovery string
	// StateDir holds the KV state with DiscoveryNomad.
	StateDir string
	// Keyring is the key file that seals secrets in the state (with
	// DiscoveryNomad default StateDir/keyring; with DiscoveryConsul every
	// server needs the same file, and without one secrets are stored as
	// they are, readable by whoever may read elk/ in Consul KV).
	Keyring string
	// Prometheus, if set, answers the policies' PromQL checks.
	Prometheus  string
	WaitTimeout time.Duration
	// MaxInstances caps every entity's count.
	MaxInstances int
	Logger       *slog.Logger
	// Security protects the API (tokens, browser defenses, TLS).
	Security Security
}

// NewNomad builds a server that deploys onto Nomad.
//
// With DiscoveryConsul it registers and resolves through Consul and keeps
// its state in Consul KV; several servers may run: the one holding the
// Consul lock elk/orchestrator/leader serves, the others wait as standbys.
//
// With DiscoveryNomad the jobs register their services in Nomad's own
// registry, the state lives in StateDir and there is no leader lock: run
// a single server. Entities reach other entities at the address of the
// Nomad client node they run on, so blueprints whose entities refer to
// each other by address deploy only onto a cluster with one client node.
func NewNomad(cfg NomadConfig) (*Stack, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:7878"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Discovery == "" {
		cfg.Discovery = DefaultDiscovery(os.Getenv)
	}
	log := cfg.Logger
	switch cfg.Discovery {
	case DiscoveryConsul:
		return newNomadConsul(cfg, log)
	case DiscoveryNomad:
		return newNomadNative(cfg, log)
	}
	return nil, fmt.Errorf("server: unknown discovery %q (consul or nomad)", cfg.Discovery)
}

func newNomadConsul(cfg NomadConfig, log *slog.Logger) (*Stack, error) {
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
	var keys *secrets.Keyring
	if cfg.Keyring != "" {
		if keys, err = secrets.LoadOrCreate(cfg.Keyring); err != nil {
			return nil, err
		}
	} else {
		log.Warn("no --keyring: entity secrets (output credentials) are stored in Consul KV as they are")
	}
	st, err := assemble(tg, kv, reg, nil, BlueprintCompiler{Options: catalog.Options{Target: blueprints.TargetNomad, ElkBinary: cfg.ElkBinary}},
		cfg.Prometheus, orchestrator.Config{WaitTimeout: cfg.WaitTimeout, MaxInstances: cfg.MaxInstances, Keyring: keys}, cfg.Security, log)
	if err != nil {
		return nil, err
	}
	log.Info("nomad target: discovery in Consul (services, health checks), state in Consul KV, leader lock elk/orchestrator/leader")
	st.Addr, st.lock, st.listen = scheme(cfg.Security)+cfg.Listen, lock, cfg.Listen
	return st, nil
}

// nodeAddress is the address of the Nomad client node an allocation runs
// on, interpolated by Nomad.
const nodeAddress = "${attr.unique.network.ip-address}"

func newNomadNative(cfg NomadConfig, log *slog.Logger) (*Stack, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("server: state directory is required with nomad discovery")
	}
	return lockedStack(cfg.StateDir, func() (*Stack, error) { return newNomadNativeLocked(cfg, log) })
}

func newNomadNativeLocked(cfg NomadConfig, log *slog.Logger) (*Stack, error) {
	tg, err := nomad.New(nomad.Config{Jobs: nomad.JobOptions{ServiceProvider: "nomad"}, Logger: log.With("component", "nomad")})
	if err != nil {
		return nil, err
	}
	reg, err := nomadsvc.New(nomadsvc.Config{Logger: log.With("component", "nomad-services")})
	if err != nil {
		return nil, err
	}
	kvDir := filepath.Join(cfg.StateDir, "kv")
	kv, err := embedded.NewDirKV(kvDir)
	if err != nil {
		return nil, err
	}
	if cfg.Keyring == "" {
		cfg.Keyring = filepath.Join(cfg.StateDir, KeyringFile)
	}
	keys, err := secrets.LoadOrCreate(cfg.Keyring)
	if err != nil {
		return nil, err
	}
	comp := BlueprintCompiler{
		Options: catalog.Options{Target: blueprints.TargetNomad, ElkBinary: cfg.ElkBinary,
			ServiceHost: func(string, string) string { return nodeAddress }},
		AddressCheck: func(app string, refs []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n, err := reg.ClientNodes(ctx)
			if err != nil {
				return fmt.Errorf("application %s: entities %s are reached by address: %w", app, strings.Join(refs, ", "), err)
			}
			if n != 1 {
				return fmt.Errorf("application %s: entities %s are reached by address, which without Consul "+
					"(Nomad's service registry) works only on a Nomad cluster with one client node; this one has %d ready: "+
					"run elk server with CONSUL_HTTP_ADDR set (--discovery consul)", app, strings.Join(refs, ", "), n)
			}
			return nil
		},
	}
	st, err := assemble(tg, kv, reg, nil, comp, cfg.Prometheus, orchestrator.Config{WaitTimeout: cfg.WaitTimeout, MaxInstances: cfg.MaxInstances, Keyring: keys}, cfg.Security, log)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("server: listen on %s: %w", cfg.Listen, err)
	}
	log.Info("nomad target without Consul: services in Nomad's service registry (provider nomad), state in a local directory, no leader lock",
		"state", kvDir)
	log.Warn("single server only: high availability (several servers, leader lock) needs Consul (CONSUL_HTTP_ADDR, --discovery consul); " +
		"entities that refer to each other by address deploy only onto a one-node cluster")
	st.Addr, st.listener = scheme(cfg.Security)+l.Addr().String(), l
	return st, nil
}
