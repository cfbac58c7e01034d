// Package kafka is the sink that publishes documents to a Kafka topic with
// franz-go, and the record codec the ingest worker reads them back with.
//
// Each document becomes one record: the value is the JSON body, the key is
// the document's Key (the agent address) so one agent's documents land in
// one partition and stay ordered, and headers carry the document ID, dataset,
// tenant and time. The producer is idempotent (acks=all) and retries without
// a deadline, so a broker restart delays records but loses none; Write blocks
// once MaxBufferedRecords are waiting (backpressure).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/elk-project/elk/collector/internal/ratelog"
	"github.com/elk-project/elk/collector/sink"
	"github.com/elk-project/elk/collector/sink/sinkmetrics"
)

// Record header names.
const (
	HeaderID      = "elk.id"
	HeaderDataset = "elk.dataset"
	HeaderTenant  = "elk.tenant"
	HeaderTime    = "elk.time" // Unix nanoseconds, decimal
)

// Config configures a Sink.
type Config struct {
	Brokers []string
	Topic   string
	// Partitions of the topic when the sink creates it (default 6).
	Partitions int32
	// MaxBufferedRecords bounds records waiting for the broker; Write blocks
	// while it is reached (default 50000).
	MaxBufferedRecords int
	// Linger batches records for this long (default 5ms).
	Linger time.Duration
	// DeliveryTimeout fails records not acknowledged in time; 0 retries
	// until Close.
	DeliveryTimeout time.Duration
}

// Deps are the sink's collaborators.
type Deps struct {
	Logger  *slog.Logger
	Metrics *prometheus.Registry
}

// Sink publishes documents to Kafka. It implements sink.Sink.
type Sink struct {
	cfg    Config
	log    *slog.Logger
	cl     *kgo.Client
	docs   *sinkmetrics.Metrics
	back   prometheus.Gauge
	failed atomic.Int64
	closed atomic.Bool
	// undelivered limits "record not delivered" to a line a second: a
	// broker outage fails every buffered record at once.
	undelivered ratelog.Limiter
}

// New connects the producer and creates the topic when it is missing.
func New(cfg Config, deps Deps) (*Sink, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" {
		return nil, errors.New("kafka sink: brokers and topic are required")
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 6
	}
	if cfg.MaxBufferedRecords <= 0 {
		cfg.MaxBufferedRecords = 50000
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 5 * time.Millisecond
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(cfg.MaxBufferedRecords),
		kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
		kgo.AllowAutoTopicCreation(),
	}
	if cfg.DeliveryTimeout > 0 {
		opts = append(opts, kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout))
	}
	docs, err := sinkmetrics.New(deps.Metrics, "kafka")
	if err != nil {
		return nil, err
	}
	r := &sinkmetrics.Registrar{Reg: deps.Metrics}
	back := sinkmetrics.Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "elk_sink_backlog_documents",
		Help: "Documents accepted by the sink and not yet acknowledged by the destination (client-side queue depth).",
	}, []string{"sink"}))
	reqErrs := sinkmetrics.RequestErrors(r, "kafka")
	if r.Err != nil {
		return nil, r.Err
	}
	opts = append(opts, kgo.WithHooks(requestHooks{reqErrs}))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka sink: creating client: %w", err)
	}
	s := &Sink{
		cfg:  cfg,
		log:  deps.Logger.With("sink", "kafka", "topic", cfg.Topic),
		cl:   cl,
		docs: docs,
		back: back.WithLabelValues("kafka"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := EnsureTopic(ctx, cl, cfg.Topic, cfg.Partitions); err != nil {
		s.log.Warn("could not ensure the topic exists; the broker may create it", "error", err)
	}
	return s, nil
}

// requestHooks counts the producer's failed broker connections and produce
// requests. franz-go retries their records without a deadline, so nothing
// is lost, but an operator sees the broker trouble as it happens.
type requestHooks struct{ errors prometheus.Counter }

func (h requestHooks) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.errors.Inc()
	}
}

