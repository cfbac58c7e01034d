package elasticsearch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
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

// drainBatch tracks the documents of one spool segment being drained.
type drainBatch struct {
	remaining atomic.Int64
	failed    atomic.Bool
	done      chan struct{}
	// settled marks the segment's documents whose final outcome was
	// counted; when the cluster goes away mid-drain the segment is drained
	// again later without them, so none is counted (or sent) twice.
	settled []atomic.Bool
}

func (b *drainBatch) finish(failed bool) {
	if failed {
		b.failed.Store(true)
	}
	if b.remaining.Add(-1) == 0 {
		close(b.done)
	}
}

type indexKey struct {
	dataset, tenant string
	day             int64
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
	m, err := newMetrics(deps.Registry, "elasticsearch")
	if err != nil {
		return nil, err
	}
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
	s := &Sink{
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
	}
	if cfg.SpoolDir != "" {
		sp, err := openFirstSpool(append([]string{cfg.SpoolDir}, cfg.SpoolAlternates...), cfg.SpoolMaxBytes, deps.Now)
		if err != nil {
			cancel()
			return nil, err
		}
		s.spool = sp
		if err := sp.markOutput(s.outputID()); err != nil {
			s.log.Warn("cannot mark the spool with its output; other sinks will not adopt it", "dir", sp.dir, "error", err)
		}
		s.log.Info("spooling to disk while elasticsearch is unreachable", "dir", sp.dir, "max_bytes", cfg.SpoolMaxBytes)
	}
	s.bi, err = esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:     client,
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
	if err != nil {
		cancel()
		return nil, fmt.Errorf("creating bulk indexer: %w", err)
	}
	// Try the cluster once now so templates exist before the first document.
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	if err := s.probe(pctx); err != nil {
		s.log.Warn("elasticsearch not reachable yet; retrying in the background", "url", s.redactedURLs(), "error", err)
	} else {
		s.setHealthy(true)
	}
	pcancel()
	s.wg.Add(2)
	go s.retryLoop()
	go s.maintainLoop()
	return s, nil
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

// Write implements sink.Sink. It copies every document, so the caller may
// reuse docs as soon as it returns.
func (s *Sink) Write(ctx context.Context, docs []sink.Doc) error {
	if s.closed.Load() {
		return errors.New("elasticsearch sink: write after close")
	}
	var errs []error
	for i := 0; i < len(docs); i++ {
		d := &docs[i]
		if s.spool != nil && (!s.isHealthy() || !s.spool.empty()) {
			// Keep order: while anything is spooled, new documents queue
			// behind it.
			j := i + 1
			for j < len(docs) && j-i < 512 {
				j++
			}
			n, err := s.spool.append(docs[i:j])
			s.m.spooled.Add(float64(n))
			if err != nil {
				for k := i + n; k < len(docs); k++ {
					s.count(docs[k].Tenant, OutcomeFailed)
				}
				return fmt.Errorf("elasticsearch sink: spooling: %w", err)
			}
			i = j - 1
			s.signal()
			continue
		}
		if s.spool == nil && !s.isHealthy() {
			if err := s.waitHealthy(ctx); err != nil {
				for k := i; k < len(docs); k++ {
					s.count(docs[k].Tenant, OutcomeFailed)
				}
				return fmt.Errorf("elasticsearch sink: waiting for the cluster: %w", err)
			}
		}
		epoch, err := s.acquire(ctx)
		if err != nil {
			for k := i; k < len(docs); k++ {
				s.count(docs[k].Tenant, OutcomeFailed)
			}
			return fmt.Errorf("elasticsearch sink: %w", err)
		}
		it := &item{doc: copyDoc(d), index: s.indexFor(d), epoch: epoch}
		if err := s.add(it); err != nil {
			s.release(epoch)
			s.count(d.Tenant, OutcomeFailed)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func copyDoc(d *sink.Doc) sink.Doc {
	buf := make([]byte, len(d.Key)+len(d.Body))
	copy(buf, d.Key)
	copy(buf[len(d.Key):], d.Body)
	return sink.Doc{
		ID: d.ID, Dataset: d.Dataset, Tenant: d.Tenant, Time: d.Time,
		Key:  buf[:len(d.Key):len(d.Key)],
		Body: buf[len(d.Key):],
	}
}

// acquire takes an in-flight slot, blocking while all are taken, and returns
// the epoch the document is counted in.
func (s *Sink) acquire(ctx context.Context) (uint64, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-s.runCtx.Done():
		return 0, errors.New("sink closed")
	}
	s.m.backlog.Set(float64(s.inflight.Add(1)))
	s.epochMu.Lock()
	e := s.epoch
	s.pending[e]++
	s.epochMu.Unlock()
	return e, nil
}

func (s *Sink) release(epoch uint64) {
	s.epochMu.Lock()
	if s.pending[epoch]--; s.pending[epoch] <= 0 {
		delete(s.pending, epoch)
	}
	s.epochMu.Unlock()
	<-s.slots
	s.m.backlog.Set(float64(s.inflight.Add(-1)))
}

// nextEpoch starts a new epoch and returns the previous one.
func (s *Sink) nextEpoch() uint64 {
	s.epochMu.Lock()
	defer s.epochMu.Unlock()
	e := s.epoch
	s.epoch++
	return e
}

// pendingUpTo counts the unsettled documents of epochs <= e.
func (s *Sink) pendingUpTo(e uint64) int64 {
	s.epochMu.Lock()
	defer s.epochMu.Unlock()
	var n int64
	for k, v := range s.pending {
		if k <= e {
			n += v
		}
	}
	return n
}

func (s *Sink) count(tenant, outcome string) {
	s.m.docs.Counter(tenant, outcome).Inc()
}

// add hands one item to the bulk indexer.
func (s *Sink) add(it *item) error {
	return s.bi.Add(s.runCtx, esutil.BulkIndexerItem{
		Index:      it.index,
		Action:     "create",
		DocumentID: it.doc.ID,
		Body:       bytes.NewReader(it.doc.Body),
		OnSuccess: func(_ context.Context, _ esutil.BulkIndexerItem, _ esutil.BulkIndexerResponseItem) {
			s.done(it, OutcomeIndexed)
		},
		OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
			s.onFailure(it, res, err)
		},
	})
}

func (s *Sink) done(it *item, outcome string) {
	s.count(it.doc.Tenant, outcome)
	if it.batch != nil {
		it.batch.settled[it.rec].Store(true)
		it.batch.finish(false)
	}
	s.release(it.epoch)
}

var statusRE = regexp.MustCompile(`\[(\d{3})`)

// onFailure runs on a bulk worker: it classifies the failure and settles,
// retries or spools the item without blocking the worker.
func (s *Sink) onFailure(it *item, res esutil.BulkIndexerResponseItem, err error) {
	if err == nil {
		switch {
		case res.Status == http.StatusConflict:
			s.done(it, OutcomeDuplicate)
		case res.Status == http.StatusTooManyRequests || res.Status >= 500 || res.Status == 0:
			s.retryLater(it)
		default:
			s.rejectedLog.Warn(s.log, "document rejected", "index", it.index, "id", it.doc.ID, "status", res.Status,
				"error_type", res.Error.Type, "reason", res.Error.Reason)
			s.done(it, OutcomeFailed)
		}
		return
	}
	// The whole bulk request failed.
	status := 0
	if m := statusRE.FindStringSubmatch(err.Error()); m != nil {
		status, _ = strconv.Atoi(m[1])
	}
	if status >= 400 && status < 500 && status != http.StatusTooManyRequests {
		s.bulkRejectedLog.Warn(s.log, "bulk request rejected", "status", status, "error", err)
		s.done(it, OutcomeFailed)
		return
	}
	s.setHealthy(false)
	switch {
	case it.batch != nil:
		// Still in its spool segment: the segment is drained again later.
		it.batch.finish(true)
		s.release(it.epoch)
	case s.spool != nil:
		n, serr := s.spool.append([]sink.Doc{it.doc})
		if n == 1 {
			s.m.spooled.Inc()
		} else {
			s.spoolRefusedLog.Error(s.log, "document lost: spool refused it", "error", serr)
			s.count(it.doc.Tenant, OutcomeFailed)
		}
		s.release(it.epoch)
	default:
		s.retryLater(it)
	}
}

func (s *Sink) retryLater(it *item) {
	it.attempt++
	s.m.retries.Inc()
	time.AfterFunc(backoff(it.attempt, 200*time.Millisecond, 5*time.Second), func() {
		s.retryQ <- it // never blocks: capacity is MaxInFlight and it holds a slot
	})
}

func (s *Sink) retryLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.runCtx.Done():
			return
		case it := <-s.retryQ:
			if err := s.waitHealthy(s.runCtx); err != nil {
				s.abandon(it)
				continue
			}
			if err := s.add(it); err != nil {
				s.abandon(it)
			}
		}
	}
}

