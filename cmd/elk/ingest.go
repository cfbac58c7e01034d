package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newIngestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ingest",
		Short: "Consume documents from Kafka into Elasticsearch",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("ingest: not implemented yet")
		},
	}
}
