// Package esexporter exports Elasticsearch thread-pool statistics
// (_nodes/stats/thread_pool) as Prometheus metrics under the names and labels
// the prometheus-community elasticsearch_exporter uses
// (elasticsearch_thread_pool_queue_count{type="write"}, …), so queue-depth
// policies written for that exporter work unchanged against `elk agent
// es-exporter`.
package esexporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/elk-project/elk/collector/output"
	elasticsearch "github.com/elk-project/elk/collector/sink/elasticsearch"
)

// Config configures an Exporter.
type Config struct {
	// ES is the cluster connection (URLs, credentials, CA file).
	ES elasticsearch.Config
	// Listen is the HOST:PORT serving /metrics.
	Listen string
	// Timeout bounds one stats request (default 5s).
	Timeout time.Duration
}

// Deps are the exporter's collaborators.
type Deps struct {
	Logger *slog.Logger
}

// Exporter is a prometheus.Collector that queries the cluster on every
// scrape, and the HTTP server that serves it.
type Exporter struct {
	cfg    Config
	log    *slog.Logger
	client esapi.Transport

	up           prometheus.Gauge
	totalScrapes prometheus.Counter
	parseErrors  prometheus.Counter
	pools        []poolMetric
}

type poolMetric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(threadPool) float64
}

type threadPool struct {
	Threads   int64 `json:"threads"`
	Queue     int64 `json:"queue"`
	Active    int64 `json:"active"`
	Rejected  int64 `json:"rejected"`
	Largest   int64 `json:"largest"`
	Completed int64 `json:"completed"`
}

type nodesStats struct {
	ClusterName string `json:"cluster_name"`
	Nodes       map[string]struct {
		Name       string                `json:"name"`
		Host       string                `json:"host"`
		Roles      []string              `json:"roles"`
		Attributes map[string]string     `json:"attributes"`
		ThreadPool map[string]threadPool `json:"thread_pool"`
	} `json:"nodes"`
}

// poolLabels are elasticsearch_exporter's thread-pool labels.
var poolLabels = []string{"cluster", "host", "name", "es_master_node", "es_data_node", "es_ingest_node", "es_client_node", "type"}

// New builds the exporter.
func New(cfg Config, deps Deps) (*Exporter, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(cfg.ES.URLs) == 0 {
		return nil, errors.New("es-exporter: no Elasticsearch URL")
	}
	cfg.ES.RequestTimeout = cfg.Timeout
	client, err := elasticsearch.NewClient(cfg.ES)
	if err != nil {
		return nil, fmt.Errorf("es-exporter: %w", err)
	}
	pool := func(name, help string, typ prometheus.ValueType, v func(threadPool) float64) poolMetric {
		return poolMetric{
			desc:  prometheus.NewDesc("elasticsearch_thread_pool_"+name, help, poolLabels, nil),
			typ:   typ,
			value: v,
		}
	}
	return &Exporter{
		cfg:    cfg,
		log:    deps.Logger,
		client: client,
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "elasticsearch_node_stats_up",
			Help: "Was the last scrape of the Elasticsearch nodes endpoint successful.",
		}),
		totalScrapes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "elasticsearch_node_stats_total_scrapes",
			Help: "Current total Elasticsearch node scrapes.",
		}),
		parseErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "elasticsearch_node_stats_json_parse_failures",
			Help: "Number of errors while parsing JSON.",
		}),
		pools: []poolMetric{
			pool("completed_count", "Thread Pool operations completed", prometheus.CounterValue, func(p threadPool) float64 { return float64(p.Completed) }),
			pool("rejected_count", "Thread Pool operations rejected", prometheus.CounterValue, func(p threadPool) float64 { return float64(p.Rejected) }),
			pool("active_count", "Thread Pool threads active", prometheus.GaugeValue, func(p threadPool) float64 { return float64(p.Active) }),
			pool("threads_count", "Thread Pool current threads count", prometheus.GaugeValue, func(p threadPool) float64 { return float64(p.Threads) }),
			pool("largest_count", "Thread Pool largest threads count", prometheus.GaugeValue, func(p threadPool) float64 { return float64(p.Largest) }),
			pool("queue_count", "Thread Pool operations queued", prometheus.GaugeValue, func(p threadPool) float64 { return float64(p.Queue) }),
		},
	}, nil
}

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	ch <- e.up.Desc()
	ch <- e.totalScrapes.Desc()
	ch <- e.parseErrors.Desc()
	for _, p := range e.pools {
		ch <- p.desc
	}
}

// Collect implements prometheus.Collector: one _nodes/stats/thread_pool
// request per scrape.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.totalScrapes.Inc()
	defer func() {
		ch <- e.up
		ch <- e.totalScrapes
		ch <- e.parseErrors
	}()
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout)
	defer cancel()
	stats, err := e.fetch(ctx)
	if err != nil {
		e.up.Set(0)
		e.log.Warn("scraping elasticsearch", "error", err)
		return
	}
	e.up.Set(1)
	for _, n := range stats.Nodes {
		roles := map[string]bool{}
		for _, r := range n.Roles {
			roles[r] = true
		}
		base := []string{stats.ClusterName, n.Host, n.Name,
			strconv.FormatBool(roles["master"]), strconv.FormatBool(roles["data"] || roles["data_content"] || roles["data_hot"]),
			strconv.FormatBool(roles["ingest"]), "false"}
		for typ, tp := range n.ThreadPool {
			labels := append(append([]string(nil), base...), typ)
			for _, p := range e.pools {
				ch <- prometheus.MustNewConstMetric(p.desc, p.typ, p.value(tp), labels...)
			}
		}
	}
}

func (e *Exporter) fetch(ctx context.Context) (*nodesStats, error) {
	res, err := esapi.NodesStatsRequest{Metric: []string{"thread_pool"}}.Do(ctx, e.client)
	if err != nil {
		return nil, fmt.Errorf("nodes stats: %w", err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return nil, fmt.Errorf("nodes stats: %s", res.Status())
	}
	var stats nodesStats
	if err := json.NewDecoder(res.Body).Decode(&stats); err != nil {
		e.parseErrors.Inc()
		return nil, fmt.Errorf("decoding nodes stats: %w", err)
	}
	return &stats, nil
}

// Handler serves the exporter's metrics (plus Go and process metrics).
func (e *Exporter) Handler() (http.Handler, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(e); err != nil {
		return nil, err
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "elk es-exporter: metrics at /metrics")
	})
	return mux, nil
}

// Run serves /metrics on cfg.Listen until ctx ends.
func (e *Exporter) Run(ctx context.Context) error {
	h, err := e.Handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", e.cfg.Listen)
	if err != nil {
		return fmt.Errorf("es-exporter: listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	e.log.Info("es-exporter listening", "addr", ln.Addr().String(), "es", output.RedactURL(e.cfg.ES.URLs[0]))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("es-exporter: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}
