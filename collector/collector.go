// Package collector is elk's sFlow collector application: it wires the
// receiver (UDP sockets and workers), the sFlow decoder, per-agent health
// tracking, tenant routing, document encoding and the sinks together, and
// serves Prometheus metrics.
//
// Every flow sample yields exactly one document in the operator's stream
// (Doc.Tenant ""), plus one copy per tenant it belongs to, stamped with
// organization.id. Every counter record likewise yields one operator
// document plus tenant copies (tenants matched by agent or interface).
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/elk-project/elk/collector/internal/ratelog"
	"github.com/elk-project/elk/collector/receiver"
	"github.com/elk-project/elk/collector/route"
	"github.com/elk-project/elk/collector/sink"
)

// Config configures a Collector.
type Config struct {
	// Listen is the sFlow UDP address, e.g. "0.0.0.0:6343".
	Listen string
	// Metrics is the HTTP address serving /metrics and /healthz; empty
	// disables it.
	Metrics string
	// Tenants is the tenant table file; empty means no tenants.
	Tenants string
	// Sockets, Workers and Queue size the receiver (see receiver.Config).
	Sockets, Workers, Queue int
	// ReadBuffer is the socket receive buffer to ask for, in bytes; 0
	// means 32 MiB.
	ReadBuffer int
	// Batch is how many documents a worker gathers before writing them to
	// the sinks; 0 means 512.
	Batch int
	// FlushInterval is how often sinks are flushed; 0 means 1s.
	FlushInterval time.Duration
	// ShutdownTimeout bounds flushing and closing the sinks on shutdown;
	// 0 means 30s.
	ShutdownTimeout time.Duration
	// MaxAgents bounds the agents with their own metric series; later ones
	// share the "_other" series. 0 means 10000.
	MaxAgents int
	// StateMemory bounds the agent state the collector remembers
	// (agents, their sources and counters), split evenly across the
	// workers; the least recently heard agents are forgotten beyond it.
	// 0 means DefaultStateMemory.
	StateMemory int
	// DropWhenFull drops datagrams when a worker's queue is full instead
	// of letting the socket buffer absorb the burst.
	DropWhenFull bool
	// SharePort joins the listen port together with other collectors
	// (SO_REUSEPORT) instead of refusing a port in use.
	SharePort bool
}

// Deps are the Collector's collaborators.
type Deps struct {
	Logger *slog.Logger
	// Registry receives the collector's metrics; /metrics serves it. If
	// nil a new one is made (with Go and process collectors).
	Metrics *prometheus.Registry
	// Sinks receive every document. The collector closes them when Run
	// ends.
	Sinks []sink.Sink
}

// Collector is the running application.
type Collector struct {
	cfg     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	sinks   []sink.Sink
	metrics *metrics
	router  *route.Router
	recv    *receiver.Receiver
	httpLn  net.Listener

	docs docCounters

	// writeCtx bounds sink writes: it ends ShutdownTimeout after Run's
	// context, so a stuck output cannot hold the drain forever.
	writeCtx     context.Context
	writeFailLog ratelog.Limiter // "output write failed", a line a second

	stateBudget int // entries per worker

	mu          sync.Mutex
	agentSeries map[agentKey]*agentMetrics // at most MaxAgents
	other       *agentMetrics
	senderCount int
	otherSender *decodeErrorMetrics
	ready       atomic.Bool
}

