//go:build unix

package elasticsearch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive lock on dir so two sinks never share a spool;
// the returned file releases it when closed.
//
// A directory being removed by a sink that emptied it (spool.removeDir) is
// as good as in use: the lock file must still be the directory's after the
// lock is taken, or the caller moves on to its next candidate.
func lockDir(dir string) (*os.File, error) {
	name := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o640)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("spool dir %s is being removed: %w", dir, ErrSpoolInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("locking spool dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("spool dir %s: %w", dir, ErrSpoolInUse)
		}
		return nil, fmt.Errorf("locking spool dir: %w", err)
	}
	held, err1 := f.Stat()
	now, err2 := os.Stat(name)
	if err1 != nil || err2 != nil || !os.SameFile(held, now) {
		f.Close()
		return nil, fmt.Errorf("spool dir %s is being removed: %w", dir, ErrSpoolInUse)
	}
	return f, nil
}
