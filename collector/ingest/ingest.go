// Package ingest is the Kafka → Elasticsearch worker behind `elk ingest`: a
// member of a consumer group that reads the documents the Kafka sink
// published, hands them to a sink (the Elasticsearch sink) and commits the
// consumed offsets only after the sink acknowledged every document of the
// batch. A crash therefore replays at most the unacknowledged batch, and the
// sink's deterministic ids turn the replay into counted duplicates, never
// into double counts. Several workers with the same group share the
// topic's partitions.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/elk-project/elk/collector/internal/ratelog"
	"github.com/elk-project/elk/collector/sink"
	"github.com/elk-project/elk/collector/sink/kafka"
	"github.com/elk-project/elk/collector/sink/sinkmetrics"
)

// Config configures an Ingest worker.
type Config struct {
	Brokers []string
	Topic   string
	Group   string
	// MaxPollRecords bounds one batch (default 5000).
	MaxPollRecords int
	// LagInterval is how often consumer lag is measured (default 5s).
	LagInterval time.Duration
	// ShutdownTimeout bounds finishing the current batch after ctx ends
	// (default 30s).
	ShutdownTimeout time.Duration
	// SessionTimeout is how long the group waits for a silent (crashed)
	// member before handing its partitions to the others (default 10s).
	SessionTimeout time.Duration
}

// Deps are the worker's collaborators.
type Deps struct {
	// Sink receives the documents (the Elasticsearch sink). Run does not
	// close it.
	Sink    sink.Sink
	Logger  *slog.Logger
	Metrics *prometheus.Registry
}

// Ingest is one consumer-group member.
type Ingest struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	consumed  *prometheus.CounterVec
	bad       prometheus.Counter
	fetchErrs prometheus.Counter
	commits   *prometheus.CounterVec
	lag       *prometheus.GaugeVec
	batchDocs prometheus.Observer

	// fetchErrLog and skipLog limit "fetch error" and "skipping record" to
	// a line a second each: a topic full of foreign records, or a broker
	// failing every partition on every poll, would log per record.
	fetchErrLog, skipLog ratelog.Limiter
}

// New validates the config and registers the metrics.
func New(cfg Config, deps Deps) (*Ingest, error) {
	var errs []error
	if len(cfg.Brokers) == 0 {
		errs = append(errs, errors.New("no Kafka broker"))
	}
	if cfg.Topic == "" {
		errs = append(errs, errors.New("no topic"))
	}
	if cfg.Group == "" {
		errs = append(errs, errors.New("no consumer group"))
	}
	if deps.Sink == nil {
		errs = append(errs, errors.New("no output sink"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 5000
	}
	if cfg.LagInterval <= 0 {
		cfg.LagInterval = 5 * time.Second
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &sinkmetrics.Registrar{Reg: deps.Metrics}
	in := &Ingest{
		cfg:  cfg,
		deps: deps,
		log:  deps.Logger.With("group", cfg.Group, "topic", cfg.Topic),
		consumed: sinkmetrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_sink_consumed_records_total",
			Help: "Kafka records consumed by the ingest worker.",
		}, []string{"group", "topic"})),
		bad: sinkmetrics.Register(r, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "elk_sink_consumed_invalid_records_total",
			Help: "Consumed Kafka records that were not elk documents (skipped).",
		})),
		fetchErrs: sinkmetrics.Register(r, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "elk_sink_consumer_fetch_errors_total",
			Help: "Errors of the ingest worker's Kafka fetches, one per partition and poll (the client retries them).",
		})),
		commits: sinkmetrics.Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "elk_sink_offset_commits_total",
			Help: "Offset commits after the output acknowledged a batch, by result (ok, error).",
		}, []string{"result"})),
		lag: sinkmetrics.Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "elk_sink_consumer_lag_records",
			Help: "Records of a partition not yet committed by the consumer group.",
		}, []string{"group", "topic", "partition"})),
		batchDocs: sinkmetrics.Register(r, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "elk_sink_consumed_batch_documents",
			Help:    "Documents per consumed batch (one bulk write and one offset commit each).",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		})),
	}
	if r.Err != nil {
		return nil, r.Err
	}
	return in, nil
}

