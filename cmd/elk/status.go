package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/elk-project/elk/orchestrator"
	"github.com/elk-project/elk/orchestrator/client"
)

// apiClient returns a client of the server named by ELK_ADDR.
func apiClient() (*client.Client, error) {
	return client.New(os.Getenv("ELK_ADDR"), nil)
}

// outputFlag adds --output to a read command.
func orchOutputFlag(cmd *cobra.Command, out *string) {
	cmd.Flags().StringVarP(out, "output", "o", "text", "output format: text or json")
}

func checkOutput(out string) error {
	if out != "text" && out != "json" {
		return fmt.Errorf("--output %q: want text or json", out)
	}
	return nil
}

// writeJSONOut prints v as indented JSON: the one printer behind every
// command's --output json.
func writeJSONOut(w io.Writer, v any) error { return encodeJSON(w, v, true) }

// writeJSONLiteral is writeJSONOut without HTML escaping, for the blueprint
// commands whose JSON holds commands and queries (`>`, `&`) meant to be read
// or fed to the Nomad API as they are.
func writeJSONLiteral(w io.Writer, v any) error { return encodeJSON(w, v, false) }

func encodeJSON(w io.Writer, v any, escapeHTML bool) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(escapeHTML)
	return enc.Encode(v)
}

func newStatusCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status [APP]",
		Short: "Show applications, their entities and instances",
		Long: `Show every application (or one) as a tree: application, entities with their
desired, running and healthy counts and live rates, and instances with their
state, address and ports. Drift (changes made outside elk) is flagged.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := apiClient()
			if err != nil {
				return err
			}
			var apps []*orchestrator.AppStatus
			if len(args) == 1 {
				st, err := c.App(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				apps = append(apps, st)
			} else if apps, err = c.Apps(cmd.Context()); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				if len(args) == 1 {
					return writeJSONOut(w, apps[0])
				}
				return writeJSONOut(w, apps)
			}
			if len(apps) == 0 {
				fmt.Fprintln(w, "no applications deployed")
				return nil
			}
			for _, a := range apps {
				printStatus(w, a, time.Now())
			}
			return nil
		},
	}
	orchOutputFlag(cmd, &output)
	return cmd
}

// printStatus writes the tree of one application.
func printStatus(w io.Writer, a *orchestrator.AppStatus, now time.Time) {
	head := a.Name
	if !a.Deployed.IsZero() {
		head += fmt.Sprintf("  (deployed %s ago)", now.Sub(a.Deployed).Round(time.Second))
	}
	if a.Deploying != nil {
		head += "  [deploying"
		if a.Deploying.Entity != "" {
			head += ": " + a.Deploying.Entity
		}
		head += "]"
	}
	fmt.Fprintln(w, head)
	for i, e := range a.Entities {
		last := i == len(a.Entities)-1
		branch, pad := "├─ ", "│  "
		if last {
			branch, pad = "└─ ", "   "
		}
		line := fmt.Sprintf("%s%-12s %-16s desired %d  running %d  healthy %d", branch, e.ID, e.Type, e.Desired, e.Running, e.Healthy)
		if e.CountSource != "" && e.CountSource != orchestrator.SourceBlueprint {
			line += "  (count set by " + e.CountSource + ")"
		}
		for _, k := range slices.Sorted(maps.Keys(e.Rates)) {
			line += fmt.Sprintf("  %s %.1f", strings.ReplaceAll(k, "_per_second", "/s"), e.Rates[k])
		}
		fmt.Fprintln(w, line)
		if e.Drift != "" {
			fmt.Fprintf(w, "%s   ! drift: %s\n", pad, e.Drift)
		}
		if e.Error != "" {
			fmt.Fprintf(w, "%s   ! error: %s\n", pad, e.Error)
		}
		for j, in := range e.Instances {
			ib := "├─ "
			if j == len(e.Instances)-1 {
				ib = "└─ "
			}
			health := "unhealthy"
			if in.Healthy {
				health = "healthy"
			}
			var ports []string
			names := slices.Collect(maps.Keys(in.Ports))
			sort.Strings(names)
			for _, n := range names {
				ports = append(ports, fmt.Sprintf("%s=%d", n, in.Ports[n]))
			}
			l := fmt.Sprintf("%s%s%-22s %-8s %-9s %s %s", pad, ib, in.ID, in.State, health, in.Addr, strings.Join(ports, " "))
			if in.Restarts > 0 {
				l += fmt.Sprintf("  restarts %d", in.Restarts)
			}
			if in.Message != "" {
				l += "  (" + in.Message + ")"
			}
			fmt.Fprintln(w, strings.TrimRight(l, " "))
		}
	}
}
