package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// A child's standard output and error are one named pipe (FIFO) in its
// entity directory, <index>.pipe, read by the server into the instance's
// rotating log. A named pipe rather than an anonymous one so the child
// survives its server: the child holds the pipe open for reading and
// writing (Linux allows O_RDWR on a FIFO), so while no server reads it
// its writes never fail with EPIPE or kill it with SIGPIPE; they fill
// the pipe buffer (64 KiB) and then block until the next server adopts
// the child and drains the same pipe again. Nothing it printed is lost
// across a server restart, except the one read the dying server had in
// hand.

// drainWait bounds how long the end of a child's output is waited for
// once the child exited: a process outside its group (it left the group
// with setsid) may hold the pipe open forever.
const drainWait = 2 * time.Second

func pipePath(dir string, index int) string {
	return filepath.Join(dir, fmt.Sprintf("%d.pipe", index))
}

// makePipe creates a fresh FIFO at path and opens it twice: the server's
// read end (non-blocking, on Go's poller, so Close interrupts a read) and
// the child's end (blocking, read-write, to become its stdout and stderr).
func makePipe(path string) (r, child *os.File, err error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("output pipe: %w", err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return nil, nil, fmt.Errorf("output pipe: mkfifo %s: %w", path, err)
	}
	if r, err = openPipeReader(path); err != nil {
		return nil, nil, err
	}
	// Not os.OpenFile: it would make the open file description
	// non-blocking, and the child's writes would then fail with EAGAIN
	// whenever the pipe is full.
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("output pipe: open %s: %w", path, err)
	}
	return r, os.NewFile(uintptr(fd), path), nil
}

// openPipeReader opens the server's end of an instance's pipe.
func openPipeReader(path string) (*os.File, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		return nil, fmt.Errorf("output pipe: %s is not a named pipe", path)
	}
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	return r, nil
}

// drain copies one child's output from r to w.
type drain struct {
	r    *os.File
	done chan struct{}
}

// startDrain reads r into w until every writer closed the pipe (the child
// and whatever it started exited) or wait gives up. A failing w does not
// stop the reading: the child must never block on a full pipe because
// the disk is.
func startDrain(r *os.File, w io.Writer, log *slog.Logger, id string) *drain {
	d := &drain{r: r, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		buf := make([]byte, 32<<10)
		warned := false
		for {
			n, err := r.Read(buf)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil && !warned {
					warned = true // once per child: the next start tries again
					log.Warn("instance output not fully written to its log", "instance", id, "error", werr)
				}
			}
			if err != nil {
				return // io.EOF: no writer left; or the reader was closed
			}
		}
	}()
	return d
}

// wait waits for the end of the output, at most bound; then it closes the
// read end, so what is still in the pipe is dropped, and returns once
// nothing writes to the log on the drain's behalf any more.
func (d *drain) wait(bound time.Duration) {
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-d.done:
	case <-t.C:
	}
	d.r.Close()
	<-d.done
}