// abandon gives up on an item when the sink closes. A document drained
// from the spool is still in its segment (drained by the next sink); any
// other goes to the spool when there is one, and only otherwise counts as
// failed.
func (s *Sink) abandon(it *item) {
	switch {
	case it.batch != nil:
		it.batch.finish(true)
	case s.spool != nil:
		if n, err := s.spool.append([]sink.Doc{it.doc}); n == 1 {
			s.m.spooled.Inc()
		} else {
			s.spoolRefusedLog.Error(s.log, "document lost: spool refused it", "error", err)
			s.count(it.doc.Tenant, OutcomeFailed)
		}
	default:
		s.count(it.doc.Tenant, OutcomeFailed)
	}
	s.release(it.epoch)
}

func (s *Sink) isHealthy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.healthy
}

func (s *Sink) setHealthy(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok == s.healthy {
		return
	}
	s.healthy = ok
	if ok {
		close(s.healthyCh)
		s.log.Info("elasticsearch reachable", "url", s.redactedURLs())
	} else {
		s.healthyCh = make(chan struct{})
		s.log.Warn("elasticsearch unreachable; retrying", "url", s.redactedURLs(), "spool", s.spool != nil)
		s.signal()
	}
}

func (s *Sink) waitHealthy(ctx context.Context) error {
	s.mu.Lock()
	ch := s.healthyCh
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.runCtx.Done():
		return errors.New("sink closed")
	}
}

