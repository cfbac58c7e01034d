package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	sinkspec "github.com/elk-project/elk/collector/output"
	"github.com/elk-project/elk/collector/sink"
	elasticsearch "github.com/elk-project/elk/collector/sink/elasticsearch"
	"github.com/elk-project/elk/collector/sink/file"
	"github.com/elk-project/elk/collector/sink/kafka"
	"github.com/elk-project/elk/collector/sink/stdout"
)

// openOutput opens the sink of an --output value (see collector/output).
func openOutput(v string, log *slog.Logger, reg *prometheus.Registry, out io.Writer) (sink.Sink, error) {
	spec, err := sinkspec.Parse(v)
	if err != nil {
		return nil, err
	}
	switch spec.Kind {
	case sinkspec.File:
		s, err := file.New(file.Config{Path: spec.Path}, file.Deps{Metrics: reg})
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", v, err)
		}
		return s, nil
	case sinkspec.Stdout:
		return stdout.New(stdout.Config{}, stdout.Deps{Writer: out, Metrics: reg})
	case sinkspec.Elasticsearch:
		cfg, err := elasticsearch.Collector(spec, defaultStateDir(), os.Getenv, log)
		if err != nil {
			return nil, err
		}
		return elasticsearch.New(cfg, elasticsearch.Deps{Logger: log, Metrics: reg})
	case sinkspec.Kafka:
		return kafka.New(kafka.Config{Brokers: spec.Brokers, Topic: spec.Topic}, kafka.Deps{Logger: log, Metrics: reg})
	}
	return nil, fmt.Errorf("output %q: no sink for %s", spec.Redacted(), spec.Kind)
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
