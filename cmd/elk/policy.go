package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/elk-project/elk/policies"
	"github.com/elk-project/elk/policies/client"
	"github.com/elk-project/elk/policies/simulate"
	"github.com/elk-project/elk/policies/source"
	promsource "github.com/elk-project/elk/policies/source/prometheus"
	"github.com/elk-project/elk/policies/source/scrape"
)

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Inspect, edit and simulate scaling policies",
		Long: `Inspect, edit and simulate the scaling policies of a running elk server.

The server address comes from ELK_ADDR (default http://127.0.0.1:7878).
Policies are named APP/ENTITY. Every change is validated before it applies
(a bad edit is rejected and the running policy is untouched) and versioned
with time, author and diff.`,
	}
	cmd.AddCommand(
		newPolicyListCmd(), newPolicyShowCmd(), newPolicyValidateCmd(), newPolicySetCmd(),
		newPolicyEditCmd(), newPolicyPauseCmd(true), newPolicyPauseCmd(false), newPolicyPinCmd(),
		newPolicyUnpinCmd(), newPolicyHistoryCmd(), newPolicyExplainCmd(), newPolicySimulateCmd(),
		newPolicyRecordCmd(),
	)
	return cmd
}

func policyClient() *client.Client {
	addr := os.Getenv("ELK_ADDR")
	if addr == "" {
		addr = "http://127.0.0.1:7878"
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	author := "cli"
	if u, err := user.Current(); err == nil {
		author = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		author += "@" + h
	}
	return client.New(addr, author)
}

func outputFlag(cmd *cobra.Command) *string {
	return cmd.Flags().StringP("output", "o", "text", "output format: text or json")
}

func newPolicyListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List policies with their last decision",
		Args:  cobra.NoArgs,
	}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		list, err := policyClient().List(cmd.Context())
		if err != nil {
			return err
		}
		if *out == "json" {
			return writeJSONOut(cmd.OutOrStdout(), list)
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "POLICY\tVERSION\tMIN\tMAX\tCURRENT\tDESIRED\tSTATE\tLAST DECISION")
		for _, s := range list {
			cur, des, msg := "-", "-", "-"
			if s.Last != nil {
				cur, des, msg = strconv.Itoa(s.Last.Current), strconv.Itoa(s.Last.Desired), s.Last.Message()
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Policy, s.Version, s.Min, s.Max, cur, des, state(s.Paused, s.Pin != nil, s.SourceDown), msg)
		}
		return tw.Flush()
	}
	return cmd
}

func state(paused, pinned bool, down string) string {
	var s []string
	if paused {
		s = append(s, "paused")
	}
	if pinned {
		s = append(s, "pinned")
	}
	if down != "" {
		s = append(s, "source-down")
	}
	if len(s) == 0 {
		return "active"
	}
	return strings.Join(s, ",")
}

func newPolicyShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show APP/ENTITY",
		Short: "Show a policy, its state and its last decision",
		Args:  cobra.ExactArgs(1),
	}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		s, err := policyClient().Show(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if *out == "json" {
			return writeJSONOut(cmd.OutOrStdout(), s)
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "# %s version %d (%s), %s", s.Policy, s.Version, s.Origin, state(s.Paused, s.Pin != nil, s.SourceDown))
		if s.Pin != nil {
			fmt.Fprintf(w, ": pinned at %d until %s by %s", s.Pin.Count, s.Pin.Until.Format(time.RFC3339), s.Pin.Author)
		}
		if !s.Leader {
			fmt.Fprint(w, " (this server is a standby)")
		}
		fmt.Fprintln(w)
		if s.SourceDown != "" {
			fmt.Fprintf(w, "# metric source down: %s\n", s.SourceDown)
		}
		if s.Last != nil {
			fmt.Fprintf(w, "# last decision %s: %s\n", s.Last.Time.Format(time.RFC3339), s.Last.Message())
		}
		fmt.Fprint(w, s.YAML)
		return nil
	}
	return cmd
}

func newPolicyValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Validate policy files (all errors, with file:line:col)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, f := range args {
				if _, err := policies.Load(f); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					bad++
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", f)
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d policy files are invalid", bad, len(args))
			}
			return nil
		},
	}
}

func newPolicySetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set APP/ENTITY KEY=VALUE...",
		Short: "Change policy fields, e.g. max=10 controls.stabilization.down=10m checks.ingest.strategy.target-value.target=25000",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := policyClient().Set(cmd.Context(), args[0], args[1:])
			if err != nil {
				return err
			}
			printVersion(cmd.OutOrStdout(), args[0], v.N, v.Diff)
			return nil
		},
	}
}

