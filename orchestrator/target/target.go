// Package target defines where the orchestrator runs entities: a target turns
// an entity's run specification into running instances (Nomad allocations or
// local child processes), changes their count, and reports what runs.
package target

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFound is returned for an entity the target does not run.
var ErrNotFound = errors.New("not found")

// Spec is everything a target needs to run one entity of an application.
type Spec struct {
	App    string // application name
	Entity string // entity id, unique within the application
	Type   string // blueprint type, e.g. "sflow-collector"
	Count  int    // desired instances

	// Command runs the entity as a process: Command[0] is the executable.
	// Arguments may contain ${port.NAME}, ${instance}, ${app}, ${entity}
	// placeholders that the target expands per instance.
	Command []string
	Env     map[string]string
	// Secrets are environment variables whose values are credentials:
	// instances get them like Env, and they are never written down in the
	// clear (sealed in state files and KV, redacted where shown).
	Secrets map[string]string `json:",omitempty"`
	// Image is the container image used by targets that run containers.
	Image string
	// Ports are named ports each instance needs. A port with a fixed
	// Static number is shared by all instances (SO_REUSEPORT), otherwise
	// each instance gets its own.
	Ports []Port
	// Resources are requests for schedulers; local processes ignore them.
	CPUMHz   int
	MemoryMB int
	Health   Health
	// Tags and Meta are propagated to discovery registrations and jobs.
	Tags []string
	Meta map[string]string
}

// Hash identifies what the spec runs, regardless of its count: two specs
// with the same hash differ at most in Count, so a target can tell a scale
// from a change that needs new instances.
func (s Spec) Hash() string {
	s.Count = 0
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Port is a named port of an entity.
type Port struct {
	Name   string
	Static int    // 0: allocated per instance
	Proto  string // "tcp" or "udp"
}

// Health says how a target decides an instance is healthy.
type Health struct {
	HTTPPath string // GET on the named port returns 2xx
	TCP      bool   // the named port accepts connections
	Port     string // port name for the check
	Interval time.Duration
	Timeout  time.Duration
}

// Instance is one running (or failing) copy of an entity.
type Instance struct {
	ID       string            `json:"id"`
	Index    int               `json:"index"`
	State    string            `json:"state"` // pending, running, failed, stopped
	Healthy  bool              `json:"healthy"`
	Addr     string            `json:"addr,omitempty"` // host of the instance
	Ports    map[string]int    `json:"ports,omitempty"`
	Restarts int               `json:"restarts"`
	Message  string            `json:"message,omitempty"`
	Meta     map[string]string `json:"meta,omitempty"`
}

// Status is what a target reports for one entity.
type Status struct {
	Desired   int        `json:"desired"`
	Running   int        `json:"running"`
	Healthy   int        `json:"healthy"`
	Deploying bool       `json:"deploying"` // a rollout is in progress
	Instances []Instance `json:"instances"`
}

// ScaleRequest carries the reason for a count change so that targets which
// record it (Nomad's scaling events) can show it.
type ScaleRequest struct {
	Count   int
	Message string
	Meta    map[string]string
}

// Target runs entities.
//
// Apply creates or updates the entity to match spec and returns without
// waiting for health; Wait blocks until the entity's instances are all
// healthy, the deadline passes or the rollout fails (an error that says why).
// Scale changes only the count. Remove stops and deletes the entity; removing
// an unknown entity is not an error. Status returns ErrNotFound for an entity
// the target does not run. List returns the entities of app that the target
// runs, so the orchestrator can detect drift and adopt after a restart.
// All methods are safe for concurrent use.
type Target interface {
	Name() string
	Apply(ctx context.Context, spec Spec) error
	Wait(ctx context.Context, app, entity string) error
	Scale(ctx context.Context, app, entity string, req ScaleRequest) error
	Status(ctx context.Context, app, entity string) (Status, error)
	List(ctx context.Context, app string) ([]string, error)
	Remove(ctx context.Context, app, entity string) error
}