func (s *Sink) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// maintainLoop probes the cluster while it is unhealthy, drains the spool
// while it is healthy and keeps the spool gauges current.
func (s *Sink) maintainLoop() {
	defer s.wg.Done()
	attempt := 0
	var lastAdopt time.Time
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		s.updateSpoolGauges()
		if s.runCtx.Err() != nil {
			return
		}
		if !s.isHealthy() {
			ctx, cancel := context.WithTimeout(s.runCtx, 5*time.Second)
			err := s.probe(ctx)
			cancel()
			if err == nil {
				attempt = 0
				s.setHealthy(true)
				continue
			}
			attempt++
			s.sleep(backoff(attempt, 250*time.Millisecond, 5*time.Second))
			continue
		}
		if s.spool != nil && !s.spool.empty() {
			if err := s.drainOne(s.spool); err != nil {
				s.log.Error("draining spool", "error", err)
				s.sleep(time.Second)
			}
			continue
		}
		if len(s.cfg.SpoolAdopt) > 0 && time.Since(lastAdopt) >= adoptEvery {
			lastAdopt = time.Now()
			s.adoptSpools()
			continue
		}
		select {
		case <-s.runCtx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
	}
}

func (s *Sink) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.runCtx.Done():
	}
}

// outputID identifies this sink's output in its spool directory: the
// cluster's URLs (without credentials) and the index prefix. Sinks adopt
// only spools with their own output's id.
func (s *Sink) outputID() string {
	h := sha256.New()
	for _, raw := range s.cfg.URLs {
		if u, err := url.Parse(raw); err == nil {
			raw = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/")
		}
		io.WriteString(h, raw+"\n")
	}
	io.WriteString(h, s.cfg.IndexPrefix)
	return "elasticsearch " + hex.EncodeToString(h.Sum(nil))[:16]
}

