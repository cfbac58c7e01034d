package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/nomad/api"
	"github.com/spf13/cobra"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/blueprints/library"
	"github.com/elk-project/elk/orchestrator/catalog"
	"github.com/elk-project/elk/orchestrator/secrets"
	"github.com/elk-project/elk/orchestrator/target/nomad"
)

func newBlueprintCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "blueprint",
		Short: "Validate and render blueprints",
		Long: `A blueprint is a YAML application: a name, a target (local or nomad) and
entities (sflow-collector, sflow-agent, kafka, elasticsearch, kibana,
prometheus, es-exporter, ingest, generic) with counts, configuration,
resources, health checks, dependencies and scaling policies.
Stock blueprints are built into the binary: elk blueprint list names them,
elk blueprint show NAME prints one to start from, and every command that takes
a blueprint file also takes a stock name.`,
	}
	cmd.AddCommand(newBlueprintListCmd(), newBlueprintShowCmd(), newBlueprintValidateCmd(), newBlueprintRenderCmd(), newBlueprintTypesCmd())
	return cmd
}

func newBlueprintListCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the stock blueprints built into elk",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ents, err := library.List()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				return writeJSONOut(w, ents)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tAPP\tTARGET\tDESCRIPTION")
			for _, e := range ents {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.App, e.Target, e.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func newBlueprintShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Print a stock blueprint, to start a blueprint of your own from",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := library.Read(args[0])
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
}

// bpFileResult is one file's outcome in `elk blueprint validate --output json`.
type bpFileResult struct {
	File     string         `json:"file"`
	Valid    bool           `json:"valid"`
	App      string         `json:"app,omitempty"`
	Target   string         `json:"target,omitempty"`
	Entities []string       `json:"entities,omitempty"` // in start order
	Errors   []bpFileErrorJ `json:"errors,omitempty"`
}

type bpFileErrorJ struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Message string `json:"message"`
}

