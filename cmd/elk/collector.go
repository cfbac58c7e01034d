package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newCollectorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "collector",
		Short: "Receive sFlow datagrams and write flow documents",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("collector: not implemented yet")
		},
	}
}
