// Package ratelog limits a warning that a failure storm would repeat per
// record (a record not delivered, a document rejected, a record skipped)
// to one log line per interval, and says in that line how many it left
// out since the previous one. It only limits the log: callers count every
// occurrence in their metrics as before.
package ratelog

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// DefaultEvery is the interval of a Limiter whose Every is zero.
const DefaultEvery = time.Second

// Limiter lets one line of one kind through per interval. Give each kind
// of warning its own Limiter. The zero value is ready to use and safe for
// concurrent use; the refused calls cost two atomic operations.
type Limiter struct {
	// Every is the least time between two lines (default DefaultEvery).
	// Set it before the first use.
	Every time.Duration

	next       atomic.Int64 // unix nanoseconds from which the next line may go
	suppressed atomic.Int64 // refused since the last line let through
}

// Allow reports whether a line may be logged now and, when it may, how
// many calls were refused since the previous line. Every refused call is
// reported by exactly one later allowed call (none is lost, none counted
// twice), except those after the last one.
func (l *Limiter) Allow() (ok bool, suppressed int64) {
	now := time.Now().UnixNano()
	next := l.next.Load()
	if now < next || !l.next.CompareAndSwap(next, now+int64(l.every())) {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}

func (l *Limiter) every() time.Duration {
	if l.Every > 0 {
		return l.Every
	}
	return DefaultEvery
}

// Log logs msg with args at level if Allow lets it, adding
// suppressed=N when N earlier lines were left out.
func (l *Limiter) Log(log *slog.Logger, level slog.Level, msg string, args ...any) {
	ok, n := l.Allow()
	if !ok {
		return
	}
	if n > 0 {
		args = append(args[:len(args):len(args)], slog.Int64("suppressed", n))
	}
	log.Log(context.Background(), level, msg, args...)
}

// Warn is Log at slog.LevelWarn.
func (l *Limiter) Warn(log *slog.Logger, msg string, args ...any) {
	l.Log(log, slog.LevelWarn, msg, args...)
}

// Error is Log at slog.LevelError.
func (l *Limiter) Error(log *slog.Logger, msg string, args ...any) {
	l.Log(log, slog.LevelError, msg, args...)
}
