package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newUndeployCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "undeploy",
		Short: "Remove an application",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("undeploy: not implemented yet")
		},
	}
}
