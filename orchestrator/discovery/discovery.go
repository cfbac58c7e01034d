// Package discovery defines how elk's components find each other: every
// instance registers itself, and clients resolve an entity name to healthy
// addresses and follow changes without restarting. It is a contract only
// (no implementation, no client SDK); the state store's contract is
// package kv.
package discovery

import (
	"context"
)

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
