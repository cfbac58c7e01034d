package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newServerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "server",
		Short: "Run the orchestrator server",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("server: not implemented yet")
		},
	}
}
