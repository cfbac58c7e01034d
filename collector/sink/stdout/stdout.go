// Package stdout is a sink that writes documents as NDJSON to standard
// output (or any writer), for piping elk's output into other tools.
package stdout

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/sink"
	"github.com/elk-project/elk/collector/sink/sinkmetrics"
)

// Config configures the sink.
type Config struct {
	// BufferBytes is the write buffer size; 0 means 64 KiB.
	BufferBytes int
}

// Deps are the sink's collaborators. Writer is required (os.Stdout);
// Registry may be nil.
type Deps struct {
	Writer  io.Writer
	Metrics *prometheus.Registry
}

// Sink writes one JSON document per line. It is safe for concurrent use.
type Sink struct {
	mu      sync.Mutex
	w       *bufio.Writer
	closed  bool
	metrics *sinkmetrics.Metrics
}

var _ sink.Sink = (*Sink)(nil)

// New returns a sink writing to deps.Writer.
func New(cfg Config, deps Deps) (*Sink, error) {
	if deps.Writer == nil {
		return nil, errors.New("stdout sink: no writer")
	}
	if cfg.BufferBytes <= 0 {
		cfg.BufferBytes = 64 << 10
	}
	m, err := sinkmetrics.New(deps.Metrics, "stdout")
	if err != nil {
		return nil, err
	}
	return &Sink{w: bufio.NewWriterSize(deps.Writer, cfg.BufferBytes), metrics: m}, nil
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return "stdout" }

// Write writes each document's body and a newline.
func (s *Sink) Write(ctx context.Context, docs []sink.Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.metrics.Failed(docs)
		return errors.New("stdout sink: write after close")
	}
	for i := range docs {
		s.w.Write(docs[i].Body)
		if err := s.w.WriteByte('\n'); err != nil {
			s.metrics.Failed(docs[i:])
			return fmt.Errorf("write stdout: %w", err)
		}
		s.metrics.Written(&docs[i])
	}
	return nil
}

// Flush writes out buffered documents.
func (s *Sink) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("flush stdout: %w", err)
	}
	return nil
}

// Close flushes; the underlying writer stays open (it is not the sink's).
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("flush stdout: %w", err)
	}
	return nil
}
