package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/elk-project/elk/collector/ingest"
	sinkspec "github.com/elk-project/elk/collector/output"
	elasticsearch "github.com/elk-project/elk/collector/sink/elasticsearch"
)

// esFlags are the Elasticsearch connection flags shared by ingest, bench
// and es-exporter. Secrets default to the ELASTICSEARCH_* environment.
type esFlags struct {
	username, password, apiKey, caFile string
}

func (f *esFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.username, "es-username", "", "Elasticsearch basic-auth user (default $ELASTICSEARCH_USERNAME)")
	fl.StringVar(&f.password, "es-password", "", "Elasticsearch basic-auth password (default $ELASTICSEARCH_PASSWORD; prefer the variable, flags show in ps)")
	fl.StringVar(&f.apiKey, "es-api-key", "", "Elasticsearch API key, base64 (default $ELASTICSEARCH_API_KEY)")
	fl.StringVar(&f.caFile, "es-ca-file", "", "PEM file of certificate authorities for https Elasticsearch URLs")
}

func (f *esFlags) apply(c *elasticsearch.Config) {
	if f.username != "" {
		c.Username = f.username
	}
	if f.password != "" {
		c.Password = f.password
	}
	if f.apiKey != "" {
		c.APIKey = f.apiKey
	}
	if f.caFile != "" {
		c.CAFile = f.caFile
	}
	c.ApplyEnv(os.Getenv)
}

// serveMetrics serves reg on addr until ctx ends.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, log *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

func newIngestCmd() *cobra.Command {
	var (
		kafkaSpec, group, output, metricsAddr string
		batch                                 int
		verbose                               bool
		es                                    esFlags
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Consume documents from Kafka into Elasticsearch",
		Long: `Consume the documents the collector published to Kafka (--output kafka:...)
and bulk-index them into Elasticsearch.

Workers with the same --group share the topic's partitions. Offsets are
committed only after Elasticsearch acknowledged every document of a batch,
so a crash replays at most one batch, and the documents' deterministic ids
make a replay count as duplicates, never twice. On SIGTERM the batch in hand
is finished and committed before the worker leaves the group. While
Elasticsearch is unreachable the worker waits (Kafka is the buffer).`,
		Example: `  elk ingest --kafka 127.0.0.1:9092/sflow --group elk-ingest --output elasticsearch:http://127.0.0.1:9200
  ELASTICSEARCH_API_KEY=... elk ingest --kafka k1:9092,k2:9092/sflow --group g --output elasticsearch:https://es:9200 --es-ca-file ca.pem --metrics :9464`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			from, err := sinkspec.Parse("kafka:" + kafkaSpec)
			if err != nil {
				return fmt.Errorf("--kafka: %w", err)
			}
			to, err := sinkspec.Parse(output)
			if err == nil && to.Kind != sinkspec.Elasticsearch {
				err = fmt.Errorf("output %q: want elasticsearch:URL", output)
			}
			if err != nil {
				return fmt.Errorf("--output: %w", err)
			}
			esCfg, err := elasticsearch.Ingest(to, os.Getenv)
			if err != nil {
				return fmt.Errorf("--output: %w", err)
			}
			es.apply(&esCfg)
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			ctx := cmd.Context()
			if metricsAddr != "" {
				stop, err := serveMetrics(ctx, metricsAddr, reg, log)
				if err != nil {
					return err
				}
				defer stop()
			}
			out, err := elasticsearch.New(esCfg, elasticsearch.Deps{Logger: log, Metrics: reg})
			if err != nil {
				return err
			}
			in, err := ingest.New(ingest.Config{Brokers: from.Brokers, Topic: from.Topic, Group: group, MaxPollRecords: batch},
				ingest.Deps{Sink: out, Logger: log, Metrics: reg})
			if err != nil {
				return err
			}
			runErr := in.Run(ctx)
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return errors.Join(runErr, out.Close(cctx))
		},
	}
	f := cmd.Flags()
	f.StringVar(&kafkaSpec, "kafka", "127.0.0.1:9092/sflow", "Kafka brokers and topic: BROKER[,BROKER]/TOPIC")
	f.StringVar(&group, "group", "elk-ingest", "consumer group; workers with the same group share the partitions")
	f.StringVar(&output, "output", "elasticsearch:http://127.0.0.1:9200", "destination: elasticsearch:URL (options as URL query, e.g. ?index_prefix=sflow)")
	f.StringVar(&metricsAddr, "metrics", "", "serve Prometheus metrics on HOST:PORT (/metrics)")
	f.IntVar(&batch, "batch", 5000, "most records per batch (one bulk flush and one offset commit)")
	f.BoolVar(&verbose, "verbose", false, "debug logging")
	es.register(cmd)
	return cmd
}
