package main

import (
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/elk-project/elk/collector"
	sinkspec "github.com/elk-project/elk/collector/output"
)

func newCollectorCmd() *cobra.Command {
	var (
		cfg      collector.Config
		outputs  []string
		stateMiB int
	)
	cmd := &cobra.Command{
		Use:   "collector",
		Short: "Receive sFlow datagrams and write flow documents",
		Long: `Receive sFlow v5 datagrams over UDP and turn every flow sample and every
counter record into an ECS-aligned JSON document, written to each --output.

Flow documents have event.dataset "sflow.flow" and carry estimates scaled by
the sampling rate (network.packets, network.bytes); counter documents have
"sflow.counters". With --tenants, flows and counters are also copied once per
tenant they belong to, stamped with organization.id; the operator's copy
(without organization.id) is always written, so summing the documents without
organization.id counts every sample exactly once. The tenant table reloads when
its file changes; a bad table is rejected and the old one stays.

The line "collector listening" is logged once the sockets are bound. On
SIGINT or SIGTERM the collector stops reading, drains its queues, flushes and
closes the outputs, and exits 0.`,
		Example: `  elk collector --listen 127.0.0.1:6343 --output file:/tmp/flows.ndjson --metrics 127.0.0.1:9464`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			sinks, err := openOutputs(outputs, log, reg, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			cfg.StateMemory = stateMiB << 20
			c, err := collector.New(cfg, collector.Deps{Logger: log, Metrics: reg, Sinks: sinks})
			if err != nil {
				for _, s := range sinks {
					s.Close(cmd.Context())
				}
				return err
			}
			return c.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "0.0.0.0:6343", "UDP address to receive sFlow on (HOST:PORT)")
	f.StringArrayVar(&outputs, "output", nil, sinkspec.Help)
	f.StringVar(&cfg.Metrics, "metrics", "", "HOST:PORT to serve Prometheus /metrics and /healthz on (disabled when empty)")
	f.StringVar(&cfg.Tenants, "tenants", "", "tenant table YAML file (reloaded when it changes); empty for no tenants")
	f.IntVar(&cfg.Sockets, "sockets", 2, "UDP sockets sharing the port (SO_REUSEPORT), each with its own reader")
	f.IntVar(&cfg.Workers, "workers", 2, "decode workers; one sender's datagrams always go to the same worker")
	f.IntVar(&cfg.Queue, "queue", 8192, "decode queue capacity in datagrams, shared among the workers")
	f.IntVar(&cfg.ReadBuffer, "read-buffer", 32<<20, "socket receive buffer to ask for, in bytes (SO_RCVBUFFORCE when permitted, else capped by net.core.rmem_max)")
	f.IntVar(&cfg.Batch, "batch", 512, "documents a worker gathers before writing them to the outputs")
	f.BoolVar(&cfg.SharePort, "share-port", false, "share --listen with other collectors already on it (SO_REUSEPORT; the kernel spreads agents among them); without it a port in use is an error")
	f.BoolVar(&cfg.DropWhenFull, "drop-when-full", false, "drop datagrams when a worker's queue is full instead of letting the socket buffer absorb the burst")
	f.DurationVar(&cfg.FlushInterval, "flush-interval", 0, "how often outputs are flushed (default 1s)")
	f.IntVar(&cfg.MaxAgents, "max-agents", 10000, "agents with their own metric series; more share the \"_other\" series")
	f.IntVar(&stateMiB, "state-memory", collector.DefaultStateMemory>>20,
		"MiB of agent state to remember (sequences, sources, counters); the least recently heard agents are forgotten beyond it")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}
