package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/sink"
	"github.com/elk-project/elk/collector/sink/file"
	"github.com/elk-project/elk/collector/sink/stdout"
)

// outputHelp describes the --output values, for flag help.
const outputHelp = `where documents go (repeatable): file:PATH (NDJSON, rotated at 1 GiB, fsync on exit), ` +
	`stdout, elasticsearch:URL, kafka:BROKERS/TOPIC. elasticsearch:URL spools to disk while the cluster is ` +
	`unreachable, by default in $XDG_STATE_HOME/elk/spool/PREFIX-HASH (~/.local/state/elk/spool/...; ` +
	`a collector finding it in use takes DIR.$ELK_INSTANCE or DIR.pid-PID), at most 1 GiB ` +
	`(?spool_max_bytes=N); ?spool=DIR picks the directory, ?spool=off blocks instead`

// openOutput turns an --output value (file:PATH, stdout, elasticsearch:URL,
// kafka:BROKERS/TOPIC) into a sink.
func openOutput(spec string, log *slog.Logger, reg *prometheus.Registry, out io.Writer) (sink.Sink, error) {
	// elasticsearch:URL and kafka:BROKERS/TOPIC (see ingest.go).
	if s, ok, err := openPipelineOutput(spec, log, reg); ok {
		return s, err
	}
	kind, rest, _ := strings.Cut(spec, ":")
	switch kind {
	case "file":
		if rest == "" {
			return nil, fmt.Errorf("output %q: want file:PATH", spec)
		}
		s, err := file.New(file.Config{Path: rest}, file.Deps{Registry: reg})
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", spec, err)
		}
		return s, nil
	case "stdout", "-":
		if rest != "" {
			return nil, fmt.Errorf("output %q: stdout takes no argument", spec)
		}
		return stdout.New(stdout.Config{}, stdout.Deps{Writer: out, Registry: reg})
	}
	return nil, fmt.Errorf("output %q: unknown kind %q (want file:PATH, stdout, elasticsearch:URL or kafka:BROKERS/TOPIC)", spec, kind)
}

// openOutputs opens every spec; on error it closes those already open.
func openOutputs(specs []string, log *slog.Logger, reg *prometheus.Registry, out io.Writer) ([]sink.Sink, error) {
	if len(specs) == 0 {
		return nil, errors.New("at least one --output is required")
	}
	var sinks []sink.Sink
	for _, spec := range specs {
		s, err := openOutput(spec, log, reg, out)
		if err != nil {
			for _, o := range sinks {
				o.Close(context.Background())
			}
			return nil, err
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}
