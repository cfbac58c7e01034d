package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newScaleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "scale",
		Short: "Set an entity's count",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("scale: not implemented yet")
		},
	}
}
