// Package logtest gives tests a logger whose output they can read while
// the code under test logs from other goroutines.
package logtest

import (
	"log/slog"
	"strings"
	"sync"
)

// Buffer is a concurrency-safe log destination.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// New returns a text logger writing to a new Buffer.
func New() (*slog.Logger, *Buffer) {
	b := &Buffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was logged so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Reset forgets what was logged.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}
