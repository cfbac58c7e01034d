package elasticsearch

import (
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/elk-project/elk/collector/sink"
)

var statusRE = regexp.MustCompile(`\[(\d{3})`)

// onFailure runs on a bulk worker: it classifies the failure and settles,
// retries or spools the item without blocking the worker.
func (s *Sink) onFailure(it *item, res esutil.BulkIndexerResponseItem, err error) {
	if err == nil {
		switch {
		case res.Status == http.StatusConflict:
			s.done(it, OutcomeDuplicate)
		case res.Status == http.StatusTooManyRequests || res.Status >= 500 || res.Status == 0:
			s.retryLater(it)
		default:
			s.rejectedLog.Warn(s.log, "document rejected", "index", it.index, "id", it.doc.ID, "status", res.Status,
				"error_type", res.Error.Type, "reason", res.Error.Reason)
			s.done(it, OutcomeFailed)
		}
		return
	}
	// The whole bulk request failed.
	status := 0
	if m := statusRE.FindStringSubmatch(err.Error()); m != nil {
		status, _ = strconv.Atoi(m[1])
	}
	if status >= 400 && status < 500 && status != http.StatusTooManyRequests {
		s.bulkRejectedLog.Warn(s.log, "bulk request rejected", "status", status, "error", err)
		s.done(it, OutcomeFailed)
		return
	}
	s.setHealthy(false)
	switch {
	case it.batch != nil:
		// Still in its spool segment: the segment is drained again later.
		it.batch.finish(true)
		s.release(it.epoch)
	case s.spool != nil:
		n, serr := s.spool.append([]sink.Doc{it.doc})
		if n == 1 {
			s.m.spooled.Inc()
		} else {
			s.spoolRefusedLog.Error(s.log, "document lost: spool refused it", "error", serr)
			s.count(it.doc.Tenant, OutcomeFailed)
		}
		s.release(it.epoch)
	default:
		s.retryLater(it)
	}
}

func (s *Sink) retryLater(it *item) {
	it.attempt++
	s.m.retries.Inc()
	time.AfterFunc(backoff(it.attempt, 200*time.Millisecond, 5*time.Second), func() {
		s.retryQ <- it // never blocks: capacity is MaxInFlight and it holds a slot
	})
}

func (s *Sink) retryLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.runCtx.Done():
			return
		case it := <-s.retryQ:
			if err := s.waitHealthy(s.runCtx); err != nil {
				s.abandon(it)
				continue
			}
			if err := s.add(it); err != nil {
				s.abandon(it)
			}
		}
	}
}

// abandon gives up on an item when the sink closes. A document drained
// from the spool is still in its segment (drained by the next sink); any
// other goes to the spool when there is one, and only otherwise counts as
// failed.
func (s *Sink) abandon(it *item) {
	switch {
	case it.batch != nil:
		it.batch.finish(true)
	case s.spool != nil:
		if n, err := s.spool.append([]sink.Doc{it.doc}); n == 1 {
			s.m.spooled.Inc()
		} else {
			s.spoolRefusedLog.Error(s.log, "document lost: spool refused it", "error", err)
			s.count(it.doc.Tenant, OutcomeFailed)
		}
	default:
		s.count(it.doc.Tenant, OutcomeFailed)
	}
	s.release(it.epoch)
}
