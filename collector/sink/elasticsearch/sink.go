package elasticsearch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/elk-project/elk/collector/internal/ratelog"
	"github.com/elk-project/elk/collector/output"
	"github.com/elk-project/elk/collector/sink"
)

// Sink bulk-indexes documents into Elasticsearch. It implements sink.Sink.
type Sink struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	m      *metrics
	client *es.Client
	bi     esutil.BulkIndexer
	spool  *spool
	// adopted is another sink's spool being drained (see Config.SpoolAdopt);
	// only maintainLoop sets it.
	adopted atomic.Pointer[spool]

	slots    chan struct{} // one token per in-flight document
	inflight atomic.Int64

	// Flush waits for the documents accepted before it: each document is
	// counted in the epoch it was accepted in, and Flush starts a new one.
	epochMu sync.Mutex
	epoch   uint64
	pending map[uint64]int64
	retryQ  chan *item

	mu        sync.Mutex
	healthy   bool
	healthyCh chan struct{} // closed while healthy
	wake      chan struct{}

	templatesOK atomic.Bool
	closed      atomic.Bool
	runCtx      context.Context
	cancel      context.CancelFunc
	// abortRequests ends the bulk requests in flight (Close, after
	// CloseGrace, when a spool can take their documents).
	abortRequests context.CancelFunc
	wg            sync.WaitGroup

	idxMu    sync.Mutex
	idxCache map[indexKey]string

	// Per-document warnings get a line a second per kind, with the number
	// left out since the last; the documents metric counts every one.
	rejectedLog, bulkRejectedLog, spoolRefusedLog ratelog.Limiter
}

// item is one document on its way to Elasticsearch.
type item struct {
	doc     sink.Doc // owned copies
	index   string
	attempt int
	epoch   uint64
	batch   *drainBatch // non-nil for documents drained from the spool
	rec     int         // index of the document in its spool segment
}

// New creates the sink, installs the index templates when the cluster is
// reachable (otherwise as soon as it is) and starts the background retry and
// spool-drain loops. Close stops them.
func New(cfg Config, deps Deps) (*Sink, error) {
	cfg.URLs = append([]string(nil), cfg.URLs...)
	cfg.extractCredentials()
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("elasticsearch sink: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	m, err := newMetrics(deps.Metrics, "elasticsearch")
	if err != nil {
		return nil, err
	}
	s, err := newSink(cfg, deps, m)
	if err != nil {
		return nil, err
	}
	if cfg.SpoolDir != "" {
		if err := s.setupSpool(); err != nil {
			s.cancel()
			return nil, err
		}
	}
	if s.bi, err = s.newBulkIndexer(); err != nil {
		s.cancel()
		return nil, fmt.Errorf("creating bulk indexer: %w", err)
	}
	s.start()
	return s, nil
}

// newSink creates the client and the sink, without its spool, bulk indexer
// or background loops.
func newSink(cfg Config, deps Deps, m *metrics) (*Sink, error) {
	abortCtx, abort := context.WithCancel(context.Background())
	client, err := newClient(cfg, func(d time.Duration, size int64) {
		m.bulkDuration.Observe(d.Seconds())
		if size > 0 {
			m.bulkBytes.Observe(float64(size))
		}
	}, abortCtx)
	if err != nil {
		abort()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Sink{
		abortRequests: abort,
		m:             m,
		cfg:           cfg,
		log:           deps.Logger.With("sink", "elasticsearch"),
		now:           deps.Now,
		client:        client,
		slots:         make(chan struct{}, cfg.MaxInFlight),
		retryQ:        make(chan *item, cfg.MaxInFlight),
		healthyCh:     make(chan struct{}),
		wake:          make(chan struct{}, 1),
		runCtx:        ctx,
		cancel:        cancel,
		idxCache:      map[indexKey]string{},
		pending:       map[uint64]int64{},
	}, nil
}

// setupSpool opens the first usable spool directory (Config.SpoolDir, then
// Config.SpoolAlternates) and marks it with the sink's output.
func (s *Sink) setupSpool() error {
	cfg := s.cfg
	sp, err := openFirstSpool(append([]string{cfg.SpoolDir}, cfg.SpoolAlternates...), cfg.SpoolMaxBytes, s.now)
	if err != nil {
		return err
	}
	s.spool = sp
	if err := sp.markOutput(s.outputID()); err != nil {
		s.log.Warn("cannot mark the spool with its output; other sinks will not adopt it", "dir", sp.dir, "error", err)
	}
	s.log.Info("spooling to disk while elasticsearch is unreachable", "dir", sp.dir, "max_bytes", cfg.SpoolMaxBytes)
	return nil
}

// newBulkIndexer creates the bulk indexer sending the sink's documents.
func (s *Sink) newBulkIndexer() (esutil.BulkIndexer, error) {
	cfg := s.cfg
	return esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:     s.client,
		NumWorkers: cfg.Workers,
		// Deep worker queues: Write blocks on the in-flight bound, not on
		// a bulk request in progress.
		QueueSizeMultiplier: 1024,
		FlushBytes:          cfg.FlushBytes,
		FlushInterval:       cfg.FlushInterval,
		FilterPath:          []string{"errors", "items.*.status", "items.*.error.type", "items.*.error.reason"},
		OnError: func(_ context.Context, err error) {
			s.m.bulkErrors.Inc()
		},
	})
}

// start probes the cluster once and starts the background loops.
func (s *Sink) start() {
	// Try the cluster once now so templates exist before the first document.
	pctx, pcancel := context.WithTimeout(s.runCtx, 10*time.Second)
	if err := s.probe(pctx); err != nil {
		s.log.Warn("elasticsearch not reachable yet; retrying in the background", "url", s.redactedURLs(), "error", err)
	} else {
		s.setHealthy(true)
	}
	pcancel()
	s.wg.Add(2)
	go s.retryLoop()
	go s.maintainLoop()
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return "elasticsearch" }

// Client returns the underlying client (for counting and searching in tools).
func (s *Sink) Client() *es.Client { return s.client }

func (s *Sink) redactedURLs() string {
	out := make([]string, len(s.cfg.URLs))
	for i, u := range s.cfg.URLs {
		out[i] = output.RedactURL(u)
	}
	return strings.Join(out, ",")
}
