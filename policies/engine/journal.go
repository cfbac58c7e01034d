package engine

import (
	"time"

	"github.com/elk-project/elk/policies"
)

// ring is a bounded journal of decisions.
type ring struct {
	buf  []policies.Decision
	next int
	full bool
}

func newRing(n int) ring { return ring{buf: make([]policies.Decision, n)} }

func (r *ring) add(d policies.Decision) {
	r.buf[r.next] = d
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// last returns up to n decisions, oldest first (n <= 0: all).
func (r *ring) last(n int) []policies.Decision {
	size := r.next
	if r.full {
		size = len(r.buf)
	}
	if n <= 0 || n > size {
		n = size
	}
	out := make([]policies.Decision, 0, n)
	for i := n; i > 0; i-- {
		idx := (r.next - i + len(r.buf)) % len(r.buf)
		out = append(out, r.buf[idx])
	}
	return out
}

// record journals a decision and updates the metrics.
func (e *Engine) record(en *entry, d *policies.Decision, start time.Time) {
	en.mu.Lock()
	en.journal.add(*d)
	en.last = &en.journal.buf[(en.journal.next-1+len(en.journal.buf))%len(en.journal.buf)]
	en.mu.Unlock()
	e.metrics.observe(en.m, d, start)
}
