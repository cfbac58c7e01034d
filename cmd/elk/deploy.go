package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newDeployCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "deploy",
		Short: "Deploy a blueprint",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("deploy: not implemented yet")
		},
	}
}
