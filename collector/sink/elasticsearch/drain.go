package elasticsearch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// drainBatch tracks the documents of one spool segment being drained.
type drainBatch struct {
	remaining atomic.Int64
	failed    atomic.Bool
	done      chan struct{}
	// settled marks the segment's documents whose final outcome was
	// counted; when the cluster goes away mid-drain the segment is drained
	// again later without them, so none is counted (or sent) twice.
	settled []atomic.Bool
}

func (b *drainBatch) finish(failed bool) {
	if failed {
		b.failed.Store(true)
	}
	if b.remaining.Add(-1) == 0 {
		close(b.done)
	}
}

// outputID identifies this sink's output in its spool directory: the
// cluster's URLs (without credentials) and the index prefix. Sinks adopt
// only spools with their own output's id.
func (s *Sink) outputID() string {
	h := sha256.New()
	for _, raw := range s.cfg.URLs {
		if u, err := url.Parse(raw); err == nil {
			raw = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/")
		}
		io.WriteString(h, raw+"\n")
	}
	io.WriteString(h, s.cfg.IndexPrefix)
	return "elasticsearch " + hex.EncodeToString(h.Sum(nil))[:16]
}

// adoptEvery is how often a sink looks for spools other sinks left behind.
var adoptEvery = 10 * time.Second

// adoptSpools drains the spool directories matching Config.SpoolAdopt that
// no live sink holds, one segment at a time, and removes the emptied ones
// (never SpoolDir itself). It stops when the cluster goes away again; what
// is left stays on disk for the next round.
func (s *Sink) adoptSpools() {
	id := s.outputID()
	for _, dir := range s.adoptable() {
		if s.runCtx.Err() != nil || !s.isHealthy() {
			return
		}
		if spoolOutput(dir) != id {
			continue // another output's spool, or no spool at all
		}
		sp, err := openSpool(dir, s.cfg.SpoolMaxBytes, s.now)
		if err != nil {
			if !errors.Is(err, ErrSpoolInUse) {
				s.log.Warn("cannot open a spool left by another sink", "dir", dir, "error", err)
			}
			continue
		}
		if _, n, _ := sp.stats(); n > 0 {
			s.log.Info("draining a spool another sink left behind", "dir", dir, "documents", n)
			s.adopted.Store(sp)
			for !sp.empty() && s.isHealthy() && s.runCtx.Err() == nil {
				if err := s.drainOne(sp); err != nil {
					s.log.Warn("draining an adopted spool", "dir", dir, "error", err)
					break
				}
			}
			s.adopted.Store(nil)
			s.updateSpoolGauges()
		}
		if sp.empty() && filepath.Clean(dir) != filepath.Clean(s.cfg.SpoolDir) {
			if err := sp.removeDir(); err != nil {
				s.log.Warn("removing an emptied spool directory", "dir", dir, "error", err)
			}
			continue
		}
		if err := sp.close(); err != nil {
			s.log.Warn("closing an adopted spool", "dir", dir, "error", err)
		}
	}
}

// adoptable lists the directories matching Config.SpoolAdopt, without this
// sink's own spool.
func (s *Sink) adoptable() []string {
	seen := map[string]bool{}
	if s.spool != nil {
		seen[filepath.Clean(s.spool.dir)] = true
	}
	var dirs []string
	for _, pat := range s.cfg.SpoolAdopt {
		matches, err := filepath.Glob(pat)
		if err != nil {
			continue // Config.Validate rejects bad patterns
		}
		for _, m := range matches {
			m = filepath.Clean(m)
			if seen[m] {
				continue
			}
			seen[m] = true
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				dirs = append(dirs, m)
			}
		}
	}
	return dirs
}

// updateSpoolGauges reports this sink's spool plus the adopted one being
// drained.
func (s *Sink) updateSpoolGauges() {
	var b, n int64
	var oldest time.Time
	for _, sp := range []*spool{s.spool, s.adopted.Load()} {
		if sp == nil {
			continue
		}
		sb, sn, so := sp.stats()
		b, n = b+sb, n+sn
		if sn > 0 && (oldest.IsZero() || so.Before(oldest)) {
			oldest = so
		}
	}
	if s.spool == nil && len(s.cfg.SpoolAdopt) == 0 {
		return
	}
	s.m.spoolBytes.Set(float64(b))
	s.m.spoolDocs.Set(float64(n))
	if n == 0 {
		s.m.spoolAge.Set(0)
	} else {
		s.m.spoolAge.Set(s.now().Sub(oldest).Seconds())
	}
}

// drainOne sends the oldest segment of sp and deletes it once every document
// in it was acknowledged.
func (s *Sink) drainOne(sp *spool) error {
	seg, recs, err := sp.oldest()
	if err != nil || seg == nil {
		return err
	}
	if len(recs) == 0 {
		return sp.remove(seg)
	}
	if len(seg.settled) != len(recs) {
		seg.settled = make([]atomic.Bool, len(recs))
	}
	todo := 0
	for i := range seg.settled {
		if !seg.settled[i].Load() {
			todo++
		}
	}
	if todo == 0 {
		return sp.remove(seg)
	}
	s.log.Info("draining spool segment", "documents", todo, "bytes", seg.size)
	b := &drainBatch{done: make(chan struct{}), settled: seg.settled}
	b.remaining.Store(int64(todo))
	for i := range recs {
		if seg.settled[i].Load() {
			continue
		}
		d := &recs[i].doc
		epoch, err := s.acquire(s.runCtx)
		if err != nil {
			return s.unqueued(b, todo, err)
		}
		it := &item{doc: *d, index: s.indexFor(d), batch: b, rec: i, epoch: epoch}
		if err := s.add(it); err != nil {
			s.release(epoch)
			return s.unqueued(b, todo, fmt.Errorf("queueing spooled document: %w", err))
		}
		todo--
	}
	if err := s.bi.Flush(s.runCtx); err != nil && s.runCtx.Err() == nil {
		s.log.Warn("flushing drained documents", "error", err)
	}
	select {
	case <-b.done:
	case <-s.runCtx.Done():
		return s.runCtx.Err()
	}
	if b.failed.Load() {
		return nil // the cluster went away again; the segment stays
	}
	s.updateSpoolGauges()
	if err := sp.remove(seg); err != nil {
		return err
	}
	if sp != s.spool {
		s.m.adopted.Add(float64(len(recs)))
	}
	return nil
}

// unqueued marks the n documents of b that were never queued as failed for
// this drain (they stay in the segment) and returns err.
func (s *Sink) unqueued(b *drainBatch, n int, err error) error {
	for range n {
		b.finish(true)
	}
	return err
}
