package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newESExporterCmd is `elk agent es-exporter`.
func newESExporterCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "es-exporter",
		Short: "Export Elasticsearch thread-pool queue depth as Prometheus metrics",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("es-exporter: not implemented yet")
		},
	}
}
