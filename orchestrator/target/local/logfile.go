package local

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
)

// logFile is an instance's log, rotated by size: path is the newest file,
// path.1 the one before, up to path.keep; older ones are deleted. No file
// grows past max bytes, so the log never holds more than max*(keep+1)
// bytes on disk. Files are mode 0600. It is safe for concurrent use:
// writes are serialized and each lands whole in one file unless it has
// to be split there.
type logFile struct {
	path string
	max  int64
	keep int

	mu   sync.Mutex
	f    *os.File
	size int64
}

// openLogFile opens (creating or appending to) path. A file already
// larger than max is rotated by the first write that does not fit.
func openLogFile(path string, max int64, keep int) (*logFile, error) {
	if max <= 0 {
		return nil, fmt.Errorf("log %s: size cap %d must be positive", path, max)
	}
	l := &logFile{path: path, max: max, keep: max0(keep)}
	if err := l.open(os.O_APPEND); err != nil {
		return nil, err
	}
	return l, nil
}

func max0(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

func (l *logFile) open(flag int) error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|flag, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Mode().Perm() != 0o600 {
		err = f.Chmod(0o600) // an older or hand-made file
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write appends p. What does not fit in the current file goes to a fresh
// one after a rotation; p is split after its last newline that fits, so
// lines stay whole in one file unless a single line is longer than that
// room (it then starts a file of its own, and one longer than max is cut).
func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	written := 0
	var rotErr error
	for len(p) > 0 {
		if l.f == nil { // a rotation or Close left no file
			if err := l.open(0); err != nil {
				return written, errors.Join(rotErr, err)
			}
		}
		n := l.fit(p)
		if n == 0 {
			if err := l.rotate(); err != nil && rotErr == nil {
				rotErr = err
			}
			continue
		}
		m, err := l.f.Write(p[:n])
		l.size += int64(m)
		written += m
		p = p[m:]
		if err != nil {
			return written, errors.Join(rotErr, fmt.Errorf("write log: %w", err))
		}
	}
	return written, rotErr
}

// fit returns how much of p goes into the current file; 0 means rotate
// first. It is never 0 for an empty file.
func (l *logFile) fit(p []byte) int {
	room := l.max - l.size
	if int64(len(p)) <= room {
		return len(p)
	}
	if room > 0 {
		if i := bytes.LastIndexByte(p[:room], '\n'); i >= 0 {
			return i + 1
		}
	}
	if l.size == 0 {
		return int(l.max) // one line longer than a file: cut it
	}
	return 0
}

// rotate shifts path.(keep-1) → path.keep … path → path.1 (each rename
// replacing the oldest) and starts an empty path. If path cannot be moved
// aside it is truncated: the cap holds even when the history is lost.
func (l *logFile) rotate() error {
	var errs []error
	if err := l.f.Close(); err != nil {
		errs = append(errs, err)
	}
	l.f = nil
	for i := l.keep - 1; i >= 1; i-- {
		if err := os.Rename(l.name(i), l.name(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if l.keep > 0 {
		if err := os.Rename(l.path, l.name(1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := l.open(os.O_TRUNC); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rotate log %s: %w", l.path, err)
	}
	return nil
}

func (l *logFile) name(i int) string { return l.path + "." + strconv.Itoa(i) }

// Close closes the current file. A later Write reopens it.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// readLogTail returns up to n bytes from the end of the log at path,
// reading on into path.1 … path.keep when the newest file is shorter, so a
// rotation just before does not hide what the process printed last.
func readLogTail(path string, n int64, keep int) []byte {
	var parts [][]byte
	for i := 0; i <= keep && n > 0; i++ {
		name := path
		if i > 0 {
			name = path + "." + strconv.Itoa(i)
		}
		b, err := readTail(name, n)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // between a rename and the new file, or never rotated
			}
			break
		}
		parts = append(parts, b)
		n -= int64(len(b))
	}
	var out []byte
	for i := len(parts) - 1; i >= 0; i-- {
		out = append(out, parts[i]...)
	}
	return out
}

func readTail(name string, n int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	m, err := f.ReadAt(b, off)
	if m < len(b) && err != nil {
		return nil, err
	}
	return b[:m], nil
}
