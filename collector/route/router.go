package route

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Router.
type Config struct {
	// Path is the tenant table file; empty means no tenants.
	Path string
	// Debounce delays a reload after the file changes, so an editor's
	// several writes make one reload. Default 200ms.
	Debounce time.Duration
}

// Deps are the Router's collaborators.
type Deps struct {
	Logger  *slog.Logger
	Metrics *prometheus.Registry
}

// Router holds the current tenant table, reloads it when its file changes
// and accounts routed flows in metrics.
type Router struct {
	cfg Config
	log *slog.Logger
	cur atomic.Pointer[Snapshot]
	mu  sync.Mutex // serialises reloads

	packets   *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	flows     *prometheus.CounterVec
	unmatched prometheus.Counter
	reloads   *prometheus.CounterVec
	tenants   prometheus.Gauge
	lastOK    prometheus.Gauge
}

// Snapshot is one tenant table with its metric handles. A worker takes one
// with Current and uses it for a whole datagram.
type Snapshot struct {
	*Table
	acct      []tenantCounters
	unmatched prometheus.Counter
}

type tenantCounters struct {
	packets, bytes prometheus.Counter
	flows          [numRules]prometheus.Counter
}

// New loads the tenant table (if a path is given) and registers metrics.
// A bad table at start-up is an error.
func New(cfg Config, deps Deps) (*Router, error) {
	if cfg.Debounce <= 0 {
		cfg.Debounce = 200 * time.Millisecond
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Router{
		cfg: cfg,
		log: deps.Logger,
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_tenant_estimated_packets_total",
			Help: "Estimated packets (sum of sampling rates) of flows routed to each tenant.",
		}, []string{"tenant"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_tenant_estimated_bytes_total",
			Help: "Estimated bytes (sum of frame length times sampling rate) of flows routed to each tenant.",
		}, []string{"tenant"}),
		flows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_tenant_flows_total",
			Help: "Flow samples routed to each tenant, by the first rule that matched.",
		}, []string{"tenant", "rule"}),
		unmatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "elk_collector_unmatched_flows_total",
			Help: "Flow samples that matched no tenant (they go to the operator's stream only).",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_collector_tenant_table_reloads_total",
			Help: "Tenant table loads by outcome (success, failure).",
		}, []string{"outcome"}),
		tenants: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "elk_collector_tenant_table_tenants",
			Help: "Tenants in the current tenant table.",
		}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "elk_collector_tenant_table_last_success_timestamp_seconds",
			Help: "Unix time of the last successful tenant table load.",
		}),
	}
	if deps.Metrics != nil {
		for _, c := range []prometheus.Collector{r.packets, r.bytes, r.flows, r.unmatched, r.reloads, r.tenants, r.lastOK} {
			if err := deps.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register routing metrics: %w", err)
			}
		}
	}
	r.reloads.WithLabelValues("success")
	r.reloads.WithLabelValues("failure")
	t := Empty()
	if cfg.Path != "" {
		var err error
		if t, err = LoadFile(cfg.Path); err != nil {
			r.reloads.WithLabelValues("failure").Inc()
			return nil, err
		}
	}
	r.install(t)
	return r, nil
}

// Current returns the table in force.
func (r *Router) Current() *Snapshot { return r.cur.Load() }

// Install replaces the table (used by Reload and by tests).
func (r *Router) install(t *Table) {
	s := &Snapshot{Table: t, acct: make([]tenantCounters, len(t.Tenants)), unmatched: r.unmatched}
	for i, tn := range t.Tenants {
		a := &s.acct[i]
		a.packets = r.packets.WithLabelValues(tn.ID)
		a.bytes = r.bytes.WithLabelValues(tn.ID)
		for rule := Rule(0); rule < numRules; rule++ {
			a.flows[rule] = r.flows.WithLabelValues(tn.ID, rule.String())
		}
	}
	if old := r.cur.Swap(s); old != nil {
		keep := make(map[string]bool, len(t.Tenants))
		for _, tn := range t.Tenants {
			keep[tn.ID] = true
		}
		for _, tn := range old.Tenants {
			if !keep[tn.ID] {
				r.packets.DeleteLabelValues(tn.ID)
				r.bytes.DeleteLabelValues(tn.ID)
				r.flows.DeletePartialMatch(prometheus.Labels{"tenant": tn.ID})
			}
		}
	}
	r.reloads.WithLabelValues("success").Inc()
	r.tenants.Set(float64(len(t.Tenants)))
	r.lastOK.SetToCurrentTime()
}

// Reload reads the table file again. On error the current table stays.
func (r *Router) Reload() error {
	if r.cfg.Path == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t, err := LoadFile(r.cfg.Path)
	if err != nil {
		r.reloads.WithLabelValues("failure").Inc()
		return err
	}
	r.install(t)
	return nil
}

// Run watches the table file and reloads it on change until ctx ends. It
// watches the directory, so editors that replace the file by renaming work.
func (r *Router) Run(ctx context.Context) error {
	if r.cfg.Path == "" {
		<-ctx.Done()
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch tenant table: %w", err)
	}
	defer w.Close()
	abs, err := filepath.Abs(r.cfg.Path)
	if err != nil {
		return fmt.Errorf("watch tenant table: %w", err)
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("watch tenant table: %w", err)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) == abs && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				timer.Reset(r.cfg.Debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.log.Warn("tenant table watch", "error", err)
		case <-timer.C:
			if err := r.Reload(); err != nil {
				r.log.Error("tenant table rejected, keeping the previous one", "path", r.cfg.Path, "error", err)
				continue
			}
			r.log.Info("tenant table reloaded", "path", r.cfg.Path, "tenants", r.Current().Len())
		}
	}
}

// Route appends the tenants f belongs to onto dst (see Table.Match) and
// counts an unmatched flow when there are none.
func (s *Snapshot) Route(f *Flow, dst []Match) []Match {
	n := len(dst)
	dst = s.Match(f, dst)
	if len(dst) == n {
		s.unmatched.Inc()
	}
	return dst
}

// Account adds one routed flow's estimates to its tenant's metrics.
func (s *Snapshot) Account(m Match, packets, bytes uint64) {
	a := &s.acct[m.Tenant]
	a.packets.Add(float64(packets))
	a.bytes.Add(float64(bytes))
	a.flows[m.Rule].Inc()
}
