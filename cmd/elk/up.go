package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"

	"github.com/elk-project/elk/blueprints/library"
	sinkspec "github.com/elk-project/elk/collector/output"
	"github.com/elk-project/elk/orchestrator"
	"github.com/elk-project/elk/orchestrator/catalog"
	"github.com/elk-project/elk/orchestrator/client"
	"github.com/elk-project/elk/orchestrator/server"
)

// defaultUpBlueprint is the stock blueprint `elk up` deploys.
const defaultUpBlueprint = "local-demo"

type upOptions struct {
	listen, stateDir, logFile          string
	elasticsearch, kafka, prometheus   string
	noServices, keepState              bool
	refresh, waitTimeout, probeTimeout time.Duration
}

func newUpCmd() *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up [NAME|FILE]",
		Short: "Run the whole stack on this machine",
		Long: `Start an orchestrator server on the local target, deploy the stock sFlow demo
(` + defaultUpBlueprint + `: collectors and a traffic-generating agent, built into the
binary) or the given blueprint (a stock name from elk blueprint list, or a file), and show live status (entities, counts, ingest rate) until
Ctrl-C; then tear everything down. Elasticsearch, Kafka and Prometheus are
used only when they answer on their usual loopback ports (or the flags name
them). Meanwhile ` + "`elk status`" + ` in another terminal talks to the same server.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			return runUp(cmd.Context(), cmd.OutOrStdout(), path, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:7878", "address of the server's HTTP API (ELK_ADDR of other elk commands)")
	f.StringVar(&o.stateDir, "state-dir", "", "state directory (default: a temporary directory removed at exit)")
	f.StringVar(&o.logFile, "log-file", "", "server log file (default: server.log in the state directory)")
	f.StringVar(&o.elasticsearch, "elasticsearch", "", "Elasticsearch URL for the collectors' documents (default: probe http://127.0.0.1:9200)")
	f.StringVar(&o.kafka, "kafka", "", "Kafka broker for the collectors' documents (default: probe 127.0.0.1:9092)")
	f.StringVar(&o.prometheus, "prometheus", "", "Prometheus URL for PromQL policy checks (default: probe http://127.0.0.1:9090)")
	f.BoolVar(&o.noServices, "no-services", false, "do not probe for Elasticsearch, Kafka or Prometheus")
	f.BoolVar(&o.keepState, "keep-state", false, "keep the temporary state directory (logs, flow files) at exit")
	f.DurationVar(&o.refresh, "refresh", 2*time.Second, "live status refresh interval")
	f.DurationVar(&o.waitTimeout, "wait-timeout", 2*time.Minute, "how long the deploy waits for an entity to become healthy")
	f.DurationVar(&o.probeTimeout, "probe-timeout", 300*time.Millisecond, "timeout of each service probe")
	return cmd
}

// service is an optional external service elk up may use.
type service struct {
	name, flag, addr, probe string
	found                   bool
}

func probeTCP(addr string, timeout time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func hostPort(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}

// detectServices decides which of Elasticsearch, Kafka and Prometheus to
// use: named by a flag, or answering on the usual loopback port.
func detectServices(o upOptions) []*service {
	svcs := []*service{
		{name: "Elasticsearch", flag: o.elasticsearch, addr: "http://127.0.0.1:9200"},
		{name: "Kafka", flag: o.kafka, addr: "127.0.0.1:9092"},
		{name: "Prometheus", flag: o.prometheus, addr: "http://127.0.0.1:9090"},
	}
	for _, s := range svcs {
		if s.flag != "" {
			s.addr = s.flag
		} else if o.noServices {
			continue
		}
		s.found = probeTCP(hostPort(s.addr), o.probeTimeout)
	}
	return svcs
}

// addOutputs appends outputs to the config.output list of every
// sflow-collector entity of a blueprint document.
func addOutputs(data []byte, outputs []string) ([]byte, error) {
	if len(outputs) == 0 {
		return data, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return data, nil // the server reports the syntax error with its position
	}
	get := func(m *yaml.Node, key string) *yaml.Node {
		if m == nil || m.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i+1]
			}
		}
		return nil
	}
	set := func(m *yaml.Node, key string, v *yaml.Node) {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	}
	ents := get(doc.Content[0], "entities")
	if ents == nil || ents.Kind != yaml.SequenceNode {
		return data, nil
	}
	changed := false
	for _, e := range ents.Content {
		if t := get(e, "type"); t == nil || t.Value != catalog.TypeSFlowCollector {
			continue
		}
		cfg := get(e, "config")
		if cfg == nil {
			cfg = &yaml.Node{Kind: yaml.MappingNode}
			set(e, "config", cfg)
		}
		out := get(cfg, "output")
		switch {
		case out == nil:
			out = &yaml.Node{Kind: yaml.SequenceNode}
			set(cfg, "output", out)
		case out.Kind == yaml.ScalarNode:
			*out = yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: out.Value}}}
		}
		for _, o := range outputs {
			out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: o})
		}
		changed = true
	}
	if !changed {
		return data, nil
	}
	return yaml.Marshal(&doc)
}

func runUp(ctx context.Context, w io.Writer, path string, o upOptions) (err error) {
	var data []byte
	if path == "" {
		// The built-in demo, whatever files the working directory holds.
		path = library.Dir + "/" + defaultUpBlueprint + ".yaml"
		data, err = library.Read(defaultUpBlueprint)
	} else {
		path, data, err = library.Open(path)
	}
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}

	svcs := detectServices(o)
	var outputs []string
	var promURL string
	for _, s := range svcs {
		switch {
		case s.found:
			fmt.Fprintf(w, "%-13s %s: found, using it\n", s.name, s.addr)
		case s.flag != "":
			return fmt.Errorf("up: %s at %s does not answer", s.name, s.addr)
		case o.noServices:
			fmt.Fprintf(w, "%-13s not probed (--no-services)\n", s.name)
			continue
		default:
			fmt.Fprintf(w, "%-13s %s: not running, not used\n", s.name, s.addr)
			continue
		}
		switch s.name {
		case "Elasticsearch":
			outputs = append(outputs, sinkspec.Spec{Kind: sinkspec.Elasticsearch, URL: s.addr}.String())
		case "Kafka":
			outputs = append(outputs, sinkspec.Spec{Kind: sinkspec.Kafka, Brokers: []string{hostPort(s.addr)}, Topic: "flows"}.String())
		case "Prometheus":
			promURL = s.addr
		}
	}
	if data, err = addOutputs(data, outputs); err != nil {
		return fmt.Errorf("up: %w", err)
	}

	stateDir := o.stateDir
	if stateDir == "" {
		if stateDir, err = os.MkdirTemp("", "elk-up-"); err != nil {
			return fmt.Errorf("up: %w", err)
		}
		if !o.keepState {
			defer os.RemoveAll(stateDir)
		}
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	logPath := o.logFile
	if logPath == "" {
		logPath = filepath.Join(stateDir, "server.log")
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("up: open server log: %w", err)
	}
	defer lf.Close()
	log := slog.New(slog.NewTextHandler(lf, nil))

	security, tokens, err := apiSecurity{}.build(o.listen, stateDir, log)
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	stack, err := server.NewLocal(server.LocalConfig{
		Listen: o.listen, StateDir: stateDir, Prometheus: promURL, WaitTimeout: o.waitTimeout, Logger: log, Security: security,
	})
	if err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return fmt.Errorf("up: %s is in use: is another elk server running? (use --listen): %w", o.listen, err)
		}
		return fmt.Errorf("up: %w", err)
	}
	runCtx, stopStack := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- stack.Run(runCtx) }()
	fmt.Fprintf(w, "elk server    %s (state and logs in %s)\n", stack.Addr, stateDir)

	unpublish := publishToken(stack.Addr, tokens, log)
	hc, err := client.TransportConfig{Token: tokens.Own}.HTTPClient()
	var c *client.Client
	if err == nil {
		c, err = client.New(stack.Addr, hc)
	}
	if err != nil {
		unpublish()
		stopStack()
		<-runDone
		return err
	}
	appName := ""
	defer func() {
		fmt.Fprintln(w, "\nstopping: tearing everything down")
		if appName != "" {
			tctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if removed, uerr := c.Undeploy(tctx, appName); uerr != nil && !errors.Is(uerr, client.ErrNotFound) {
				fmt.Fprintf(w, "undeploy %s: %v\n", appName, uerr)
			} else if uerr == nil {
				fmt.Fprintf(w, "undeployed %s (%s)\n", appName, strings.Join(removed, ", "))
			}
			cancel()
		}
		unpublish()
		stopStack()
		if rerr := <-runDone; rerr != nil && err == nil {
			err = rerr
		}
		fmt.Fprintln(w, "all processes stopped")
	}()

	res, err := c.Deploy(ctx, path, data, false, func(ev orchestrator.Event) {
		appName = ev.App
		printEvent(w, ev)
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("up: %w (server log: %s)", err, logPath)
	}
	appName = res.Plan.App
	fmt.Fprintf(w, "\n%s is up; `elk status` in another terminal shows it too (ELK_ADDR=%s). Ctrl-C stops everything.\n\n", appName, stack.Addr)

	tty := isTerminal(w)
	t := time.NewTicker(o.refresh)
	defer t.Stop()
	for {
		st, serr := c.App(ctx, appName)
		if ctx.Err() != nil {
			return nil
		}
		if tty {
			fmt.Fprint(w, "\033[H\033[2J")
			fmt.Fprintf(w, "elk up: %s on %s   %s   (Ctrl-C to stop)\n\n", appName, stack.Addr, time.Now().Format("15:04:05"))
		}
		if serr != nil {
			fmt.Fprintf(w, "status: %v\n", serr)
		} else {
			printLive(w, st)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// printLive writes a compact table of the entities.
func printLive(w io.Writer, st *orchestrator.AppStatus) {
	fmt.Fprintf(w, "%-14s %-16s %7s %7s %7s  %s\n", "ENTITY", "TYPE", "DESIRED", "RUNNING", "HEALTHY", "INGEST")
	for _, e := range st.Entities {
		rate := ""
		if v, ok := e.Rates["samples_per_second"]; ok {
			rate = fmt.Sprintf("%.0f samples/s, %.0f datagrams/s", v, e.Rates["datagrams_per_second"])
		}
		fmt.Fprintf(w, "%-14s %-16s %7d %7d %7d  %s\n", e.ID, e.Type, e.Desired, e.Running, e.Healthy, rate)
		if e.Drift != "" {
			fmt.Fprintf(w, "  ! drift: %s\n", e.Drift)
		}
	}
	fmt.Fprintln(w)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