func printVersion(w io.Writer, key string, n int, diff string) {
	if diff == "" {
		fmt.Fprintf(w, "%s unchanged (version %d)\n", key, n)
		return
	}
	fmt.Fprintf(w, "%s is now version %d\n%s", key, n, diff)
}

func newPolicyEditCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "edit APP/ENTITY",
		Short: "Edit a policy in $EDITOR; it is validated before it is saved",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := policyClient()
			s, err := c.Show(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "elk-policy-")
			if err != nil {
				return err
			}
			path := filepath.Join(dir, strings.ReplaceAll(args[0], "/", "-")+".yaml")
			if err := os.WriteFile(path, []byte(s.YAML), 0o600); err != nil {
				return err
			}
			editor := os.Getenv("VISUAL")
			if editor == "" {
				editor = os.Getenv("EDITOR")
			}
			if editor == "" {
				editor = "vi"
			}
			for {
				ed := exec.CommandContext(cmd.Context(), "sh", "-c", editor+` "$1"`, "sh", path)
				ed.Stdin, ed.Stdout, ed.Stderr = os.Stdin, os.Stdout, os.Stderr
				if err := ed.Run(); err != nil {
					return fmt.Errorf("run editor %q: %w (your edit is in %s)", editor, err, path)
				}
				data, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				if bytes.Equal(data, []byte(s.YAML)) {
					fmt.Fprintln(cmd.OutOrStdout(), "no change")
					_ = os.RemoveAll(dir)
					return nil
				}
				if _, err := policies.ParseBytes(path, data, true); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					if !askAgain(cmd) {
						return fmt.Errorf("policy not saved; your edit is in %s", path)
					}
					continue
				}
				v, err := c.Replace(cmd.Context(), args[0], data)
				if err != nil {
					return fmt.Errorf("%w (your edit is in %s)", err, path)
				}
				_ = os.RemoveAll(dir)
				printVersion(cmd.OutOrStdout(), args[0], v.N, v.Diff)
				return nil
			}
		},
	}
}

// askAgain asks whether to reopen the editor when stdin is a terminal.
func askAgain(cmd *cobra.Command) bool {
	if _, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS); err != nil {
		return false
	}
	fmt.Fprint(cmd.ErrOrStderr(), "edit again? [Y/n] ")
	var ans string
	if _, err := fmt.Fscanln(os.Stdin, &ans); err != nil && err.Error() != "unexpected newline" {
		return false
	}
	return ans == "" || strings.HasPrefix(strings.ToLower(ans), "y")
}

func newPolicyPauseCmd(pause bool) *cobra.Command {
	use, short := "pause APP/ENTITY", "Stop a policy from scaling (it keeps evaluating and explaining)"
	if !pause {
		use, short = "resume APP/ENTITY", "Let a paused policy scale again"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := policyClient()
			var err error
			if pause {
				_, err = c.Pause(cmd.Context(), args[0])
			} else {
				_, err = c.Resume(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %sd\n", args[0], strings.Fields(use)[0])
			return nil
		},
	}
}

func newPolicyPinCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pin APP/ENTITY N --for DURATION",
		Short: "Hold the count at N for a while (an expiring override)",
		Args:  cobra.ExactArgs(2),
	}
	d := cmd.Flags().Duration("for", 0, "how long the pin holds, e.g. 2h (required)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return fmt.Errorf("pin: %q is not a count", args[1])
		}
		if *d <= 0 {
			return errors.New("pin: --for DURATION is required")
		}
		s, err := policyClient().Pin(cmd.Context(), args[0], n, *d)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s pinned at %d until %s\n", args[0], s.Pin.Count, s.Pin.Until.Format(time.RFC3339))
		return nil
	}
	return cmd
}

func newPolicyUnpinCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unpin APP/ENTITY",
		Short: "Remove a pin before it expires",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := policyClient().Unpin(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s unpinned\n", args[0])
			return nil
		},
	}
}

func newPolicyHistoryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "history APP/ENTITY",
		Short: "List a policy's versions with time, author and diff",
		Args:  cobra.ExactArgs(1),
	}
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		h, err := policyClient().History(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if *out == "json" {
			return writeJSONOut(cmd.OutOrStdout(), h)
		}
		w := cmd.OutOrStdout()
		for _, v := range h {
			fmt.Fprintf(w, "version %d  %s  by %s (%s)\n", v.N, v.Time.Format(time.RFC3339), v.Author, v.Origin)
			if v.N > 1 || len(h) > 0 && v.N != h[0].N {
				for _, l := range strings.Split(strings.TrimSuffix(v.Diff, "\n"), "\n") {
					fmt.Fprintf(w, "    %s\n", l)
				}
			}
		}
		return nil
	}
	return cmd
}

func newPolicyExplainCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "explain APP/ENTITY",
		Short: "Explain the last decisions: values read, votes, what clipped them, the action",
		Args:  cobra.ExactArgs(1),
	}
	last := cmd.Flags().Int("last", 5, "number of decisions to show")
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		ds, err := policyClient().Explain(cmd.Context(), args[0], *last)
		if err != nil {
			return err
		}
		if *out == "json" {
			return writeJSONOut(cmd.OutOrStdout(), ds)
		}
		w := cmd.OutOrStdout()
		for _, d := range ds {
			explain(w, d)
		}
		return nil
	}
	return cmd
}

func explain(w io.Writer, d policies.Decision) {
	fmt.Fprintf(w, "%s  v%d  %s\n", d.Time.Format(time.RFC3339), d.Version, d.Message())
	for _, r := range d.Readings {
		switch {
		case r.Error != "":
			fmt.Fprintf(w, "    read  %-16s missing: %s\n", r.Check, r.Error)
		case r.Stale:
			fmt.Fprintf(w, "    read  %-16s stale: %g at %s\n", r.Check, r.Value, r.SampleTime.Format(time.RFC3339))
		default:
			fmt.Fprintf(w, "    read  %-16s %g\n", r.Check, r.Value)
		}
	}
	for _, v := range d.Votes {
		fmt.Fprintf(w, "    vote  %-16s %-4s %d  (%s)\n", v.Check, v.Direction, v.Count, v.Why)
	}
	if !d.Skipped {
		fmt.Fprintf(w, "    current %d → recommended %d → desired %d", d.Current, d.Recommended, d.Desired)
		if len(d.ClippedBy) > 0 {
			fmt.Fprintf(w, "  clipped by %v", d.ClippedBy)
		}
		fmt.Fprintf(w, "  action %s\n", d.Action)
	}
}

func newPolicySimulateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "simulate FILE (--metrics RECORDING | --prometheus URL --range 6h)",
		Short: "Run a policy on a virtual clock over recorded or queried metrics",
		Long: `Run the real policy engine on a virtual clock over a recording (CSV lines
time,value[,series] or JSON lines; series names a check) or over a Prometheus
range query of each check's query, and print what it would have done: actions,
instance-seconds and time spent over the upper bound. --svg writes a plot of
the metric, the recommended and the running count over time.

Recordings hold the total load; for checks with input: average the simulator
divides by the simulated running count.`,
		Args: cobra.ExactArgs(1),
	}
	f := cmd.Flags()
	metrics := f.String("metrics", "", "recording file (CSV or JSON lines)")
	prom := f.String("prometheus", "", "Prometheus URL to read each check's query over --range")
	rng := f.Duration("range", 6*time.Hour, "with --prometheus: how far back to query")
	svg := f.String("svg", "", "write an SVG plot to this file")
	title := f.String("title", "", "plot title (default: the policy and recording)")
	initial := f.Int("initial", 0, "count at the start (default: the policy's min)")
	startup := f.Duration("startup", 0, "time a scale takes before the new count runs")
	save := f.String("save-recording", "", "with --prometheus: also save the queried data as a recording")
	timeline := f.Bool("timeline", false, "print the timeline (time, metric, recommended, running)")
	out := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		p, err := policies.Load(args[0])
		if err != nil {
			return err
		}
		var rec simulate.Recording
		switch {
		case *metrics != "" && *prom != "":
			return errors.New("simulate: use --metrics or --prometheus, not both")
		case *metrics != "":
			fh, err := os.Open(*metrics)
			if err != nil {
				return err
			}
			rec, err = simulate.ReadRecording(fh)
			fh.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", *metrics, err)
			}
		case *prom != "":
			src, err := promsource.New(*prom)
			if err != nil {
				return err
			}
			rec = simulate.Recording{}
			end := time.Now()
			for _, c := range p.Checks {
				if c.Query == "" {
					return fmt.Errorf("simulate: check %q uses a built-in metric; only query: checks can be read from Prometheus", c.Name)
				}
				s, err := src.Range(cmd.Context(), c.Query, end.Add(-*rng), end, p.EvaluationInterval)
				if err != nil {
					return err
				}
				rec[c.Name] = s
			}
			if *save != "" {
				if err := writeRecording(*save, rec, fmt.Sprintf("queried from %s over %s ending %s", *prom, *rng, end.UTC().Format(time.RFC3339))); err != nil {
					return err
				}
			}
		default:
			return errors.New("simulate: --metrics RECORDING or --prometheus URL is required")
		}
		res, err := simulate.Run(cmd.Context(), simulate.Config{Policy: p, Recording: rec, Initial: *initial, Startup: *startup})
		if err != nil {
			return err
		}
		if *svg != "" {
			t := *title
			if t == "" {
				src := *metrics
				if src == "" {
					src = *prom
				}
				t = fmt.Sprintf("elk policy simulate %s over %s", filepath.Base(args[0]), filepath.Base(src))
			}
			fh, err := os.Create(*svg)
			if err != nil {
				return err
			}
			if err := simulate.SVG(fh, t, res); err != nil {
				fh.Close()
				return err
			}
			if err := fh.Close(); err != nil {
				return err
			}
		}
		if *out == "json" {
			return writeJSONOut(cmd.OutOrStdout(), res)
		}
		w := cmd.OutOrStdout()
		if *timeline {
			for i, pt := range res.Points {
				fmt.Fprintf(w, "%s  %-10.1f recommended %-3d running %-3d %s\n", pt.Time.Sub(res.Points[0].Time), pt.Value, pt.Recommended, pt.Actual, res.Decisions[i].Message())
			}
		}
		fmt.Fprintln(w, res.Summary)
		if *svg != "" {
			fmt.Fprintf(w, "plot written to %s\n", *svg)
		}
		return nil
	}
	return cmd
}