// adoptEvery is how often a sink looks for spools other sinks left behind.
var adoptEvery = 10 * time.Second

// adoptSpools drains the spool directories matching Config.SpoolAdopt that
// no live sink holds, one segment at a time, and removes the emptied ones
// (never SpoolDir itself). It stops when the cluster goes away again; what
// is left stays on disk for the next round.
func (s *Sink) adoptSpools() {
	id := s.outputID()
	for _, dir := range s.adoptable() {
		if s.runCtx.Err() != nil || !s.isHealthy() {
			return
		}
		if spoolOutput(dir) != id {
			continue // another output's spool, or no spool at all
		}
		sp, err := openSpool(dir, s.cfg.SpoolMaxBytes, s.now)
		if err != nil {
			if !errors.Is(err, ErrSpoolInUse) {
				s.log.Warn("cannot open a spool left by another sink", "dir", dir, "error", err)
			}
			continue
		}
		if _, n, _ := sp.stats(); n > 0 {
			s.log.Info("draining a spool another sink left behind", "dir", dir, "documents", n)
			s.adopted.Store(sp)
			for !sp.empty() && s.isHealthy() && s.runCtx.Err() == nil {
				if err := s.drainOne(sp); err != nil {
					s.log.Warn("draining an adopted spool", "dir", dir, "error", err)
					break
				}
			}
			s.adopted.Store(nil)
			s.updateSpoolGauges()
		}
		if sp.empty() && filepath.Clean(dir) != filepath.Clean(s.cfg.SpoolDir) {
			if err := sp.removeDir(); err != nil {
				s.log.Warn("removing an emptied spool directory", "dir", dir, "error", err)
			}
			continue
		}
		if err := sp.close(); err != nil {
			s.log.Warn("closing an adopted spool", "dir", dir, "error", err)
		}
	}
}

// adoptable lists the directories matching Config.SpoolAdopt, without this
// sink's own spool.
func (s *Sink) adoptable() []string {
	seen := map[string]bool{}
	if s.spool != nil {
		seen[filepath.Clean(s.spool.dir)] = true
	}
	var dirs []string
	for _, pat := range s.cfg.SpoolAdopt {
		matches, err := filepath.Glob(pat)
		if err != nil {
			continue // Config.Validate rejects bad patterns
		}
		for _, m := range matches {
			m = filepath.Clean(m)
			if seen[m] {
				continue
			}
			seen[m] = true
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				dirs = append(dirs, m)
			}
		}
	}
	return dirs
}

// updateSpoolGauges reports this sink's spool plus the adopted one being
// drained.
func (s *Sink) updateSpoolGauges() {
	var b, n int64
	var oldest time.Time
	for _, sp := range []*spool{s.spool, s.adopted.Load()} {
		if sp == nil {
			continue
		}
		sb, sn, so := sp.stats()
		b, n = b+sb, n+sn
		if sn > 0 && (oldest.IsZero() || so.Before(oldest)) {
			oldest = so
		}
	}
	if s.spool == nil && len(s.cfg.SpoolAdopt) == 0 {
		return
	}
	s.m.spoolBytes.Set(float64(b))
	s.m.spoolDocs.Set(float64(n))
	if n == 0 {
		s.m.spoolAge.Set(0)
	} else {
		s.m.spoolAge.Set(s.now().Sub(oldest).Seconds())
	}
}

