package elasticsearch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

func (s *Sink) isHealthy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.healthy
}

func (s *Sink) setHealthy(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok == s.healthy {
		return
	}
	s.healthy = ok
	if ok {
		close(s.healthyCh)
		s.log.Info("elasticsearch reachable", "url", s.redactedURLs())
	} else {
		s.healthyCh = make(chan struct{})
		s.log.Warn("elasticsearch unreachable; retrying", "url", s.redactedURLs(), "spool", s.spool != nil)
		s.signal()
	}
}

func (s *Sink) waitHealthy(ctx context.Context) error {
	s.mu.Lock()
	ch := s.healthyCh
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.runCtx.Done():
		return errors.New("sink closed")
	}
}

func (s *Sink) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// maintainLoop probes the cluster while it is unhealthy, drains the spool
// while it is healthy and keeps the spool gauges current.
func (s *Sink) maintainLoop() {
	defer s.wg.Done()
	attempt := 0
	var lastAdopt time.Time
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		s.updateSpoolGauges()
		if s.runCtx.Err() != nil {
			return
		}
		if !s.isHealthy() {
			ctx, cancel := context.WithTimeout(s.runCtx, 5*time.Second)
			err := s.probe(ctx)
			cancel()
			if err == nil {
				attempt = 0
				s.setHealthy(true)
				continue
			}
			attempt++
			s.sleep(backoff(attempt, 250*time.Millisecond, 5*time.Second))
			continue
		}
		if s.spool != nil && !s.spool.empty() {
			if err := s.drainOne(s.spool); err != nil {
				s.log.Error("draining spool", "error", err)
				s.sleep(time.Second)
			}
			continue
		}
		if len(s.cfg.SpoolAdopt) > 0 && time.Since(lastAdopt) >= adoptEvery {
			lastAdopt = time.Now()
			s.adoptSpools()
			continue
		}
		select {
		case <-s.runCtx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
	}
}

func (s *Sink) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.runCtx.Done():
	}
}

// probe checks the cluster and installs the index templates once.
func (s *Sink) probe(ctx context.Context) error {
	if !s.templatesOK.Load() && !s.cfg.SkipTemplates {
		if err := s.installTemplates(ctx); err != nil {
			return err
		}
		s.templatesOK.Store(true)
		return nil
	}
	res, err := esapi.InfoRequest{}.Do(ctx, s.client)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.IsError() {
		return fmt.Errorf("cluster info: %s", res.Status())
	}
	return nil
}
