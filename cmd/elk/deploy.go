package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/elk-project/elk/blueprints/library"
	"github.com/elk-project/elk/orchestrator"
)

func newDeployCmd() *cobra.Command {
	var (
		dryRun bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "deploy NAME|FILE",
		Short: "Deploy a blueprint (or show its plan with --dry-run)",
		Long: `Deploy the application a blueprint describes. The server shows the plan (what
will be added, changed, removed), starts entities in dependency order, each
once its dependencies are healthy, and rolls back what it created if an
entity fails. Deploying the same blueprint again changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			file, data, err := library.Open(args[0])
			if err != nil {
				return err
			}
			c, err := apiClient()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var progress func(orchestrator.Event)
			if output == "text" && !dryRun {
				progress = func(ev orchestrator.Event) { printEvent(w, ev) }
			}
			res, err := c.Deploy(cmd.Context(), file, data, dryRun, progress)
			if err != nil {
				if cmd.Context().Err() != nil && !dryRun {
					return errors.New("interrupted: the deploy goes on in the server; follow it with `elk status` or stop it with `elk undeploy`")
				}
				return err
			}
			if output == "json" {
				return writeJSONOut(w, res)
			}
			if dryRun {
				printPlan(w, res.Plan)
				return nil
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show the plan without changing anything")
	orchOutputFlag(cmd, &output)
	return cmd
}

func printEvent(w io.Writer, ev orchestrator.Event) {
	who := ev.Entity
	if who == "" {
		who = ev.App
	}
	fmt.Fprintf(w, "%s  %-12s %-9s %s\n", ev.Time.Local().Format("15:04:05"), who, ev.Action, ev.Message)
}

func printPlan(w io.Writer, p orchestrator.Plan) {
	fmt.Fprintf(w, "plan for %s:\n", p.App)
	sign := map[string]string{
		orchestrator.ActionAdd: "+", orchestrator.ActionRemove: "-", orchestrator.ActionChange: "~",
		orchestrator.ActionScale: "~", orchestrator.ActionRecreate: "+", orchestrator.ActionUnchanged: "=",
	}
	for _, c := range p.Changes {
		line := fmt.Sprintf("  %s %-12s %-9s", sign[c.Action], c.Entity, c.Action)
		if c.Action != orchestrator.ActionRemove {
			line += fmt.Sprintf(" count %d", c.Count)
		}
		if len(c.Diff) > 0 {
			line += "  (" + strings.Join(c.Diff, ", ") + ")"
		}
		fmt.Fprintln(w, line)
	}
	if p.Empty() {
		fmt.Fprintln(w, "nothing to change")
	}
}