// drainOne sends the oldest segment of sp and deletes it once every document
// in it was acknowledged.
func (s *Sink) drainOne(sp *spool) error {
	seg, recs, err := sp.oldest()
	if err != nil || seg == nil {
		return err
	}
	if len(recs) == 0 {
		return sp.remove(seg)
	}
	if len(seg.settled) != len(recs) {
		seg.settled = make([]atomic.Bool, len(recs))
	}
	todo := 0
	for i := range seg.settled {
		if !seg.settled[i].Load() {
			todo++
		}
	}
	if todo == 0 {
		return sp.remove(seg)
	}
	s.log.Info("draining spool segment", "documents", todo, "bytes", seg.size)
	b := &drainBatch{done: make(chan struct{}), settled: seg.settled}
	b.remaining.Store(int64(todo))
	for i := range recs {
		if seg.settled[i].Load() {
			continue
		}
		d := &recs[i].doc
		epoch, err := s.acquire(s.runCtx)
		if err != nil {
			return s.unqueued(b, todo, err)
		}
		it := &item{doc: *d, index: s.indexFor(d), batch: b, rec: i, epoch: epoch}
		if err := s.add(it); err != nil {
			s.release(epoch)
			return s.unqueued(b, todo, fmt.Errorf("queueing spooled document: %w", err))
		}
		todo--
	}
	if err := s.bi.Flush(s.runCtx); err != nil && s.runCtx.Err() == nil {
		s.log.Warn("flushing drained documents", "error", err)
	}
	select {
	case <-b.done:
	case <-s.runCtx.Done():
		return s.runCtx.Err()
	}
	if b.failed.Load() {
		return nil // the cluster went away again; the segment stays
	}
	s.updateSpoolGauges()
	if err := sp.remove(seg); err != nil {
		return err
	}
	if sp != s.spool {
		s.m.adopted.Add(float64(len(recs)))
	}
	return nil
}

// unqueued marks the n documents of b that were never queued as failed for
// this drain (they stay in the segment) and returns err.
func (s *Sink) unqueued(b *drainBatch, n int, err error) error {
	for range n {
		b.finish(true)
	}
	return err
}

// probe checks the cluster and installs the index templates once.
func (s *Sink) probe(ctx context.Context) error {
	if !s.templatesOK.Load() && !s.cfg.SkipTemplates {
		if err := s.installTemplates(ctx); err != nil {
			return err
		}
		s.templatesOK.Store(true)
		return nil
	}
	res, err := esapi.InfoRequest{}.Do(ctx, s.client)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.IsError() {
		return fmt.Errorf("cluster info: %s", res.Status())
	}
	return nil
}

// installTemplates puts the index template covering every index the sink
// writes: a composable one (_index_template, Elasticsearch 7.8+ and
// OpenSearch) or, where that API is missing, a legacy one. It is idempotent.
func (s *Sink) installTemplates(ctx context.Context) error {
	body, err := composableTemplateBody(s.cfg.IndexPrefix, s.cfg.Replicas)
	if err != nil {
		return err
	}
	res, err := esapi.IndicesPutIndexTemplateRequest{
		Name: s.cfg.IndexPrefix,
		Body: bytes.NewReader(body),
	}.Do(ctx, s.client)
	if err != nil {
		return fmt.Errorf("installing index template: %w", err)
	}
	res.Body.Close()
	if !res.IsError() {
		s.m.templateInits.Inc()
		return nil
	}
	if res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
		return fmt.Errorf("installing index template: %s", res.Status())
	}
	// No composable templates (before 7.8): the legacy API.
	body, err = templateBody(s.cfg.IndexPrefix, s.cfg.Replicas)
	if err != nil {
		return err
	}
	res, err = esapi.IndicesPutTemplateRequest{
		Name: s.cfg.IndexPrefix,
		Body: bytes.NewReader(body),
	}.Do(ctx, s.client)
	if err != nil {
		return fmt.Errorf("installing index template: %w", err)
	}
	defer res.Body.Close()
	if res.IsError() {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 2048))
		return fmt.Errorf("installing index template: %s: %s", res.Status(), msg)
	}
	s.m.templateInits.Inc()
	return nil
}

// IndexName returns the daily index for a dataset, tenant and time:
// <prefix>-flow-<tenant|default>-YYYY.MM.DD.
func IndexName(prefix, dataset, tenant string, t time.Time) string {
	kind := strings.TrimPrefix(dataset, "sflow.")
	switch kind {
	case "flow", "counters", "discards":
	default:
		kind = "other"
	}
	return prefix + "-" + kind + "-" + sanitizeTenant(tenant) + "-" + t.UTC().Format("2006.01.02")
}