func (h requestHooks) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key == produceKey && e2e.Err() != nil {
		h.errors.Inc()
	}
}

// produceKey is the Kafka protocol's API key of Produce requests.
const produceKey = 0

// EnsureTopic creates topic with the given partitions unless it exists.
func EnsureTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int32) error {
	adm := kadm.NewClient(cl)
	res, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", topic, err)
	}
	if res.Err != nil && !strings.Contains(res.Err.Error(), "TOPIC_ALREADY_EXISTS") {
		return fmt.Errorf("creating topic %s: %w", topic, res.Err)
	}
	return nil
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return "kafka" }

// Write implements sink.Sink: it copies every document into a record and
// hands it to the producer, blocking while the buffer is full.
func (s *Sink) Write(ctx context.Context, docs []sink.Doc) error {
	if s.closed.Load() {
		return errors.New("kafka sink: write after close")
	}
	for i := range docs {
		rec := Encode(&docs[i])
		rec.Topic = s.cfg.Topic
		tenant := docs[i].Tenant
		s.cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			if err != nil {
				s.failed.Add(1)
				s.docs.Counter(tenant, sinkmetrics.OutcomeFailed).Inc()
				if !errors.Is(err, context.Canceled) {
					s.undelivered.Warn(s.log, "record not delivered", "error", err)
				}
				return
			}
			s.docs.Counter(tenant, sinkmetrics.OutcomeWritten).Inc()
		})
		if ctx.Err() != nil {
			return fmt.Errorf("kafka sink: %w", ctx.Err())
		}
	}
	s.back.Set(float64(s.cl.BufferedProduceRecords()))
	return nil
}

// Flush implements sink.Sink: it waits until the brokers acknowledged every
// record produced so far.
func (s *Sink) Flush(ctx context.Context) error {
	err := s.cl.Flush(ctx)
	s.back.Set(float64(s.cl.BufferedProduceRecords()))
	if err != nil {
		return fmt.Errorf("kafka sink: flush: %w", err)
	}
	return nil
}

// Failed is the number of records the brokers never acknowledged.
func (s *Sink) Failed() int64 { return s.failed.Load() }

// Close implements sink.Sink.
func (s *Sink) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.Flush(ctx)
	s.cl.Close()
	return err
}

// Encode turns a document into a record (copying key and body).
func Encode(d *sink.Doc) *kgo.Record {
	buf := make([]byte, len(d.Key)+len(d.Body))
	copy(buf, d.Key)
	copy(buf[len(d.Key):], d.Body)
	r := &kgo.Record{
		Key:       buf[:len(d.Key):len(d.Key)],
		Value:     buf[len(d.Key):],
		Timestamp: d.Time,
		Headers: []kgo.RecordHeader{
			{Key: HeaderID, Value: []byte(d.ID)},
			{Key: HeaderDataset, Value: []byte(d.Dataset)},
			{Key: HeaderTenant, Value: []byte(d.Tenant)},
			{Key: HeaderTime, Value: strconv.AppendInt(nil, d.Time.UnixNano(), 10)},
		},
	}
	if len(d.Key) == 0 {
		r.Key = nil
	}
	return r
}

// Decode turns a record back into a document. The document shares the
// record's memory.
func Decode(r *kgo.Record) (sink.Doc, error) {
	d := sink.Doc{Key: r.Key, Body: r.Value, Time: r.Timestamp}
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderID:
			d.ID = string(h.Value)
		case HeaderDataset:
			d.Dataset = string(h.Value)
		case HeaderTenant:
			d.Tenant = string(h.Value)
		case HeaderTime:
			if ns, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				d.Time = time.Unix(0, ns).UTC()
			}
		}
	}
	if d.ID == "" {
		return d, fmt.Errorf("record %s/%d@%d: no %s header", r.Topic, r.Partition, r.Offset, HeaderID)
	}
	return d, nil
}
