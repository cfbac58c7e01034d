package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func newScaleCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "scale APP/ENTITY N",
		Short: "Set the number of instances of an entity",
		Long: `Set an entity's desired count. The orchestrator owns the count: later
redeploys of the same blueprint keep it.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, entity, ok := strings.Cut(args[0], "/")
			if !ok || app == "" || entity == "" {
				return fmt.Errorf("scale: %q: want APP/ENTITY", args[0])
			}
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 0 {
				return fmt.Errorf("scale: count %q: want a non-negative integer", args[1])
			}
			c, err := apiClient()
			if err != nil {
				return err
			}
			if err := c.Scale(cmd.Context(), app, entity, n, reason); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s scaled to %d\n", app, entity, n)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded with the count)")
	return cmd
}