func sanitizeTenant(t string) string {
	if t == "" {
		return "default"
	}
	b := []byte(strings.ToLower(t))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

func (s *Sink) indexFor(d *sink.Doc) string {
	t := d.Time
	if t.IsZero() {
		t = s.now()
	}
	k := indexKey{d.Dataset, d.Tenant, t.UTC().Unix() / 86400}
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	if name, ok := s.idxCache[k]; ok {
		return name
	}
	if len(s.idxCache) > 4096 {
		clear(s.idxCache)
	}
	name := IndexName(s.cfg.IndexPrefix, d.Dataset, d.Tenant, t)
	s.idxCache[k] = name
	return name
}

// Flush implements sink.Sink: it returns when every document accepted so far
// is acknowledged (or counted as failed), including spooled ones.
func (s *Sink) Flush(ctx context.Context) error { return s.wait(ctx, false) }

// wait is Flush; with spoolSettles, while the cluster is unreachable a
// document in the spool counts as settled too (it waits on disk for the
// next sink of this output), so a sink closing during an outage returns as
// soon as nothing is in flight.
func (s *Sink) wait(ctx context.Context, spoolSettles bool) error {
	epoch := s.nextEpoch()
	if s.pendingUpTo(epoch) > 0 && s.isHealthy() {
		// Send what is buffered now rather than at the next interval.
		if err := s.bi.Flush(ctx); err != nil && ctx.Err() != nil {
			return fmt.Errorf("elasticsearch sink: flush: %w", ctx.Err())
		}
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.pendingUpTo(epoch) == 0 && (s.spool == nil || s.spool.empty() || spoolSettles && !s.isHealthy()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("elasticsearch sink: flush: %d documents in flight, %d spooled: %w",
				s.inflight.Load(), s.spooledDocs(), ctx.Err())
		case <-tick.C:
		}
	}
}

func (s *Sink) spooledDocs() int64 {
	if s.spool == nil {
		return 0
	}
	_, n, _ := s.spool.stats()
	return n
}

// Close implements sink.Sink. It waits for the documents in flight and, while
// the cluster is reachable, for the spool to drain (bounded by ctx).
// Documents still spooled stay on disk: the next sink using the directory,
// or a running sink adopting it (Config.SpoolAdopt), delivers them.
func (s *Sink) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.spool != nil {
		// A cluster that does not answer (a black hole rather than a
		// refused connection) would hold the documents in flight past the
		// kill grace of the target stopping this process: after CloseGrace
		// the requests are abandoned and their documents spooled. The
		// cluster may have indexed some of them; resending those later
		// yields counted duplicates, never double counts.
		t := time.AfterFunc(s.cfg.CloseGrace, func() {
			if n := s.inflight.Load(); n > 0 {
				s.log.Warn("elasticsearch not answering at close; spooling the documents in flight", "documents", n)
				s.abortRequests()
			}
		})
		defer t.Stop()
	}
	ferr := s.wait(ctx, true)
	if n := s.spooledDocs(); n > 0 {
		s.log.Info("closing with documents spooled; they are delivered by the next sink of this output",
			"documents", n, "dir", s.spool.dir, "cluster_reachable", s.isHealthy())
	}
	s.cancel()
	s.wg.Wait()
	defer s.abortRequests()
	// Anything still in flight is lost (ctx ended with the cluster away).
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	berr := s.bi.Close(cctx)
	for {
		select {
		case it := <-s.retryQ:
			s.abandon(it)
			continue
		default:
		}
		break
	}
	var serr error
	if s.spool != nil {
		serr = s.spool.close()
		s.updateSpoolGauges()
	}
	if berr != nil && ctx.Err() == nil {
		berr = fmt.Errorf("closing bulk indexer: %w", berr)
	} else {
		berr = nil
	}
	return errors.Join(ferr, berr, serr)
}
