package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newBlueprintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "blueprint",
		Short: "Validate and render blueprints",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("blueprint: not implemented yet")
		},
	}
}