func writeRecording(path string, rec simulate.Recording, comment string) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rec.Write(fh, comment); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func newPolicyRecordCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "record --scrape URL... --metric EXPR --out FILE",
		Short: "Record a built-in metric from /metrics endpoints for later simulation",
		Long: `Scrape /metrics endpoints with elk's built-in scraper and record a metric
(NAME, NAME{label="v"} or rate(NAME[30s]), summed over the endpoints) every
--every into a recording that 'elk policy simulate --metrics' reads.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	urls := f.StringSlice("scrape", nil, "/metrics URLs to scrape (repeatable)")
	metric := f.String("metric", `rate(elk_collector_agent_samples_total{type="flow"}[10s])`, "built-in metric expression to record")
	series := f.String("series", "", "series name in the recording (a check name; empty: every check)")
	every := f.Duration("every", time.Second, "sampling interval")
	dur := f.Duration("duration", time.Minute, "how long to record (or until interrupted)")
	outPath := f.String("out", "", "recording file to write (required)")
	comment := f.String("comment", "", "comment written at the top of the recording")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(*urls) == 0 || *outPath == "" {
			return errors.New("record: --scrape and --out are required")
		}
		if _, err := policies.ParseMetric(*metric); err != nil {
			return fmt.Errorf("record: --metric: %w", err)
		}
		targets := scrape.TargetsFunc(func(context.Context, string, string) ([]string, error) { return *urls, nil })
		sc := scrape.New(scrape.Config{Interval: *every, Idle: *dur + time.Hour}, targets, nil, nil)
		ctx, cancel := context.WithTimeout(cmd.Context(), *dur)
		defer cancel()
		q := source.Query{App: "record", Entity: "record", Check: policies.Check{Name: *series, Metric: *metric}}
		var samples []source.Sample
		tick := time.NewTicker(*every)
		defer tick.Stop()
		_, _ = sc.Read(ctx, q) // start tracking
		for ctx.Err() == nil {
			sc.ScrapeOnce(ctx)
			if s, err := sc.Read(ctx, q); err == nil {
				samples = append(samples, s)
				fmt.Fprintf(cmd.ErrOrStderr(), "%s %g\n", s.Time.Format(time.RFC3339), s.Value)
			} else if !errors.Is(err, source.ErrNoData) && ctx.Err() == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", time.Now().Format(time.RFC3339), err)
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
		if len(samples) == 0 {
			return errors.New("record: no samples recorded")
		}
		c := *comment
		if c == "" {
			c = fmt.Sprintf("%s from %s, recorded by elk policy record", *metric, strings.Join(*urls, " "))
		}
		if err := writeRecording(*outPath, simulate.Recording{*series: samples}, c); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%d samples written to %s\n", len(samples), *outPath)
		return nil
	}
	return cmd
}
