// Package file is a sink that appends documents to a file as NDJSON (one
// JSON document per line), rotating it by size and syncing it to disk when
// closed.
package file

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/elk-project/elk/collector/sink"
	"github.com/elk-project/elk/collector/sink/sinkmetrics"
)

// Config configures a file sink.
type Config struct {
	// Path is the file documents are appended to.
	Path string
	// MaxBytes rotates the file when a write would make it larger; 0 means
	// 1 GiB, a negative value never rotates.
	MaxBytes int64
	// MaxFiles is how many rotated files (PATH.1 newest … PATH.N) are
	// kept; 0 means 5.
	MaxFiles int
	// BufferBytes is the write buffer size; 0 means 1 MiB.
	BufferBytes int
}

// Deps are the sink's collaborators. Registry may be nil.
type Deps struct {
	Metrics *prometheus.Registry
}

// Sink writes NDJSON to a size-rotated file. It is safe for concurrent use.
type Sink struct {
	cfg     Config
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	size    int64
	closed  bool
	metrics *sinkmetrics.Metrics
}

var _ sink.Sink = (*Sink)(nil)

// New opens (creating or appending to) the file.
func New(cfg Config, deps Deps) (*Sink, error) {
	if cfg.Path == "" {
		return nil, errors.New("file sink: empty path")
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 1 << 30
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = 5
	}
	if cfg.BufferBytes <= 0 {
		cfg.BufferBytes = 1 << 20
	}
	m, err := sinkmetrics.New(deps.Metrics, "file")
	if err != nil {
		return nil, err
	}
	s := &Sink{cfg: cfg, metrics: m}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Sink) open() error {
	f, err := os.OpenFile(s.cfg.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open file sink: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open file sink: %w", err)
	}
	s.f, s.size = f, st.Size()
	if s.w == nil {
		s.w = bufio.NewWriterSize(f, s.cfg.BufferBytes)
	} else {
		s.w.Reset(f)
	}
	return nil
}

// Name implements sink.Sink.
func (s *Sink) Name() string { return "file:" + s.cfg.Path }

// Write appends each document's body and a newline.
func (s *Sink) Write(ctx context.Context, docs []sink.Doc) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.metrics.Failed(docs)
		return errors.New("file sink: write after close")
	}
	for i := range docs {
		n := int64(len(docs[i].Body) + 1)
		if s.cfg.MaxBytes > 0 && s.size > 0 && s.size+n > s.cfg.MaxBytes {
			if err := s.rotate(); err != nil {
				s.metrics.Failed(docs[i:])
				return err
			}
		}
		s.w.Write(docs[i].Body)
		if err := s.w.WriteByte('\n'); err != nil {
			s.metrics.Failed(docs[i:])
			return fmt.Errorf("write %s: %w", s.cfg.Path, err)
		}
		s.size += n
		s.metrics.Written(&docs[i])
	}
	return nil
}

// rotate closes the current file and shifts PATH → PATH.1 → PATH.2 …,
// dropping the oldest beyond MaxFiles.
func (s *Sink) rotate() error {
	if err := s.closeFile(); err != nil {
		return err
	}
	for i := s.cfg.MaxFiles - 1; i >= 1; i-- {
		from := s.cfg.Path + "." + strconv.Itoa(i)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, s.cfg.Path+"."+strconv.Itoa(i+1)); err != nil {
				return fmt.Errorf("rotate %s: %w", s.cfg.Path, err)
			}
		}
	}
	if err := os.Rename(s.cfg.Path, s.cfg.Path+".1"); err != nil {
		return fmt.Errorf("rotate %s: %w", s.cfg.Path, err)
	}
	s.metrics.Rotations.Inc()
	return s.open()
}

func (s *Sink) closeFile() error {
	err := s.w.Flush()
	if e := s.f.Sync(); err == nil {
		err = e
	}
	if e := s.f.Close(); err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("close %s: %w", s.cfg.Path, err)
	}
	return nil
}

// Flush writes buffered documents to the file (without syncing it).
func (s *Sink) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("flush %s: %w", s.cfg.Path, err)
	}
	return nil
}

// Close flushes, fsyncs and closes the file.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeFile()
}
