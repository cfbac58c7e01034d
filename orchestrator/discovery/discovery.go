// Package discovery defines how elk's components find each other: every
// instance registers itself, and clients resolve an entity name to healthy
// addresses and follow changes without restarting.
package discovery

import (
	"context"
	"errors"
)

// ErrNotFound is returned for a key or service that does not exist.
var ErrNotFound = errors.New("not found")

// Service is one registered instance.
type Service struct {
	ID      string            `json:"id"`      // unique instance id
	Name    string            `json:"name"`    // service name: "<app>-<entity>"
	Address string            `json:"address"` // host
	Port    int               `json:"port"`
	Tags    []string          `json:"tags,omitempty"` // e.g. "app=demo", "entity=es", "tenant=acme"
	Meta    map[string]string `json:"meta,omitempty"`
	Healthy bool              `json:"healthy"`
	// Check, if set, is probed by the registry: "http://host:port/path" or
	// "tcp://host:port".
	Check string `json:"check,omitempty"`
}

// ServiceName is the name an entity's instances register under.
func ServiceName(app, entity string) string { return app + "-" + entity }

// Registry registers and resolves services.
//
// Resolve returns the healthy instances of a service (an empty slice, not an
// error, when none are). Watch calls fn with the healthy instances now and
// after every change until ctx ends; it retries through registry outages and
// returns only ctx's error.
type Registry interface {
	Register(ctx context.Context, s Service) error
	Deregister(ctx context.Context, id string) error
	Resolve(ctx context.Context, name string) ([]Service, error)
	Watch(ctx context.Context, name string, fn func([]Service)) error
}

// KV is the state store used by the orchestrator (Consul KV on the nomad
// target, a directory on the local target). Get returns ErrNotFound for a
// missing key. CAS writes only if the key's modify index is still index (0:
// the key must not exist) and reports whether it wrote.
type KV interface {
	Get(ctx context.Context, key string) (value []byte, index uint64, err error)
	Put(ctx context.Context, key string, value []byte) error
	CAS(ctx context.Context, key string, value []byte, index uint64) (bool, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) (map[string][]byte, error)
}
