// Package consul implements elk's service discovery and state store on
// Consul: services registered with the local agent with health checks and
// app/entity/tenant tags, resolved through the health endpoint, followed
// with blocking queries; KV for the orchestrator's state; and a session
// lock for leader election. The client honors CONSUL_HTTP_ADDR,
// CONSUL_HTTP_TOKEN and the CONSUL_CACERT/CONSUL_CLIENT_* TLS settings.
package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/kv"
)

// Config configures the Consul registry and KV.
type Config struct {
	// Client talks to Consul; nil: a client from api.DefaultConfig()
	// (the CONSUL_HTTP_* environment variables).
	Client *api.Client
	// KVPrefix is prepended to every KV key (e.g. "elk/"); List returns
	// keys without it.
	KVPrefix string
	// Health checks created from Service.Check: interval and timeout
	// (defaults 2s and 1s), and how long a critical service stays
	// registered (0: until deregistered; Consul's minimum is 1m).
	CheckInterval           time.Duration
	CheckTimeout            time.Duration
	DeregisterCriticalAfter time.Duration
	// WatchWait is the longest a blocking query waits; default 1m.
	WatchWait time.Duration
	// Watch retry backoff after errors, doubling from BackoffMin to
	// BackoffMax; defaults 250ms and 30s.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// After is the clock used for backoff; default time.After.
	After  func(time.Duration) <-chan time.Time
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if c.Client == nil {
		cl, err := api.NewClient(api.DefaultConfig())
		if err != nil {
			return fmt.Errorf("consul client: %w", err)
		}
		c.Client = cl
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = 2 * time.Second
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = time.Second
	}
	if c.WatchWait == 0 {
		c.WatchWait = time.Minute
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = 250 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 30 * time.Second
	}
	if c.After == nil {
		c.After = time.After
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Registry is a discovery.Registry on Consul.
type Registry struct {
	cfg Config
	c   *api.Client
}

var _ discovery.Registry = (*Registry)(nil)

// NewRegistry returns a Consul registry.
func NewRegistry(cfg Config) (*Registry, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Registry{cfg: cfg, c: cfg.Client}, nil
}

func qo(ctx context.Context) *api.QueryOptions { return (&api.QueryOptions{}).WithContext(ctx) }
func wo(ctx context.Context) *api.WriteOptions { return (&api.WriteOptions{}).WithContext(ctx) }

func statusCode(err error) int {
	var se api.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	var sp *api.StatusError
	if errors.As(err, &sp) {
		return sp.Code
	}
	// Older paths report "Unexpected response code: 404 (...)".
	if m := codeRe.FindStringSubmatch(err.Error()); m != nil {
		var n int
		fmt.Sscan(m[1], &n)
		return n
	}
	return 0
}

var codeRe = regexp.MustCompile(`Unexpected response code: (\d{3})`)

var metaKeyRe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// metaKey makes a key acceptable to Consul (letters, digits, '_', '-').
func metaKey(k string) string {
	k = metaKeyRe.ReplaceAllString(k, "_")
	if len(k) > 64 {
		k = k[:64]
	}
	return k
}

// check turns a discovery check URL into a Consul agent check.
func (r *Registry) check(s discovery.Service) (*api.AgentServiceCheck, error) {
	if s.Check == "" {
		return nil, nil
	}
	u, err := url.Parse(s.Check)
	if err != nil {
		return nil, fmt.Errorf("check %q: %w", s.Check, err)
	}
	c := &api.AgentServiceCheck{
		Name:     "elk " + u.Scheme + " check",
		Interval: r.cfg.CheckInterval.String(),
		Timeout:  r.cfg.CheckTimeout.String(),
	}
	if r.cfg.DeregisterCriticalAfter > 0 {
		c.DeregisterCriticalServiceAfter = r.cfg.DeregisterCriticalAfter.String()
	}
	switch u.Scheme {
	case "http", "https":
		c.HTTP = s.Check
	case "tcp":
		if _, _, err := net.SplitHostPort(u.Host); err != nil {
			return nil, fmt.Errorf("check %q: %w", s.Check, err)
		}
		c.TCP = u.Host
	default:
		return nil, fmt.Errorf("check %q: want http://, https:// or tcp://", s.Check)
	}
	return c, nil
}

// Register registers (or replaces) a service instance with the local agent.
func (r *Registry) Register(ctx context.Context, s discovery.Service) error {
	if s.ID == "" || s.Name == "" {
		return errors.New("register service: id and name are required")
	}
	reg := &api.AgentServiceRegistration{
		ID:      s.ID,
		Name:    s.Name,
		Address: s.Address,
		Port:    s.Port,
		Tags:    slices.Clone(s.Tags),
	}
	if len(s.Meta) > 0 {
		reg.Meta = map[string]string{}
		for k, v := range s.Meta {
			reg.Meta[metaKey(k)] = v
		}
	}
	c, err := r.check(s)
	if err != nil {
		return fmt.Errorf("register service %q: %w", s.ID, err)
	}
	reg.Check = c
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := r.c.Agent().ServiceRegisterOpts(reg, opts); err != nil {
		return fmt.Errorf("register service %q: %w", s.ID, err)
	}
	return nil
}

// Deregister removes a service instance; an unknown id is not an error.
func (r *Registry) Deregister(ctx context.Context, id string) error {
	if err := r.c.Agent().ServiceDeregisterOpts(id, qo(ctx)); err != nil {
		if statusCode(err) == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("deregister service %q: %w", id, err)
	}
	return nil
}

// Resolve returns the passing instances of a service.
func (r *Registry) Resolve(ctx context.Context, name string) ([]discovery.Service, error) {
	ss, _, err := r.resolve(ctx, name, 0)
	return ss, err
}

func (r *Registry) resolve(ctx context.Context, name string, index uint64) ([]discovery.Service, uint64, error) {
	q := qo(ctx)
	if index > 0 {
		q.WaitIndex = index
		q.WaitTime = r.cfg.WatchWait
	}
	entries, meta, err := r.c.Health().Service(name, "", true, q)
	if err != nil {
		return nil, 0, fmt.Errorf("resolve service %q: %w", name, err)
	}
	out := make([]discovery.Service, 0, len(entries))
	for _, e := range entries {
		if e.Service == nil || e.Checks.AggregatedStatus() != api.HealthPassing {
			continue
		}
		s := discovery.Service{
			ID:      e.Service.ID,
			Name:    e.Service.Service,
			Address: e.Service.Address,
			Port:    e.Service.Port,
			Tags:    slices.Clone(e.Service.Tags),
			Healthy: true,
		}
		if s.Address == "" && e.Node != nil {
			s.Address = e.Node.Address
		}
		if len(e.Service.Meta) > 0 {
			s.Meta = map[string]string{}
			for k, v := range e.Service.Meta {
				s.Meta[k] = v
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	var idx uint64
	if meta != nil {
		idx = meta.LastIndex
	}
	return out, idx, nil
}

// Watch calls fn with the passing instances of name now and after every
// change, using blocking queries. Errors (a Consul outage) are retried with
// backoff; it returns only when ctx ends.
func (r *Registry) Watch(ctx context.Context, name string, fn func([]discovery.Service)) error {
	var (
		index   uint64
		last    []discovery.Service
		called  bool
		backoff = r.cfg.BackoffMin
	)
	for {
		ss, idx, err := r.resolve(ctx, name, index)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.cfg.Logger.Warn("watch service: retrying", "service", name, "in", backoff, "error", err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-r.cfg.After(backoff):
			}
			backoff = min(2*backoff, r.cfg.BackoffMax)
			index = 0 // the agent may have restarted with a new index
			continue
		}
		backoff = r.cfg.BackoffMin
		if !called || !sameServices(last, ss) {
			fn(ss)
			called, last = true, ss
		}
		switch {
		case idx < index, idx == 0:
			// The index went backwards (a restarted agent) or is
			// unusable: start over, but do not spin.
			index = 0
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-r.cfg.After(r.cfg.BackoffMin):
			}
		default:
			index = idx
		}
	}
}

func sameServices(a, b []discovery.Service) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Name != y.Name || x.Address != y.Address || x.Port != y.Port ||
			!slices.Equal(x.Tags, y.Tags) || !mapsEqual(x.Meta, y.Meta) {
			return false
		}
	}
	return true
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// KV is a kv.KV on Consul's key/value store.
type KV struct {
	kv     *api.KV
	prefix string
}

var _ kv.KV = (*KV)(nil)

// NewKV returns a Consul KV store.
func NewKV(cfg Config) (*KV, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &KV{kv: cfg.Client.KV(), prefix: cfg.KVPrefix}, nil
}

// Get returns the value and modify index of key, or kv.ErrNotFound.
func (k *KV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	p, _, err := k.kv.Get(k.prefix+key, qo(ctx))
	if err != nil {
		return nil, 0, fmt.Errorf("get key %q: %w", key, err)
	}
	if p == nil {
		return nil, 0, fmt.Errorf("get key %q: %w", key, kv.ErrNotFound)
	}
	return p.Value, p.ModifyIndex, nil
}

// Put writes key.
func (k *KV) Put(ctx context.Context, key string, value []byte) error {
	if _, err := k.kv.Put(&api.KVPair{Key: k.prefix + key, Value: value}, wo(ctx)); err != nil {
		return fmt.Errorf("put key %q: %w", key, err)
	}
	return nil
}

// CAS writes key only if its modify index is still index (0: only if the
// key does not exist) and reports whether it wrote.
func (k *KV) CAS(ctx context.Context, key string, value []byte, index uint64) (bool, error) {
	ok, _, err := k.kv.CAS(&api.KVPair{Key: k.prefix + key, Value: value, ModifyIndex: index}, wo(ctx))
	if err != nil {
		return false, fmt.Errorf("cas key %q: %w", key, err)
	}
	return ok, nil
}

// Delete removes key; a missing key is not an error.
func (k *KV) Delete(ctx context.Context, key string) error {
	if _, err := k.kv.Delete(k.prefix+key, wo(ctx)); err != nil {
		return fmt.Errorf("delete key %q: %w", key, err)
	}
	return nil
}

// List returns every key under prefix with its value.
func (k *KV) List(ctx context.Context, prefix string) (map[string][]byte, error) {
	pairs, _, err := k.kv.List(k.prefix+prefix, qo(ctx))
	if err != nil {
		return nil, fmt.Errorf("list keys %q: %w", prefix, err)
	}
	out := make(map[string][]byte, len(pairs))
	for _, p := range pairs {
		if strings.HasSuffix(p.Key, "/") && p.Value == nil {
			continue // a folder
		}
		out[strings.TrimPrefix(p.Key, k.prefix)] = p.Value
	}
	return out, nil
}
