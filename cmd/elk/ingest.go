package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/elk-project/elk/collector/ingest"
	"github.com/elk-project/elk/collector/sink"
	elasticsearch "github.com/elk-project/elk/collector/sink/elasticsearch"
	"github.com/elk-project/elk/collector/sink/kafka"
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

// parseESOutput parses the URL of an elasticsearch:URL output. Sink options
// ride in the query string and are removed from the URL:
//
//	spool=DIR|off        collector only: spool to DIR while the cluster is
//	                     unreachable (default: see defaultSpoolDir); off
//	                     makes Write block instead
//	spool_max_bytes=N    bound of the spool (default 1 GiB)
//	index_prefix=NAME    index and template prefix (default sflow)
//	ca_file=PATH         CA certificates for https
//	close_grace=D        on shutdown, how long to wait for requests in
//	                     flight before spooling their documents (default 2s)
//	workers=N, flush_bytes=N, flush_interval=D, max_in_flight=N, replicas=N
//
// Credentials come from the URL's user:password (never logged) or the
// ELASTICSEARCH_USERNAME/PASSWORD/API_KEY environment.
func parseESOutput(raw string) (elasticsearch.Config, error) {
	var cfg elasticsearch.Config
	u, err := url.Parse(raw)
	if err != nil {
		return cfg, fmt.Errorf("elasticsearch output %q: %w", elasticsearch.Redact(raw), err)
	}
	q := u.Query()
	var errs []error
	num := func(key string, dst *int) {
		if v := q.Get(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a number", key, v))
			}
			*dst = n
		}
	}
	for key, vals := range q {
		v := vals[0]
		switch key {
		case "spool":
			if v != "off" {
				cfg.SpoolDir = v
			}
		case "spool_max_bytes":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("spool_max_bytes=%q: not a number", v))
			}
			cfg.SpoolMaxBytes = n
		case "index_prefix":
			cfg.IndexPrefix = v
		case "ca_file":
			cfg.CAFile = v
		case "flush_interval", "close_grace":
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", key, v, err))
			}
			if key == "close_grace" {
				cfg.CloseGrace = d
			} else {
				cfg.FlushInterval = d
			}
		case "workers", "flush_bytes", "max_in_flight", "replicas":
		default:
			errs = append(errs, fmt.Errorf("unknown option %q (want spool, spool_max_bytes, index_prefix, ca_file, close_grace, workers, flush_bytes, flush_interval, max_in_flight, replicas)", key))
		}
	}
	num("workers", &cfg.Workers)
	num("flush_bytes", &cfg.FlushBytes)
	num("max_in_flight", &cfg.MaxInFlight)
	if q.Has("replicas") {
		var n int
		num("replicas", &n)
		cfg.Replicas = &n
	}
	u.RawQuery = ""
	cfg.URLs = []string{u.String()}
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("elasticsearch output %q: %w", elasticsearch.Redact(u.String()), err)
	}
	cfg.ApplyEnv(os.Getenv)
	return cfg, nil
}

// defaultSpoolDir is where the collector's elasticsearch:URL output spools
// unless told otherwise: $XDG_STATE_HOME/elk/spool/PREFIX-HASH (by default
// ~/.local/state/elk/spool/PREFIX-HASH), HASH naming the cluster's URLs, so
// outputs to different clusters or prefixes never share a spool.
func defaultSpoolDir(cfg elasticsearch.Config) string {
	h := sha256.New()
	for _, raw := range cfg.URLs {
		u, err := url.Parse(raw)
		if err == nil {
			u.User = nil
			raw = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/")
		}
		io.WriteString(h, raw+"\n")
	}
	prefix := cfg.IndexPrefix
	if prefix == "" {
		prefix = "sflow"
	}
	return filepath.Join(defaultStateDir(), "spool", prefix+"-"+hex.EncodeToString(h.Sum(nil))[:12])
}

