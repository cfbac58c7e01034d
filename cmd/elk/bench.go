package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/elk-project/elk/test/pipeline/harness"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run performance comparisons",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newBenchPipelineCmd())
	return cmd
}

func newBenchPipelineCmd() *cobra.Command {
	cfg := harness.BenchConfig{Rate: 5000, Duration: 20 * time.Second, Seed: 1}
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Compare collector → Elasticsearch with collector → Kafka → ingest → Elasticsearch",
		Long: `Send the same synthetic sFlow traffic (elk agent, fixed seed) through
(a) elk collector --output elasticsearch:... and
(b) elk collector --output kafka:... with elk ingest into Elasticsearch,
against real servers, then bulk-index the documents of (a) straight from
memory, once with a bare bulk indexer (the raw ceiling) and once through
elk's Elasticsearch sink. Prints flows/s (the rate documents became
searchable, first to last; for the from-memory rows documents over the time
to index them all), end-to-end latency p50/p99
(sample received, i.e. event.created, → searchable), documents lost and
duplicated against the agent's truth, and CPU seconds of the collector
(+ ingest) per million flows. The benchmark indices are deleted afterwards
unless --keep.`,
		Example: `  elk bench pipeline --es http://127.0.0.1:9200 --kafka 127.0.0.1:9092 --rate 5000 --duration 20s`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			cfg.Bin = bin
			if cfg.WorkDir == "" {
				if cfg.WorkDir, err = harness.TempWorkDir(); err != nil {
					return err
				}
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			cfg.Logger.Info("logs and truth files", "dir", cfg.WorkDir)
			rows, err := harness.Bench(cmd.Context(), cfg)
			harness.PrintBench(cmd.OutOrStdout(), rows)
			if err != nil {
				return fmt.Errorf("bench pipeline: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.ES, "es", "http://127.0.0.1:9200", "Elasticsearch URL")
	f.StringVar(&cfg.Kafka, "kafka", "127.0.0.1:9092", `Kafka broker HOST:PORT ("" skips the Kafka path)`)
	f.Float64Var(&cfg.Rate, "rate", cfg.Rate, "offered load in flow samples per second")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the agent sends")
	f.Int64Var(&cfg.Seed, "seed", cfg.Seed, "agent random seed (same traffic for every path)")
	f.StringVar(&cfg.WorkDir, "workdir", "", "directory for logs and truth files (default a new temporary directory)")
	f.BoolVar(&cfg.Keep, "keep", false, "keep the benchmark indices")
	return cmd
}
