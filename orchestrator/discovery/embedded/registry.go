// Package embedded is elk's service discovery for the local target: an
// in-process registry with health checks, served over the orchestrator's
// HTTP API (with a client so child processes resolve through ELK_REGISTRY),
// and a directory-backed KV store for the orchestrator's state.
package embedded

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/elk-project/elk/orchestrator/discovery"
)

// Config tunes the registry's health checks.
type Config struct {
	CheckInterval time.Duration // default 1s
	CheckTimeout  time.Duration // default 2s
	// MaxServices bounds the registrations held (default
	// DefaultMaxServices); a new one beyond it is refused with ErrFull.
	MaxServices int
}

// DefaultMaxServices is the default bound on registrations.
const DefaultMaxServices = 10000

// ErrFull is returned for a new registration when MaxServices are held.
var ErrFull = errors.New("registry full")

type entry struct {
	svc      discovery.Service
	checking bool
}

// Registry is an in-memory discovery.Registry that probes each service's
// Check itself. A service registered without a check is healthy.
type Registry struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client

	mu       sync.Mutex
	services map[string]*entry
	index    uint64
	changed  chan struct{} // closed and replaced on every change

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

var _ discovery.Registry = (*Registry)(nil)

// New starts a registry; Close stops its health checks.
func New(cfg Config, log *slog.Logger) *Registry {
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = time.Second
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 2 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Registry{
		cfg:      cfg,
		log:      log,
		client:   &http.Client{Timeout: cfg.CheckTimeout},
		services: map[string]*entry{},
		index:    1,
		changed:  make(chan struct{}),
		stop:     make(chan struct{}),
	}
	r.wg.Go(r.checkLoop)
	return r
}

// Close stops the health checks. Pending watches end with their contexts.
func (r *Registry) Close() {
	r.once.Do(func() { close(r.stop) })
	r.wg.Wait()
}

// bump records a change; r.mu must be held.
func (r *Registry) bump() {
	r.index++
	close(r.changed)
	r.changed = make(chan struct{})
}

// Register adds or replaces a registration.
func (r *Registry) Register(ctx context.Context, s discovery.Service) error {
	if s.ID == "" || s.Name == "" {
		return errors.New("register service: id and name are required")
	}
	if s.Check != "" {
		if err := validCheck(s.Check, s.Address); err != nil {
			return fmt.Errorf("register service %q: %w", s.ID, err)
		}
	}
	s.Tags = slices.Clone(s.Tags)
	s.Meta = maps.Clone(s.Meta)
	r.mu.Lock()
	old, ok := r.services[s.ID]
	if max := cmp.Or(r.cfg.MaxServices, DefaultMaxServices); !ok && len(r.services) >= max {
		r.mu.Unlock()
		return fmt.Errorf("register service %q: %w: %d registrations held", s.ID, ErrFull, max)
	}
	switch {
	case s.Check == "":
		s.Healthy = true
	case ok && old.svc.Check == s.Check:
		s.Healthy = old.svc.Healthy
	default:
		s.Healthy = false
	}
	r.services[s.ID] = &entry{svc: s}
	r.bump()
	r.mu.Unlock()
	if s.Check != "" {
		r.wg.Go(func() { r.probe(s.ID, s.Check) })
	}
	return nil
}

// Deregister removes a registration; an unknown id is not an error.
func (r *Registry) Deregister(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.services[id]; ok {
		delete(r.services, id)
		r.bump()
	}
	return nil
}

// Resolve returns the healthy instances of name, sorted by id.
func (r *Registry) Resolve(ctx context.Context, name string) ([]discovery.Service, error) {
	ss, _, _ := r.snapshot(name, false)
	return ss, nil
}

// All returns every registration, healthy or not, sorted by id.
func (r *Registry) All() []discovery.Service {
	ss, _, _ := r.snapshot("", true)
	return ss
}

// snapshot returns the instances of name (every service when name is
// empty), the current index and a channel closed at the next change.
func (r *Registry) snapshot(name string, all bool) ([]discovery.Service, uint64, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []discovery.Service{}
	for _, e := range r.services {
		if (name == "" || e.svc.Name == name) && (all || e.svc.Healthy) {
			s := e.svc
			s.Tags = slices.Clone(s.Tags)
			s.Meta = maps.Clone(s.Meta)
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b discovery.Service) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, r.index, r.changed
}

// Watch calls fn with the healthy instances of name now and after every
// change until ctx ends.
func (r *Registry) Watch(ctx context.Context, name string, fn func([]discovery.Service)) error {
	var last []discovery.Service
	first := true
	for {
		ss, _, ch := r.snapshot(name, false)
		if first || !sameServices(last, ss) {
			fn(ss)
			last, first = ss, false
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// wait blocks until the registry's index passes index, wait elapses or ctx
// ends, then returns the instances of name and the current index.
func (r *Registry) wait(ctx context.Context, name string, index uint64, wait time.Duration, all bool) ([]discovery.Service, uint64) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		ss, idx, ch := r.snapshot(name, all)
		if idx > index {
			return ss, idx
		}
		select {
		case <-ch:
		case <-timer.C:
			return ss, idx
		case <-ctx.Done():
			return ss, idx
		}
	}
}

func (r *Registry) checkLoop() {
	t := time.NewTicker(r.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.mu.Lock()
		type job struct{ id, check string }
		var jobs []job
		for id, e := range r.services {
			if e.svc.Check != "" && !e.checking {
				e.checking = true
				jobs = append(jobs, job{id, e.svc.Check})
			}
		}
		r.mu.Unlock()
		for _, j := range jobs {
			r.wg.Go(func() { r.probe(j.id, j.check) })
		}
	}
}

// probe runs one check and records its outcome.
func (r *Registry) probe(id, check string) {
	ok := r.runCheck(check)
	r.mu.Lock()
	defer r.mu.Unlock()
	e, found := r.services[id]
	if !found || e.svc.Check != check {
		return
	}
	e.checking = false
	if e.svc.Healthy != ok {
		e.svc.Healthy = ok
		r.log.Debug("service health changed", "id", id, "healthy", ok)
		r.bump()
	}
}

func (r *Registry) runCheck(check string) bool {
	u, err := url.Parse(check)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CheckTimeout)
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	switch u.Scheme {
	case "tcp":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return false
		}
		c.Close()
		return true
	default:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, check, nil)
		if err != nil {
			return false
		}
		resp, err := r.client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 300
	}
}

// validCheck accepts an http(s) or tcp check of the registering instance's
// own address only: the registry probes what it is given, and must not be
// a way to make the server open connections to arbitrary hosts.
func validCheck(check, address string) error {
	u, err := url.Parse(check)
	if err != nil {
		return fmt.Errorf("check %q: %w", check, err)
	}
	switch u.Scheme {
	case "http", "https", "tcp":
	default:
		return fmt.Errorf("check %q: scheme must be http, https or tcp", check)
	}
	if u.Host == "" {
		return fmt.Errorf("check %q: no host", check)
	}
	if u.Hostname() != address {
		return fmt.Errorf("check %q: host must be the service's own address %q", check, address)
	}
	return nil
}

func sameServices(a, b []discovery.Service) bool {
	return slices.EqualFunc(a, b, func(x, y discovery.Service) bool {
		return x.ID == y.ID && x.Address == y.Address && x.Port == y.Port && x.Healthy == y.Healthy &&
			slices.Equal(x.Tags, y.Tags) && maps.Equal(x.Meta, y.Meta)
	})
}
