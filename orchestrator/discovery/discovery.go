// Package discovery defines how elk's components find each other: every
// instance registers itself, and clients resolve an entity name to healthy
// addresses and follow changes without restarting. It is a contract only
// (no implementation, no client SDK); the state store's contract is
// package kv.
package discovery

import (
	"context"
	"strconv"
	"strings"
)

// Service is one registered instance.
type Service struct {
	ID      string            `json:"id"`      // unique instance id
	Name    string            `json:"name"`    // ServiceName(app, entity)
	Address string            `json:"address"` // host
	Port    int               `json:"port"`
	Tags    []string          `json:"tags,omitempty"` // e.g. "app=demo", "entity=es", "tenant=acme"
	Meta    map[string]string `json:"meta,omitempty"`
	Healthy bool              `json:"healthy"`
	// Check, if set, is probed by the registry: "http://host:port/path" or
	// "tcp://host:port".
	Check string `json:"check,omitempty"`
}

// ServiceName is the name an entity's instances register under, and the
// name of everything else that is the entity's alone (its Nomad job, its
// data directories): the application name with each '-' written as "--",
// a '-', then the entity name. "web"+"api-db" is "web-api-db" and
// "web-api"+"db" is "web--api-db"; for an application without a '-' the
// name is the plain "<app>-<entity>".
//
// Different app/entity pairs never share a name as long as entity names do
// not start with '-' (blueprint names start with a letter): every run of
// '-' in the escaped application name has an even length, and the
// separator, followed by the entity's first character, ends a run of odd
// length; so the separator closes the first odd run of the name and
// ParseServiceName recovers both parts. Every part of elk that needs an
// entity's name calls this function instead of joining the names itself.
func ServiceName(app, entity string) string {
	return strings.ReplaceAll(app, "-", "--") + "-" + entity
}

// ParseServiceName is the inverse of ServiceName: it splits name at the
// last '-' of its first run of an odd number of '-' and halves the runs
// before it. ok is false when name has no such run (it is then no
// ServiceName). For every app and every entity not starting with '-',
// ParseServiceName(ServiceName(app, entity)) is (app, entity, true), and
// for every name it accepts, ServiceName(app, entity) is name again.
func ParseServiceName(name string) (app, entity string, ok bool) {
	for i := 0; i < len(name); {
		if name[i] != '-' {
			i++
			continue
		}
		j := i
		for j < len(name) && name[j] == '-' {
			j++
		}
		if (j-i)%2 == 1 {
			return strings.ReplaceAll(name[:j-1], "--", "-"), name[j:], true
		}
		i = j
	}
	return "", "", false
}

// InstanceID is the registration ID of instance index (0, 1, ...) of an
// entity: its ServiceName, a '-', the index. The index has no '-', so the
// last '-' separates it from a ServiceName, and IDs of different entities
// or instances differ.
func InstanceID(app, entity string, index int) string {
	return ServiceName(app, entity) + "-" + strconv.Itoa(index)
}

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
