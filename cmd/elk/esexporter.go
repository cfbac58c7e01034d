package main

import (
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/elk-project/elk/agents/esexporter"
	elasticsearch "github.com/elk-project/elk/collector/sink/elasticsearch"
)

// newESExporterCmd is `elk agent es-exporter`.
func newESExporterCmd() *cobra.Command {
	var (
		esURL, listen string
		timeout       time.Duration
		es            esFlags
	)
	cmd := &cobra.Command{
		Use:   "es-exporter",
		Short: "Export Elasticsearch thread-pool queue depth as Prometheus metrics",
		Long: `Serve Elasticsearch's _nodes/stats/thread_pool as Prometheus metrics under the
names of the prometheus-community elasticsearch_exporter:
elasticsearch_thread_pool_{queue,rejected,active,completed,threads,largest}_count
with labels cluster, host, name, es_*_node and type (e.g. type="write"), and
elasticsearch_node_stats_up (1 when the last scrape succeeded). The cluster is
queried on every scrape.`,
		Example: `  elk agent es-exporter --es http://127.0.0.1:9200 --listen 127.0.0.1:9114`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			cfg := elasticsearch.Config{URLs: []string{esURL}}
			es.apply(&cfg)
			e, err := esexporter.New(esexporter.Config{ES: cfg, Listen: listen, Timeout: timeout}, esexporter.Deps{Logger: log})
			if err != nil {
				return err
			}
			return e.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&esURL, "es", "http://127.0.0.1:9200", "Elasticsearch URL")
	f.StringVar(&listen, "listen", "127.0.0.1:9114", "HOST:PORT to serve /metrics on")
	f.DurationVar(&timeout, "timeout", 5*time.Second, "timeout of one stats request")
	es.register(cmd)
	return cmd
}
