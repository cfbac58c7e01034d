package elasticsearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/elk-project/elk/collector/sink"
)

// Write implements sink.Sink. It copies every document, so the caller may
// reuse docs as soon as it returns.
func (s *Sink) Write(ctx context.Context, docs []sink.Doc) error {
	if s.closed.Load() {
		return errors.New("elasticsearch sink: write after close")
	}
	var errs []error
	for i := 0; i < len(docs); i++ {
		d := &docs[i]
		if s.spool != nil && (!s.isHealthy() || !s.spool.empty()) {
			// Keep order: while anything is spooled, new documents queue
			// behind it.
			j := i + 1
			for j < len(docs) && j-i < 512 {
				j++
			}
			n, err := s.spool.append(docs[i:j])
			s.m.spooled.Add(float64(n))
			if err != nil {
				for k := i + n; k < len(docs); k++ {
					s.count(docs[k].Tenant, OutcomeFailed)
				}
				return fmt.Errorf("elasticsearch sink: spooling: %w", err)
			}
			i = j - 1
			s.signal()
			continue
		}
		if s.spool == nil && !s.isHealthy() {
			if err := s.waitHealthy(ctx); err != nil {
				for k := i; k < len(docs); k++ {
					s.count(docs[k].Tenant, OutcomeFailed)
				}
				return fmt.Errorf("elasticsearch sink: waiting for the cluster: %w", err)
			}
		}
		epoch, err := s.acquire(ctx)
		if err != nil {
			for k := i; k < len(docs); k++ {
				s.count(docs[k].Tenant, OutcomeFailed)
			}
			return fmt.Errorf("elasticsearch sink: %w", err)
		}
		it := &item{doc: copyDoc(d), index: s.indexFor(d), epoch: epoch}
		if err := s.add(it); err != nil {
			s.release(epoch)
			s.count(d.Tenant, OutcomeFailed)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func copyDoc(d *sink.Doc) sink.Doc {
	buf := make([]byte, len(d.Key)+len(d.Body))
	copy(buf, d.Key)
	copy(buf[len(d.Key):], d.Body)
	return sink.Doc{
		ID: d.ID, Dataset: d.Dataset, Tenant: d.Tenant, Time: d.Time,
		Key:  buf[:len(d.Key):len(d.Key)],
		Body: buf[len(d.Key):],
	}
}

// acquire takes an in-flight slot, blocking while all are taken, and returns
// the epoch the document is counted in.
func (s *Sink) acquire(ctx context.Context) (uint64, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-s.runCtx.Done():
		return 0, errors.New("sink closed")
	}
	s.m.backlog.Set(float64(s.inflight.Add(1)))
	s.epochMu.Lock()
	e := s.epoch
	s.pending[e]++
	s.epochMu.Unlock()
	return e, nil
}

func (s *Sink) release(epoch uint64) {
	s.epochMu.Lock()
	if s.pending[epoch]--; s.pending[epoch] <= 0 {
		delete(s.pending, epoch)
	}
	s.epochMu.Unlock()
	<-s.slots
	s.m.backlog.Set(float64(s.inflight.Add(-1)))
}

// nextEpoch starts a new epoch and returns the previous one.
func (s *Sink) nextEpoch() uint64 {
	s.epochMu.Lock()
	defer s.epochMu.Unlock()
	e := s.epoch
	s.epoch++
	return e
}

// pendingUpTo counts the unsettled documents of epochs <= e.
func (s *Sink) pendingUpTo(e uint64) int64 {
	s.epochMu.Lock()
	defer s.epochMu.Unlock()
	var n int64
	for k, v := range s.pending {
		if k <= e {
			n += v
		}
	}
	return n
}

func (s *Sink) count(tenant, outcome string) {
	s.m.docs.Counter(tenant, outcome).Inc()
}

// add hands one item to the bulk indexer.
func (s *Sink) add(it *item) error {
	return s.bi.Add(s.runCtx, esutil.BulkIndexerItem{
		Index:      it.index,
		Action:     "create",
		DocumentID: it.doc.ID,
		Body:       bytes.NewReader(it.doc.Body),
		OnSuccess: func(_ context.Context, _ esutil.BulkIndexerItem, _ esutil.BulkIndexerResponseItem) {
			s.done(it, OutcomeIndexed)
		},
		OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
			s.onFailure(it, res, err)
		},
	})
}

func (s *Sink) done(it *item, outcome string) {
	s.count(it.doc.Tenant, outcome)
	if it.batch != nil {
		it.batch.settled[it.rec].Store(true)
		it.batch.finish(false)
	}
	s.release(it.epoch)
}