// New validates the configuration, loads the tenant table and binds the
// sFlow sockets and the metrics listener, so address problems show up
// here. Run starts the work.
func New(cfg Config, deps Deps) (*Collector, error) {
	if cfg.Listen == "" {
		return nil, errors.New("collector: no listen address")
	}
	if len(deps.Sinks) == 0 {
		return nil, errors.New("collector: no outputs")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 512
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if cfg.MaxAgents <= 0 {
		cfg.MaxAgents = 10000
	}
	if cfg.StateMemory <= 0 {
		cfg.StateMemory = DefaultStateMemory
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Metrics == nil {
		deps.Metrics = prometheus.NewRegistry()
		deps.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = receiver.DefaultWorkers
	}
	c := &Collector{cfg: cfg, log: deps.Logger, reg: deps.Metrics, sinks: deps.Sinks, writeCtx: context.Background(),
		stateBudget: cfg.StateMemory / workers, agentSeries: map[agentKey]*agentMetrics{}}
	m, err := newMetrics(c.reg)
	if err != nil {
		return nil, err
	}
	m.stateBudget.Set(float64(c.stateBudget * workers))
	c.metrics = m
	c.docs.flowOperator = m.documents.WithLabelValues("sflow.flow", "operator")
	c.docs.flowTenant = m.documents.WithLabelValues("sflow.flow", "tenant")
	c.docs.counterOperator = m.documents.WithLabelValues("sflow.counters", "operator")
	c.docs.counterTenant = m.documents.WithLabelValues("sflow.counters", "tenant")
	c.docs.discardOperator = m.documents.WithLabelValues("sflow.discards", "operator")
	c.docs.discardTenant = m.documents.WithLabelValues("sflow.discards", "tenant")
	c.other = m.forAgent(otherAgent, 0)
	c.otherSender = m.forSender(otherAgent, false)

	if c.router, err = route.New(route.Config{Path: cfg.Tenants}, route.Deps{Logger: c.log, Metrics: c.reg}); err != nil {
		return nil, fmt.Errorf("tenant table: %w", err)
	}
	c.recv, err = receiver.New(receiver.Config{
		Listen: cfg.Listen, Sockets: cfg.Sockets, Workers: cfg.Workers, Queue: cfg.Queue, DropWhenFull: cfg.DropWhenFull, SharePort: cfg.SharePort,
		ReadBuffer: cfg.ReadBuffer,
	}, receiver.Deps{
		Logger: c.log, Metrics: c.reg,
		NewHandler: func(int) receiver.Handler { return newWorker(c) },
		LossKernel: m.lossKernel, LossQueue: m.lossQueue,
	})
	if err != nil {
		return nil, err
	}
	if cfg.Metrics != "" {
		if c.httpLn, err = net.Listen("tcp", cfg.Metrics); err != nil {
			c.recv.Run(canceled()) // releases the sockets
			return nil, fmt.Errorf("metrics listener: %w", err)
		}
	}
	return c, nil
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// Addr is the bound sFlow address.
func (c *Collector) Addr() netip.AddrPort { return c.recv.Addr() }

// MetricsAddr is the bound metrics address ("" when disabled).
func (c *Collector) MetricsAddr() string {
	if c.httpLn == nil {
		return ""
	}
	return c.httpLn.Addr().String()
}

// Run receives until ctx ends. Then it stops reading, drains the queues,
// flushes and closes the sinks, and returns nil if that all went well.
func (c *Collector) Run(ctx context.Context) error {
	var bg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	writeCtx, stopWrites := context.WithCancel(context.Background())
	defer stopWrites()
	c.writeCtx = writeCtx
	stopAfter := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(c.cfg.ShutdownTimeout, stopWrites)
		context.AfterFunc(writeCtx, func() { t.Stop() })
	})
	defer stopAfter()

	var srv *http.Server
	if c.httpLn != nil {
		srv = &http.Server{Handler: c.handler(), ReadHeaderTimeout: 10 * time.Second}
		bg.Add(1)
		go func() {
			defer bg.Done()
			if err := srv.Serve(c.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				c.log.Error("metrics server", "error", err)
			}
		}()
	}
	bg.Add(2)
	go func() {
		defer bg.Done()
		if err := c.router.Run(bgCtx); err != nil {
			c.log.Error("tenant table watcher stopped", "error", err)
		}
	}()
	go func() {
		defer bg.Done()
		c.flushLoop(bgCtx)
	}()

	c.ready.Store(true)
	c.log.Info("collector listening", "addr", c.Addr().String(), "metrics", c.MetricsAddr(),
		"tenants", c.router.Current().Len(), "outputs", len(c.sinks))

	recvErr := c.recv.Run(ctx) // returns once the queues are drained
	c.ready.Store(false)
	c.log.Info("collector stopping: flushing outputs")

	stopBG()
	sctx, cancel := context.WithTimeout(context.Background(), c.cfg.ShutdownTimeout)
	defer cancel()
	var (
		errs  []error
		errMu sync.Mutex
	)
	if recvErr != nil {
		errs = append(errs, recvErr)
	}
	// Concurrently: an output waiting for an unreachable destination must
	// not use up the other outputs' shutdown time.
	// Close flushes: an output with a spool returns once its documents are
	// acknowledged or safely spooled, so a collector stopped during an
	// outage exits promptly and leaves its spool to the others.
	c.eachSink(func(s sink.Sink) {
		err := s.Close(sctx)
		errMu.Lock()
		defer errMu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", s.Name(), err))
		}
	})
	if srv != nil {
		srv.Shutdown(sctx)
	}
	bg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	c.log.Info("collector stopped")
	return nil
}

// flushLoop flushes every sink each FlushInterval until ctx ends. Each sink
// has its own loop, so one whose Flush blocks (an Elasticsearch output
// waiting for its spool to drain) does not delay the others' flushes.
func (c *Collector) flushLoop(ctx context.Context) {
	c.eachSink(func(s sink.Sink) {
		t := time.NewTicker(c.cfg.FlushInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.Flush(ctx); err != nil && ctx.Err() == nil {
					c.log.Warn("flush output", "output", s.Name(), "error", err)
				}
			}
		}
	})
}

// eachSink runs fn for every sink concurrently and waits for all of them.
func (c *Collector) eachSink(fn func(sink.Sink)) {
	var wg sync.WaitGroup
	for _, s := range c.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(s)
		}()
	}
	wg.Wait()
}

func (c *Collector) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{Registry: c.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !c.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// writeBatch writes a worker's batch to every sink.
func (c *Collector) writeBatch(docs []sink.Doc) {
	for _, s := range c.sinks {
		if err := s.Write(c.writeCtx, docs); err != nil {
			c.writeFailed(s, len(docs), err)
		}
	}
}

// writeFailed counts a batch a sink did not accept and logs it, at most
// once a second (with the number of failed writes not logged since).
func (c *Collector) writeFailed(s sink.Sink, n int, err error) {
	c.metrics.lossSink.Add(float64(n))
	c.writeFailLog.Error(c.log, "output write failed; documents lost", "output", s.Name(), "documents", n, "error", err)
}

// agentMetrics returns the series of an agent a worker starts to track
// (new, or forgotten and back): its own once it has them, the shared
// "_other" series once MaxAgents agents have their own.
func (c *Collector) agentMetrics(k agentKey) *agentMetrics {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.agentSeries[k]; ok {
		return m
	}
	if len(c.agentSeries) >= c.cfg.MaxAgents {
		return c.other
	}
	m := c.metrics.forAgent(k.addr.String(), k.sub)
	c.agentSeries[k] = m
	c.metrics.agents.Inc()
	return m
}

// senderMetrics returns the decode error series of a newly seen sender and
// whether they are its own (not the shared "_other" ones).
func (c *Collector) senderMetrics(a netip.Addr) (*decodeErrorMetrics, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.senderCount >= c.cfg.MaxAgents {
		return c.otherSender, false
	}
	c.senderCount++
	return c.metrics.forSender(a.String(), true), true
}
