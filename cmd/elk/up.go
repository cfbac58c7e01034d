package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newUpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "up",
		Short: "Run the whole stack on this machine",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("up: not implemented yet")
		},
	}
}
