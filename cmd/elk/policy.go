package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newPolicyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "policy",
		Short: "Inspect and edit scaling policies",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("policy: not implemented yet")
		},
	}
}