// Run consumes until ctx ends, then finishes the batch in hand (bounded by
// ShutdownTimeout), commits it and leaves the group.
func (in *Ingest) Run(ctx context.Context) error {
	// newest is the latest batch handed to the output. A batch is done
	// only after the one before it, so waiting for the newest waits for
	// all: partitions are not handed over (revoked or lost) while one of
	// their batches is still being acknowledged and committed, so the next
	// owner never re-reads it and a late commit never lands on a partition
	// this member no longer owns.
	var newest atomic.Pointer[batch]
	settle := func(context.Context, *kgo.Client, map[string][]int32) {
		if b := newest.Load(); b != nil {
			<-b.done
		}
	}
	cl, err := kgo.NewClient(
		kgo.OnPartitionsRevoked(settle),
		kgo.OnPartitionsLost(settle),
		kgo.SeedBrokers(in.cfg.Brokers...),
		kgo.ConsumerGroup(in.cfg.Group),
		kgo.ConsumeTopics(in.cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.SessionTimeout(in.cfg.SessionTimeout),
		kgo.HeartbeatInterval(in.cfg.SessionTimeout/10),
	)
	if err != nil {
		return fmt.Errorf("ingest: creating Kafka client: %w", err)
	}
	defer cl.Close()

	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		in.lagLoop(lagCtx, kadm.NewClient(cl))
	}()
	defer func() { stopLag(); <-lagDone }()

	// work lives on for ShutdownTimeout after ctx ends so the batch in hand
	// is indexed and committed rather than replayed.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(in.cfg.ShutdownTimeout, cancelWork)
	})
	defer stop()

	in.log.Info("ingest started", "brokers", in.cfg.Brokers)
	docs := make([]sink.Doc, 0, in.cfg.MaxPollRecords)
	// Batches whose acknowledgement and commit are under way, oldest
	// first: while the output indexes one, the next is polled and written.
	var inflight []*batch
	finish := func(upTo int) error {
		for len(inflight) > upTo {
			b := inflight[0]
			inflight = inflight[1:]
			<-b.done
			if b.err != nil {
				return b.err
			}
		}
		return nil
	}
	for {
		fetches := cl.PollRecords(ctx, in.cfg.MaxPollRecords)
		if fetches.IsClientClosed() {
			return finish(0)
		}
		b := &batch{offsets: map[string]map[int32]kgo.EpochOffset{}, done: make(chan struct{})}
		docs = in.collect(fetches, b, docs[:0])
		if b.records > 0 {
			in.batchDocs.Observe(float64(len(docs)))
			if len(docs) > 0 {
				// Write copies the documents: docs and the records may be
				// reused as soon as it returns.
				if err := in.deps.Sink.Write(work, docs); err != nil {
					cl.AllowRebalance()
					return errors.Join(fmt.Errorf("ingest: writing batch (offsets not committed): %w", err), finish(0))
				}
			}
			var prev *batch
			if n := len(inflight); n > 0 {
				prev = inflight[n-1]
			}
			go func() {
				b.err = in.acknowledge(work, cl, b, prev)
				close(b.done)
			}()
			inflight = append(inflight, b)
			newest.Store(b)
			if err := finish(pipelineDepth - 1); err != nil {
				cl.AllowRebalance()
				finish(0) // the later batches fail with the same error
				return err
			}
		}
		cl.AllowRebalance()
		if ctx.Err() != nil {
			in.log.Info("ingest stopping")
			err := finish(0)
			lctx, cancel := context.WithTimeout(work, 5*time.Second)
			defer cancel()
			if lerr := cl.LeaveGroupContext(lctx); lerr != nil {
				in.log.Warn("leaving group", "error", lerr)
			}
			return err
		}
	}
}

// collect counts and logs the fetch errors of one poll, records its
// records in b and appends their documents to docs. Records that are not
// elk documents are counted and skipped.
func (in *Ingest) collect(fetches kgo.Fetches, b *batch, docs []sink.Doc) []sink.Doc {
	fetches.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.Canceled) {
			in.fetchErrs.Inc()
			in.fetchErrLog.Warn(in.log, "fetch error", "partition", p, "error", err)
		}
	})
	fetches.EachRecord(func(r *kgo.Record) {
		b.records++
		b.advance(r)
		d, err := kafka.Decode(r)
		if err != nil {
			in.bad.Inc()
			in.skipLog.Warn(in.log, "skipping record", "error", err)
			return
		}
		docs = append(docs, d)
	})
	return docs
}

// pipelineDepth is how many polled batches may await the output's
// acknowledgement at once.
const pipelineDepth = 2

// batch is one poll's records on their way to the output.
type batch struct {
	records int
	// offsets are the next offsets to consume, per topic and partition:
	// what committing this batch records.
	offsets map[string]map[int32]kgo.EpochOffset
	done    chan struct{} // closed when acknowledge returned, with err set
	err     error
}

func (b *batch) advance(r *kgo.Record) {
	p := b.offsets[r.Topic]
	if p == nil {
		p = map[int32]kgo.EpochOffset{}
		b.offsets[r.Topic] = p
	}
	next := kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
	if cur, ok := p[r.Partition]; !ok || cur.Less(next) {
		p[r.Partition] = next
	}
}

// acknowledge waits until the output acknowledged every document written
// so far (this batch's and the ones before it), then, once the previous
// batch is committed (prev; commits stay in order), commits this batch's
// offsets. An output error leaves the offsets uncommitted and is returned:
// the batch is consumed again by whoever owns the partitions next.
func (in *Ingest) acknowledge(ctx context.Context, cl *kgo.Client, b *batch, prev *batch) error {
	ferr := in.deps.Sink.Flush(ctx)
	if prev != nil {
		<-prev.done
		if prev.err != nil {
			return prev.err
		}
	}
	if ferr != nil {
		return fmt.Errorf("ingest: waiting for the output (offsets not committed): %w", ferr)
	}
	in.consumed.WithLabelValues(in.cfg.Group, in.cfg.Topic).Add(float64(b.records))
	var cerr error
	cl.CommitOffsetsSync(ctx, b.offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil && cerr == nil {
					cerr = err
				}
			}
		}
	})
	if cerr != nil {
		// The batch is indexed; a replay after a failed commit only yields
		// duplicates, which the output recognises.
		in.commits.WithLabelValues("error").Inc()
		in.log.Warn("committing offsets", "error", cerr)
		return nil
	}
	in.commits.WithLabelValues("ok").Inc()
	return nil
}

func (in *Ingest) lagLoop(ctx context.Context, adm *kadm.Client) {
	t := time.NewTicker(in.cfg.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, in.cfg.LagInterval)
		lags, err := adm.Lag(lctx, in.cfg.Group)
		cancel()
		if err != nil {
			continue
		}
		for _, gl := range lags {
			for topic, parts := range gl.Lag {
				for p, l := range parts {
					if l.Lag >= 0 {
						in.lag.WithLabelValues(in.cfg.Group, topic, strconv.Itoa(int(p))).Set(float64(l.Lag))
					}
				}
			}
		}
	}
}
