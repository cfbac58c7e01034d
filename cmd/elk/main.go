// Command elk is the single binary of the elk monitoring platform: the sFlow
// collector, the synthetic agent, the ingest worker, the orchestrator server
// and its command-line client.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		var ec exitCoder
		code := 1
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "elk:", err)
		os.Exit(code)
	}
}

// exitCoder is implemented by errors that ask for a specific exit status.
type exitCoder interface{ ExitCode() int }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "elk",
		Short: "sFlow monitoring platform with an autoscaling orchestrator",
		Long: `elk turns sFlow samples into a self-managing monitoring platform.

It collects sFlow v5 datagrams, routes flows to tenants, writes them to files,
Elasticsearch or Kafka, and deploys whole monitoring stacks from YAML
blueprints onto Nomad or this machine, scaling them on live metrics.

Start everything on this machine with:  elk up`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newCollectorCmd(),
		newAgentCmd(),
		newIngestCmd(),
		newBenchCmd(),
		newServerCmd(),
		newUpCmd(),
		newDeployCmd(),
		newStatusCmd(),
		newScaleCmd(),
		newUndeployCmd(),
		newBlueprintCmd(),
		newPolicyCmd(),
		newTenantCmd(),
	)
	return root
}
