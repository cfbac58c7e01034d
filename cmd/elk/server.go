package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/elk-project/elk/orchestrator"
	"github.com/elk-project/elk/orchestrator/auth"
	"github.com/elk-project/elk/orchestrator/client"
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
		targetName, listen, stateDir, prom, logLevel, elkBinary, disc, keyring string
		maxInstances                                                           int
		wait                                                                   time.Duration
		sec                                                                    apiSecurity
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
			security, tokens, err := sec.build(listen, stateDir, log)
			if err != nil {
				return err
			}
			switch targetName {
			case "local":
				st, err = server.NewLocal(server.LocalConfig{
					Listen: listen, StateDir: stateDir, Prometheus: prom, WaitTimeout: wait, MaxInstances: maxInstances, Logger: log, Security: security,
				})
			case "nomad":
				st, err = server.NewNomad(server.NomadConfig{
					Listen: listen, ElkBinary: elkBinary, Discovery: disc, StateDir: stateDir, Keyring: keyring,
					Prometheus: prom, WaitTimeout: wait, MaxInstances: maxInstances, Logger: log, Security: security,
				})
			default:
				return fmt.Errorf("server: unknown target %q (local or nomad)", targetName)
			}
			if err != nil {
				return err
			}
			defer publishToken(st.Addr, tokens, log)()
			return st.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.IntVar(&maxInstances, "max-instances", orchestrator.DefaultMaxInstances, "the largest count any entity may be scaled or deployed to, whoever asks")
	f.StringVar(&targetName, "target", "local", "where entities run: local (child processes) or nomad")
	f.StringVar(&listen, "listen", "127.0.0.1:7878", "address of the HTTP API")
	f.StringVar(&stateDir, "state-dir", defaultStateDir(), "directory for state, process logs and pid files (local target; nomad target with --discovery nomad)")
	f.StringVar(&disc, "discovery", "", "nomad target: where services and state live: consul (default when CONSUL_HTTP_ADDR is set) or nomad (Nomad's service registry and --state-dir; single server)")
	f.StringVar(&elkBinary, "elk-binary", "elk", "path of the elk binary on the Nomad client nodes (nomad target)")
	f.StringVar(&keyring, "keyring", "", "nomad target: key file sealing entity secrets in the state (created 0600 if missing; default STATE_DIR/keyring with --discovery nomad; with consul give every server the same file)")
	f.StringVar(&prom, "prometheus", "", "Prometheus URL answering the policies' PromQL checks (optional)")
	f.DurationVar(&wait, "wait-timeout", 2*time.Minute, "how long a deploy waits for an entity to become healthy")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	sec.flags(f)
	return cmd
}

// apiSecurity is the API's authentication and transport configuration
// (flags of elk server; elk up uses the defaults).
type apiSecurity struct {
	tokenFile, tlsCert, tlsKey, tlsClientCA string
	allowedHosts                            []string
	metricsPublic, insecureListen           bool
}

func (a *apiSecurity) flags(f *pflag.FlagSet) {
	f.StringVar(&a.tokenFile, "token-file", "", "file of API tokens, one 'NAME ROLE SECRET' a line, role read or write (default: ELK_TOKEN, else a token generated into the state directory)")
	f.StringVar(&a.tlsCert, "tls-cert", "", "PEM certificate of the API (HTTPS)")
	f.StringVar(&a.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&a.tlsClientCA, "tls-client-ca", "", "PEM CA bundle: require client certificates signed by it (mutual TLS)")
	f.StringSliceVar(&a.allowedHosts, "allowed-host", nil, "further name[:port] the Host header may carry (DNS name of the server, reverse proxy); repeatable")
	f.BoolVar(&a.metricsPublic, "metrics-public", false, "serve /metrics without a token")
	f.BoolVar(&a.insecureListen, "insecure-listen", false, "allow listening on a non-loopback address without TLS (tokens travel in clear)")
}

// build loads the tokens (--token-file and ELK_TOKEN, or the generated
// token of stateDir), the TLS configuration, checks the listen address
// and returns the API's protection.
func (a apiSecurity) build(listen, stateDir string, log *slog.Logger) (server.Security, auth.Loaded, error) {
	tc, err := auth.ServerTLS(auth.TLSFiles{Cert: a.tlsCert, Key: a.tlsKey, ClientCA: a.tlsClientCA})
	if err != nil {
		return server.Security{}, auth.Loaded{}, fmt.Errorf("server: %w", err)
	}
	if err := auth.CheckListen(listen, tc != nil, a.insecureListen); err != nil {
		return server.Security{}, auth.Loaded{}, fmt.Errorf("server: %w", err)
	}
	tokens, err := auth.Load(auth.Sources{File: a.tokenFile, Env: os.Getenv(client.EnvToken), StateDir: stateDir})
	if err != nil {
		return server.Security{}, auth.Loaded{}, fmt.Errorf("server: %w", err)
	}
	switch {
	case tokens.Created:
		log.Info("generated the API token (elk commands of this user find it; others: ELK_TOKEN=$(cat FILE))", "token_file", tokens.GeneratedPath)
	case tokens.GeneratedPath != "":
		log.Info("API token", "token_file", tokens.GeneratedPath)
	default:
		var names []string
		for _, id := range tokens.Tokens.Names() {
			names = append(names, id.Name+"("+string(id.Role)+")")
		}
		log.Info("API tokens", "tokens", strings.Join(names, ","))
	}
	opts := auth.Options{Tokens: tokens.Tokens, MetricsPublic: a.metricsPublic, AllowedHosts: a.allowedHosts}
	return server.Security{
		Middleware: func(h http.Handler) http.Handler { return auth.Middleware(opts, h) },
		TLS:        tc,
	}, tokens, nil
}

// publishToken records a generated token's file in the per-user local
// index under addr, so that elk commands find it, and returns the
// function that removes the entry.
func publishToken(addr string, tokens auth.Loaded, log *slog.Logger) func() {
	if tokens.GeneratedPath == "" {
		return func() {}
	}
	remove, err := auth.Publish(os.Getenv, addr, tokens.GeneratedPath)
	if err != nil {
		log.Warn("elk commands will not find the API token by themselves: set ELK_TOKEN", "token_file", tokens.GeneratedPath, "error", err)
		return func() {}
	}
	return remove
}
