package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newUndeployCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "undeploy APP",
		Short: "Stop and remove an application",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient()
			if err != nil {
				return err
			}
			removed, err := c.Undeploy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s undeployed (removed: %s)\n", args[0], strings.Join(removed, ", "))
			return nil
		},
	}
}