func newBlueprintValidateCmd() *cobra.Command {
	var output, on string
	cmd := &cobra.Command{
		Use:   "validate NAME|FILE...",
		Short: "Check blueprints and report every problem with file:line:col",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			switch on {
			case "", blueprints.TargetLocal, blueprints.TargetNomad:
			default:
				return fmt.Errorf("--on %q: want local or nomad", on)
			}
			var results []bpFileResult
			bad := 0
			for _, f := range args {
				res := bpFileResult{File: f}
				app, err := library.Load(f)
				if err == nil && on != "" {
					// Also build the specs: on the local target this finds
					// third-party software missing from this machine.
					if _, cerr := catalog.Specs(app, catalog.Options{Target: on}); cerr != nil {
						err = cerr
					}
				}
				if err != nil {
					bad++
					res.Errors = bpErrors(err)
				} else {
					res.Valid, res.App, res.Target = true, app.Name, app.Target
					for _, e := range app.TopoOrder() {
						res.Entities = append(res.Entities, e.ID)
					}
				}
				results = append(results, res)
				if output == "text" {
					if err != nil {
						fmt.Fprintln(cmd.ErrOrStderr(), err)
					} else {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: application %s (target %s), %d entities, start order %s\n",
							f, app.Name, app.Target, len(app.Entities), strings.Join(res.Entities, ", "))
					}
				}
			}
			if output == "json" {
				if err := writeJSONLiteral(cmd.OutOrStdout(), results); err != nil {
					return err
				}
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d blueprints invalid", bad, len(args))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&on, "on", "", "also check the blueprint can run on this target here: local (are the third-party commands installed?) or nomad")
	return cmd
}

// bpErrors flattens a blueprint error into positioned messages.
func bpErrors(err error) []bpFileErrorJ {
	var out []bpFileErrorJ
	for _, line := range strings.Split(err.Error(), "\n") {
		e := bpFileErrorJ{Message: line}
		// file:line:col: message
		if parts := strings.SplitN(line, ":", 4); len(parts) == 4 {
			var l, c int
			if _, err := fmt.Sscan(parts[1], &l); err == nil {
				if _, err := fmt.Sscan(parts[2], &c); err == nil {
					e = bpFileErrorJ{File: parts[0], Line: l, Col: c, Message: strings.TrimSpace(parts[3])}
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// bpCompact drops the null, empty-string and empty-collection fields of a
// JSON value, which the Nomad API treats as unset anyway.
func bpCompact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = bpCompact(e)
			if bpEmpty(e) {
				delete(x, k)
			} else {
				x[k] = e
			}
		}
	case []any:
		for i, e := range x {
			x[i] = bpCompact(e)
		}
	}
	return v
}

func bpEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func newBlueprintRenderCmd() *cobra.Command {
	var (
		elkBinary   string
		provider    string
		datacenters []string
		registry    string
	)
	cmd := &cobra.Command{
		Use:   "render NAME|FILE",
		Short: "Print the Nomad jobs a blueprint deploys, as JSON, in start order",
		Long: `Print the Nomad jobs (the JSON the Nomad API takes) that deploying FILE on
the nomad target would register, one per entity, in start order. Nothing is
submitted. Secrets (credentials taken out of output URLs) show as REDACTED.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, err := library.Load(args[0])
			if err != nil {
				return err
			}
			if elkBinary == "" {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("find the elk binary: %w (set --elk-binary)", err)
				}
				elkBinary, _ = filepath.Abs(exe)
			}
			specs, err := catalog.Specs(app, catalog.Options{Target: blueprints.TargetNomad, ElkBinary: elkBinary})
			if err != nil {
				return err
			}
			opts := nomad.JobOptions{ServiceProvider: provider, Datacenters: datacenters, RegistryURL: registry}
			jobs := make([]*api.Job, 0, len(specs))
			for _, s := range specs {
				s.Secrets = secrets.RedactMap(s.Secrets) // shown, not submitted
				job, err := nomad.Job(s, opts)
				if err != nil {
					return err
				}
				jobs = append(jobs, job)
			}
			data, err := json.Marshal(jobs)
			if err != nil {
				return err
			}
			var out any
			if err := json.Unmarshal(data, &out); err != nil {
				return err
			}
			return writeJSONLiteral(cmd.OutOrStdout(), bpCompact(out))
		},
	}
	f := cmd.Flags()
	f.StringVar(&elkBinary, "elk-binary", "", "path of the elk binary on the Nomad clients (default: this executable)")
	f.StringVar(&provider, "service-provider", "consul", "where jobs register their services: consul or nomad")
	f.StringSliceVar(&datacenters, "datacenter", nil, `datacenters the jobs may run in (default "*")`)
	f.StringVar(&registry, "registry", "", "registry URL passed to components as ${registry}")
	return cmd
}

func newBlueprintTypesCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "types",
		Short: "List the built-in entity types and their config keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			types := blueprints.Types()
			switch output {
			case "json":
				type field struct {
					Key, Kind, Help string
				}
				type typ struct {
					Name   string  `json:"name"`
					Help   string  `json:"help"`
					Third  bool    `json:"third_party"`
					Config []field `json:"config,omitempty"`
				}
				var out []typ
				for _, t := range types {
					tt := typ{Name: t.Name, Help: t.Help, Third: t.Third}
					for _, k := range bpSortedKeys(t.Config) {
						tt.Config = append(tt.Config, field{k, t.Config[k].Kind.String(), t.Config[k].Help})
					}
					out = append(out, tt)
				}
				return writeJSONLiteral(cmd.OutOrStdout(), out)
			case "text":
				w := cmd.OutOrStdout()
				for _, t := range types {
					fmt.Fprintf(w, "%s: %s\n", t.Name, t.Help)
					for _, k := range bpSortedKeys(t.Config) {
						fmt.Fprintf(w, "  %-14s %s (%s)\n", k, t.Config[k].Help, t.Config[k].Kind)
					}
				}
				return nil
			}
			return errors.New("--output: want text or json")
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func bpSortedKeys(m map[string]blueprints.Field) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
