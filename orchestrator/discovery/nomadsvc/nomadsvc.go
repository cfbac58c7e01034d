// Package nomadsvc resolves elk's services from Nomad's native service
// registry (services of provider "nomad"), for clusters without Consul.
// Nomad registers and deregisters the services of its jobs' allocations
// itself, so the registry is read-only: Register and Deregister fail.
package nomadsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/elk-project/elk/orchestrator/discovery"
)

// Config configures the registry.
type Config struct {
	// Client talks to Nomad; nil: a client from api.DefaultConfig() (the
	// NOMAD_* environment variables).
	Client *api.Client
	// PollInterval is the wait between reads in Watch; default 2s.
	PollInterval time.Duration
	Logger       *slog.Logger
}

// Registry reads Nomad's service registry.
type Registry struct {
	c   *api.Client
	cfg Config
	log *slog.Logger
}

var _ discovery.Registry = (*Registry)(nil)

// New returns a registry over Nomad's native services.
func New(cfg Config) (*Registry, error) {
	if cfg.Client == nil {
		c, err := api.NewClient(api.DefaultConfig())
		if err != nil {
			return nil, fmt.Errorf("nomad client: %w", err)
		}
		cfg.Client = c
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Registry{c: cfg.Client, cfg: cfg, log: cfg.Logger}, nil
}

// ErrReadOnly is returned by Register and Deregister: Nomad registers the
// services of its allocations from their job's service blocks.
var ErrReadOnly = errors.New("nomad service registry: services are registered by Nomad from job service blocks")

// Register fails with ErrReadOnly.
func (r *Registry) Register(context.Context, discovery.Service) error { return ErrReadOnly }

// Deregister fails with ErrReadOnly.
func (r *Registry) Deregister(context.Context, string) error { return ErrReadOnly }

// Resolve returns the registered instances of name. Nomad lists an
// allocation's service while the allocation runs; its checks decide the
// deployment's health, not the listing, so every listed instance counts as
// healthy.
func (r *Registry) Resolve(ctx context.Context, name string) ([]discovery.Service, error) {
	regs, _, err := r.c.Services().Get(name, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		var ue api.UnexpectedResponseError
		if errors.As(err, &ue) && ue.HasStatusCode() && ue.StatusCode() == 404 {
			return []discovery.Service{}, nil
		}
		return nil, fmt.Errorf("resolving %s in nomad: %w", name, err)
	}
	return convert(regs), nil
}

func convert(regs []*api.ServiceRegistration) []discovery.Service {
	out := make([]discovery.Service, 0, len(regs))
	for _, s := range regs {
		out = append(out, discovery.Service{
			ID: s.ID, Name: s.ServiceName, Address: s.Address, Port: s.Port,
			Tags: append([]string(nil), s.Tags...), Healthy: true,
		})
	}
	slices.SortFunc(out, func(a, b discovery.Service) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Watch polls name and calls fn with its instances now and after every
// change until ctx ends; read errors are logged and retried.
func (r *Registry) Watch(ctx context.Context, name string, fn func([]discovery.Service)) error {
	var last []discovery.Service
	first := true
	for {
		svcs, err := r.Resolve(ctx, name)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				r.log.Warn("watching nomad service", "service", name, "err", err)
			}
		case first || !equal(last, svcs):
			fn(svcs)
			last, first = svcs, false
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.cfg.PollInterval):
		}
	}
}

func equal(a, b []discovery.Service) bool {
	return slices.EqualFunc(a, b, func(x, y discovery.Service) bool {
		return x.ID == y.ID && x.Address == y.Address && x.Port == y.Port
	})
}

// ClientNodes returns how many client nodes of the cluster are ready.
func (r *Registry) ClientNodes(ctx context.Context) (int, error) {
	nodes, _, err := r.c.Nodes().List((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("listing nomad nodes: %w", err)
	}
	n := 0
	for _, nd := range nodes {
		if nd.Status == "ready" {
			n++
		}
	}
	return n, nil
}