// collectorESOutput parses the collector's elasticsearch:URL output: unless
// the URL says spool=DIR or spool=off, it spools to defaultSpoolDir. When
// another collector on the machine holds that directory, the spool moves to
// DIR.ELK_INSTANCE (set by the local target) or else DIR.pid-PID. When the
// default directory cannot be created (a read-only home, say), the output
// runs without a spool and says so.
func collectorESOutput(rest string, getenv func(string) string, log *slog.Logger) (elasticsearch.Config, error) {
	cfg, err := parseESOutput(rest)
	if err != nil {
		return cfg, err
	}
	spoolSet := false
	if u, err := url.Parse(rest); err == nil {
		spoolSet = u.Query().Has("spool")
	}
	if cfg.SpoolDir == "" && !spoolSet {
		dir := defaultSpoolDir(cfg)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			log.Warn("elasticsearch output: cannot create the default spool directory; writes will block while the cluster is unreachable (set ?spool=DIR)",
				"error", err)
		} else {
			cfg.SpoolDir = dir
		}
	}
	if cfg.SpoolDir != "" {
		if inst := getenv("ELK_INSTANCE"); inst != "" {
			cfg.SpoolAlternates = append(cfg.SpoolAlternates, cfg.SpoolDir+"."+filepath.Base(inst))
		}
		cfg.SpoolAlternates = append(cfg.SpoolAlternates, fmt.Sprintf("%s.pid-%d", cfg.SpoolDir, os.Getpid()))
		// Last resort, never in use: containers on a shared volume all run
		// as pid 1, and a running collector may be draining any of the
		// above for a moment.
		cfg.SpoolAlternates = append(cfg.SpoolAlternates, fmt.Sprintf("%s.run-%s", cfg.SpoolDir, rand.Text()[:12]))
		// Spools of this output left by collectors that have stopped are
		// drained by the ones still running.
		cfg.SpoolAdopt = []string{globEscape(cfg.SpoolDir), globEscape(cfg.SpoolDir) + ".*"}
	}
	return cfg, nil
}

// globEscape quotes the glob metacharacters of a path.
func globEscape(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ingestESOutput parses elk ingest's elasticsearch:URL output. Ingest never
// spools: Kafka is its buffer, and offsets are committed only once
// Elasticsearch acknowledged the documents.
func ingestESOutput(rest string) (elasticsearch.Config, error) {
	cfg, err := parseESOutput(rest)
	if err != nil {
		return cfg, err
	}
	if cfg.SpoolDir != "" {
		return cfg, errors.New("elk ingest does not spool (Kafka is its buffer): drop the spool option")
	}
	return cfg, nil
}

// openPipelineOutput opens the collector's elasticsearch:URL and
// kafka:BROKERS/TOPIC outputs; ok is false for other specs.
func openPipelineOutput(spec string, log *slog.Logger, reg *prometheus.Registry) (s sink.Sink, ok bool, err error) {
	kind, rest, _ := strings.Cut(spec, ":")
	switch kind {
	case "elasticsearch", "es":
		cfg, err := collectorESOutput(rest, os.Getenv, log)
		if err != nil {
			return nil, true, err
		}
		s, err := elasticsearch.New(cfg, elasticsearch.Deps{Logger: log, Registry: reg})
		return s, true, err
	case "kafka":
		brokers, topic, err := kafka.ParseSpec(rest)
		if err != nil {
			return nil, true, err
		}
		s, err := kafka.New(kafka.Config{Brokers: brokers, Topic: topic}, kafka.Deps{Logger: log, Registry: reg})
		return s, true, err
	}
	return nil, false, nil
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
			brokers, topic, err := kafka.ParseSpec(kafkaSpec)
			if err != nil {
				return fmt.Errorf("--kafka: %w", err)
			}
			kind, rest, _ := strings.Cut(output, ":")
			if kind != "elasticsearch" && kind != "es" {
				return fmt.Errorf("--output %q: want elasticsearch:URL", output)
			}
			esCfg, err := ingestESOutput(rest)
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
			out, err := elasticsearch.New(esCfg, elasticsearch.Deps{Logger: log, Registry: reg})
			if err != nil {
				return err
			}
			in, err := ingest.New(ingest.Config{Brokers: brokers, Topic: topic, Group: group, MaxPollRecords: batch},
				ingest.Deps{Sink: out, Logger: log, Registry: reg})
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
