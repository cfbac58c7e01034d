package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/elk-project/elk/orchestrator/server"
)

// defaultStateDir is where `elk server` keeps its state unless told.
func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "elk")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "elk")
	}
	return ".elk"
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func newServerCmd() *cobra.Command {
	var (
		targetName, listen, stateDir, prom, logLevel, elkBinary, disc string
		wait                                                          time.Duration
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the orchestrator server",
		Long: `Run the orchestrator server: the HTTP API that elk deploy, status, scale and
undeploy talk to, the embedded service registry, the policy engine, /metrics
and /healthz. On the local target entities run as child processes; stopping
the server stops them all, and a restarted server resumes its applications.
On the nomad target (NOMAD_ADDR, NOMAD_TOKEN, CONSUL_HTTP_ADDR, ...) each
entity is a Nomad job. With --discovery consul (the default when
CONSUL_HTTP_ADDR is set) services and state live in Consul and several
servers may run behind a leader lock. With --discovery nomad (the default
otherwise) services go to Nomad's own registry, state to --state-dir, and a
single server runs; entities that refer to each other by address then
deploy only onto a Nomad cluster with one client node.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			var st *server.Stack
			if disc != "" && targetName != "nomad" {
				return fmt.Errorf("server: --discovery applies to the nomad target only")
			}
			switch targetName {
			case "local":
				st, err = server.NewLocal(server.LocalConfig{
					Listen: listen, StateDir: stateDir, Prometheus: prom, WaitTimeout: wait, Logger: log,
				})
			case "nomad":
				st, err = server.NewNomad(server.NomadConfig{
					Listen: listen, ElkBinary: elkBinary, Discovery: disc, StateDir: stateDir,
					Prometheus: prom, WaitTimeout: wait, Logger: log,
				})
			default:
				return fmt.Errorf("server: unknown target %q (local or nomad)", targetName)
			}
			if err != nil {
				return err
			}
			return st.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&targetName, "target", "local", "where entities run: local (child processes) or nomad")
	f.StringVar(&listen, "listen", "127.0.0.1:7878", "address of the HTTP API")
	f.StringVar(&stateDir, "state-dir", defaultStateDir(), "directory for state, process logs and pid files (local target; nomad target with --discovery nomad)")
	f.StringVar(&disc, "discovery", "", "nomad target: where services and state live: consul (default when CONSUL_HTTP_ADDR is set) or nomad (Nomad's service registry and --state-dir; single server)")
	f.StringVar(&elkBinary, "elk-binary", "elk", "path of the elk binary on the Nomad client nodes (nomad target)")
	f.StringVar(&prom, "prometheus", "", "Prometheus URL answering the policies' PromQL checks (optional)")
	f.DurationVar(&wait, "wait-timeout", 2*time.Minute, "how long a deploy waits for an entity to become healthy")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}
