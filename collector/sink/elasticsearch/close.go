package elasticsearch

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Flush implements sink.Sink: it returns when every document accepted so far
// is acknowledged (or counted as failed), including spooled ones.
func (s *Sink) Flush(ctx context.Context) error { return s.wait(ctx, false) }

// wait is Flush; with spoolSettles, while the cluster is unreachable a
// document in the spool counts as settled too (it waits on disk for the
// next sink of this output), so a sink closing during an outage returns as
// soon as nothing is in flight.
func (s *Sink) wait(ctx context.Context, spoolSettles bool) error {
	epoch := s.nextEpoch()
	if s.pendingUpTo(epoch) > 0 && s.isHealthy() {
		// Send what is buffered now rather than at the next interval.
		if err := s.bi.Flush(ctx); err != nil && ctx.Err() != nil {
			return fmt.Errorf("elasticsearch sink: flush: %w", ctx.Err())
		}
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.pendingUpTo(epoch) == 0 && (s.spool == nil || s.spool.empty() || spoolSettles && !s.isHealthy()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("elasticsearch sink: flush: %d documents in flight, %d spooled: %w",
				s.inflight.Load(), s.spooledDocs(), ctx.Err())
		case <-tick.C:
		}
	}
}

func (s *Sink) spooledDocs() int64 {
	if s.spool == nil {
		return 0
	}
	_, n, _ := s.spool.stats()
	return n
}

// Close implements sink.Sink. It waits for the documents in flight and, while
// the cluster is reachable, for the spool to drain (bounded by ctx).
// Documents still spooled stay on disk: the next sink using the directory,
// or a running sink adopting it (Config.SpoolAdopt), delivers them.
func (s *Sink) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.spool != nil {
		// A cluster that does not answer (a black hole rather than a
		// refused connection) would hold the documents in flight past the
		// kill grace of the target stopping this process: after CloseGrace
		// the requests are abandoned and their documents spooled. The
		// cluster may have indexed some of them; resending those later
		// yields counted duplicates, never double counts.
		t := time.AfterFunc(s.cfg.CloseGrace, func() {
			if n := s.inflight.Load(); n > 0 {
				s.log.Warn("elasticsearch not answering at close; spooling the documents in flight", "documents", n)
				s.abortRequests()
			}
		})
		defer t.Stop()
	}
	ferr := s.wait(ctx, true)
	if n := s.spooledDocs(); n > 0 {
		s.log.Info("closing with documents spooled; they are delivered by the next sink of this output",
			"documents", n, "dir", s.spool.dir, "cluster_reachable", s.isHealthy())
	}
	s.cancel()
	s.wg.Wait()
	defer s.abortRequests()
	// Anything still in flight is lost (ctx ended with the cluster away).
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	berr := s.bi.Close(cctx)
	for {
		select {
		case it := <-s.retryQ:
			s.abandon(it)
			continue
		default:
		}
		break
	}
	var serr error
	if s.spool != nil {
		serr = s.spool.close()
		s.updateSpoolGauges()
	}
	if berr != nil && ctx.Err() == nil {
		berr = fmt.Errorf("closing bulk indexer: %w", berr)
	} else {
		berr = nil
	}
	return errors.Join(ferr, berr, serr)
}
