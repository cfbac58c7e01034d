// Package blueprints defines elk's application blueprints: a YAML document
// naming an application, the target it runs on and its entities (collectors,
// Kafka, Elasticsearch, ...), each with a type, a count, configuration,
// resources, a health check, dependencies and scaling policies. Load and
// Parse read and validate a blueprint; every problem is reported at once,
// each with file:line:col, before anything is deployed.
package blueprints

import (
	"time"

	"gopkg.in/yaml.v3"

	"github.com/elk-project/elk/policies"
)

// Targets an application may run on.
const (
	TargetLocal = "local"
	TargetNomad = "nomad"
)

// MaxCount is the largest count an entity may ask for.
const MaxCount = 1000

// Application is a parsed, validated blueprint.
type Application struct {
	Name        string
	Description string
	// Target is "local" (the default) or "nomad".
	Target string
	// Tenants lists the tenants entities may belong to.
	Tenants  []string
	Entities []Entity
	// File is the name the blueprint was parsed from.
	File string
	Pos  Pos
}

// Entity is one component of an application, run as Count instances.
type Entity struct {
	ID   string
	Type string
	// Count is the initial desired number of instances (default 1).
	Count int
	// Tenant, if set, is one of the application's tenants.
	Tenant string
	// Config holds the type-specific settings, checked against the type's
	// schema (see Types); read them with Config's typed getters.
	Config    Config
	Resources Resources
	Health    *Health
	DependsOn []string
	// Policies are the raw `policies:` items, kept as written; Scaling
	// holds them parsed, with their targets set to this entity.
	Policies []yaml.Node
	Scaling  []*policies.Policy
	// Command and Image run a generic entity (Image may also override the
	// image of a third-party type on Nomad); Env adds environment
	// variables; Ports are the named ports of a generic entity.
	Command []string
	Image   string
	Env     map[string]string
	Ports   []Port

	Pos Pos
}

// Resources are requests for schedulers (ignored by local processes).
type Resources struct {
	CPU      int // MHz
	MemoryMB int
}

// Health overrides how an entity's instances are checked.
type Health struct {
	HTTP     string // path of an HTTP GET check
	TCP      bool   // TCP connect check
	Port     string // port name the check uses
	Interval time.Duration
	Timeout  time.Duration
}

// Port is a named port of a generic entity.
type Port struct {
	Name   string
	Static int
	Proto  string // tcp (default) or udp
}

// Config is an entity's type-specific configuration.
type Config map[string]*yaml.Node

// String returns key as a string.
func (c Config) String(key, def string) string {
	if n, ok := c[key]; ok && n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return def
}

// Int returns key as an int.
func (c Config) Int(key string, def int) int {
	var v int
	if n, ok := c[key]; ok && n.Decode(&v) == nil {
		return v
	}
	return def
}

// Bool returns key as a bool.
func (c Config) Bool(key string, def bool) bool {
	var v bool
	if n, ok := c[key]; ok && n.Decode(&v) == nil {
		return v
	}
	return def
}

// Duration returns key as a duration.
func (c Config) Duration(key string, def time.Duration) time.Duration {
	if n, ok := c[key]; ok && n.Kind == yaml.ScalarNode {
		if d, err := time.ParseDuration(n.Value); err == nil {
			return d
		}
	}
	return def
}

// Strings returns key as a list of strings; a single string is a list of
// one.
func (c Config) Strings(key string) []string {
	n, ok := c[key]
	if !ok {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var v []string
	if n.Decode(&v) == nil {
		return v
	}
	return nil
}

// StringMap returns key as a map of strings.
func (c Config) StringMap(key string) map[string]string {
	var v map[string]string
	if n, ok := c[key]; ok && n.Decode(&v) == nil {
		return v
	}
	return nil
}

// Has reports whether key is set.
func (c Config) Has(key string) bool { _, ok := c[key]; return ok }

// Entity returns the entity with id, or nil.
func (a *Application) Entity(id string) *Entity {
	for i := range a.Entities {
		if a.Entities[i].ID == id {
			return &a.Entities[i]
		}
	}
	return nil
}

// TopoOrder returns the entities in start order: every entity comes after
// everything it depends on; entities that do not depend on each other keep
// their blueprint order. A validated application has no cycles.
func (a *Application) TopoOrder() []*Entity {
	var out []*Entity
	for _, level := range a.Levels() {
		out = append(out, level...)
	}
	return out
}

// Levels groups the entities into start waves: the entities of a level
// depend only on entities of earlier levels, so a level may start in
// parallel once the previous ones are healthy. Entities keep their
// blueprint order within a level.
func (a *Application) Levels() [][]*Entity {
	index := make(map[string]int, len(a.Entities))
	for i, e := range a.Entities {
		index[e.ID] = i
	}
	depth := make([]int, len(a.Entities)) // 0: not computed yet
	const visiting = -1
	var level func(i int) int
	level = func(i int) int {
		switch depth[i] {
		case visiting: // a cycle: cannot happen after validation
			return 0
		case 0:
		default:
			return depth[i]
		}
		depth[i] = visiting
		d := 1
		for _, dep := range a.Entities[i].DependsOn {
			if j, ok := index[dep]; ok && j != i {
				d = max(d, level(j)+1)
			}
		}
		depth[i] = d
		return d
	}
	var levels [][]*Entity
	for i := range a.Entities {
		d := level(i)
		for len(levels) < d {
			levels = append(levels, nil)
		}
		levels[d-1] = append(levels[d-1], &a.Entities[i])
	}
	return levels
}

// Dependents returns the ids of the entities that depend on id directly.
func (a *Application) Dependents(id string) []string {
	var out []string
	for _, e := range a.Entities {
		for _, d := range e.DependsOn {
			if d == id {
				out = append(out, e.ID)
			}
		}
	}
	return out
}
