// Package tenant is the model of elk's tenants: the end users who each get
// an Elasticsearch and a Kibana holding only the traffic they are entitled
// to see. A tenant is a name, the filters that say which flows are its own,
// and what its stack keeps and may use. Names reach job and service names,
// index names, URLs, file paths and KV keys, so Validate refuses anything
// that is not a short DNS label before it goes anywhere.
//
// The package imports no client SDK; Store keeps tenants, versioned, behind
// the kv contract (a directory on the local target, Consul KV on nomad).
package tenant

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxNameLen bounds a tenant's name.
const MaxNameLen = 40

// MaxVLAN is the largest VLAN id (802.1Q: 1–4094).
const MaxVLAN = 4094

// Limits on what one tenant may list, so a request cannot grow the state
// or the routing table without bound.
const (
	MaxFilters         = 64
	MaxEntriesPerField = 4096
)

// Store kinds: where a tenant's flows are kept.
const (
	StoreShared    = "shared"    // indices of its own in a shared Elasticsearch
	StoreDedicated = "dedicated" // an Elasticsearch (and Kibana) of its own
)

// Tenant is one end user of the platform.
type Tenant struct {
	Name    string   `json:"name"`
	Filters []Filter `json:"filters"`
	// RetentionDays is how many days of daily indices its store keeps
	// (0: the platform's default).
	RetentionDays int `json:"retention_days,omitempty"`
	// Store is StoreShared or StoreDedicated (empty: shared).
	Store     string    `json:"store,omitempty"`
	Resources Resources `json:"resources,omitzero"`
	// QuotaFlowsPerSecond, when set, bounds the estimated flows/s copied
	// to the tenant; beyond it its copies are sampled down and counted.
	QuotaFlowsPerSecond float64 `json:"quota_flows_per_second,omitempty"`
}

// Resources of a tenant's stack (0: the stack blueprint's defaults).
type Resources struct {
	CPUMHz   int    `json:"cpu_mhz,omitempty"`
	MemoryMB int    `json:"memory_mb,omitempty"`
	Heap     string `json:"heap,omitempty"` // Elasticsearch JVM heap, e.g. 512m
}

// Filter selects flows: a flow matches when it matches any of the
// filter's criteria and, if the filter has a Scope, comes from that agent
// or VLAN. Scopes tell apart two tenants with the same private range
// behind different agents or VLANs.
type Filter struct {
	// Networks match a flow's source or destination address.
	Networks []netip.Prefix `json:"networks,omitempty"`
	// Sources and Destinations match one side only.
	Sources      []netip.Prefix `json:"sources,omitempty"`
	Destinations []netip.Prefix `json:"destinations,omitempty"`
	VLANs        []int          `json:"vlans,omitempty"`
	// Agents match every flow an agent exports.
	Agents []netip.Addr `json:"agents,omitempty"`
	// Interfaces match flows in or out of an agent's interfaces.
	Interfaces []Interface `json:"interfaces,omitempty"`
	Scope      *Scope      `json:"scope,omitempty"`
}

// Interface is an agent's interfaces, by ifIndex.
type Interface struct {
	Agent   netip.Addr `json:"agent"`
	IfIndex []uint32   `json:"ifindex"`
}

// Scope restricts a filter to the flows of one agent or one VLAN.
type Scope struct {
	Agent netip.Addr `json:"agent,omitzero"`
	VLAN  int        `json:"vlan,omitempty"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// ValidName reports why name cannot be a tenant's name: it must be 1–40
// characters of a-z, 0-9 and '-', not starting or ending with '-'.
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("tenant name is empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("tenant name %q is %d characters, more than %d", truncate(name), len(name), MaxNameLen)
	case !nameRE.MatchString(name):
		return fmt.Errorf("tenant name %q: use a-z, 0-9 and '-', not starting or ending with '-'", truncate(name))
	}
	return nil
}

// Validate reports every problem of t at once, each naming where it is
// (e.g. `filters[1].networks[0]`).
func (t *Tenant) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := ValidName(t.Name); err != nil {
		errs = append(errs, err)
	}
	switch t.Store {
	case "", StoreShared, StoreDedicated:
	default:
		add("store %q: want %s or %s", truncate(t.Store), StoreShared, StoreDedicated)
	}
	if t.RetentionDays < 0 || t.RetentionDays > 3650 {
		add("retention %d days: want 1 to 3650", t.RetentionDays)
	}
	if t.QuotaFlowsPerSecond < 0 || t.QuotaFlowsPerSecond > 1e9 {
		add("quota %v flows/s: want 0 (none) to 1e9", t.QuotaFlowsPerSecond)
	}
	if t.Resources.CPUMHz < 0 || t.Resources.MemoryMB < 0 {
		add("resources: negative cpu or memory")
	}
	if h := t.Resources.Heap; h != "" && !heapRE.MatchString(h) {
		add("resources.heap %q: want a JVM size such as 512m or 1g", truncate(h))
	}
	if len(t.Filters) == 0 {
		add("no filters: a tenant needs at least one network, VLAN, agent or interface")
	}
	if len(t.Filters) > MaxFilters {
		add("%d filters, more than %d", len(t.Filters), MaxFilters)
	}
	for i := range t.Filters {
		errs = append(errs, t.Filters[i].validate(fmt.Sprintf("filters[%d]", i))...)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tenant %s: %w", displayName(t.Name), err)
	}
	return nil
}

var heapRE = regexp.MustCompile(`^[1-9][0-9]{0,5}[mMgG]$`)

func (f *Filter) validate(at string) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(at+"."+format, args...)) }
	if len(f.Networks)+len(f.Sources)+len(f.Destinations)+len(f.VLANs)+len(f.Agents)+len(f.Interfaces) == 0 {
		errs = append(errs, fmt.Errorf("%s: empty filter", at))
	}
	for name, ps := range map[string][]netip.Prefix{"networks": f.Networks, "sources": f.Sources, "destinations": f.Destinations} {
		if len(ps) > MaxEntriesPerField {
			add("%s: %d entries, more than %d", name, len(ps), MaxEntriesPerField)
			continue
		}
		for j, p := range ps {
			switch {
			case !p.IsValid():
				add("%s[%d]: not a network", name, j)
			case p.Masked() != p:
				add("%s[%d]: %s has host bits set (did you mean %s?)", name, j, p, p.Masked())
			}
			for k := range j {
				if ps[k].IsValid() && p.IsValid() && ps[k].Overlaps(p) {
					add("%s[%d]: %s overlaps %s[%d] %s", name, j, p, name, k, ps[k])
				}
			}
		}
	}
	if len(f.VLANs) > MaxEntriesPerField {
		add("vlans: %d entries, more than %d", len(f.VLANs), MaxEntriesPerField)
	}
	for j, v := range f.VLANs {
		if v < 1 || v > MaxVLAN {
			add("vlans[%d]: %d is not a VLAN id (1-%d)", j, v, MaxVLAN)
		}
	}
	for j, a := range f.Agents {
		if !a.IsValid() {
			add("agents[%d]: not an address", j)
		}
	}
	for j, in := range f.Interfaces {
		if !in.Agent.IsValid() {
			add("interfaces[%d].agent: not an address", j)
		}
		if len(in.IfIndex) == 0 || len(in.IfIndex) > MaxEntriesPerField {
			add("interfaces[%d].ifindex: want 1 to %d interfaces", j, MaxEntriesPerField)
		}
	}
	if s := f.Scope; s != nil {
		switch {
		case s.Agent.IsValid() == (s.VLAN != 0):
			add("scope: give an agent or a VLAN, not both or neither")
		case s.VLAN != 0 && (s.VLAN < 1 || s.VLAN > MaxVLAN):
			add("scope.vlan: %d is not a VLAN id (1-%d)", s.VLAN, MaxVLAN)
		}
	}
	return errs
}

// ParsePrefix parses a CIDR as an operator types it: "10.1.0.0/16",
// "2001:db8::/32", or an address alone (a /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a network (want e.g. 10.1.0.0/16)", truncate(s))
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a network (want e.g. 10.1.0.0/16)", truncate(s))
	}
	return p, nil
}

// ParseRetention parses a retention such as "7d", "2w" or "30" (days).
func ParseRetention(s string) (int, error) {
	mult := 1
	num := s
	switch {
	case strings.HasSuffix(s, "d"):
		num = s[:len(s)-1]
	case strings.HasSuffix(s, "w"):
		num, mult = s[:len(s)-1], 7
	}
	n, err := strconv.Atoi(num)
	if err != nil || n <= 0 || n > 3650/mult {
		return 0, fmt.Errorf("retention %q: want days, e.g. 7d, 2w or 30", truncate(s))
	}
	return n * mult, nil
}

// Record is a tenant as stored: its current definition, its version and
// who changed it when, with the previous versions.
type Record struct {
	Tenant  Tenant    `json:"tenant"`
	Version int       `json:"version"`
	Author  string    `json:"author,omitempty"`
	Changed time.Time `json:"changed"`
	// History holds up to MaxHistory previous versions, newest first.
	History []Version `json:"history,omitempty"`
}

// Version is a previous definition of a tenant.
type Version struct {
	Tenant  Tenant    `json:"tenant"`
	Version int       `json:"version"`
	Author  string    `json:"author,omitempty"`
	Changed time.Time `json:"changed"`
}

// MaxHistory bounds the versions kept per tenant.
const MaxHistory = 20

// next returns the record after r with t as its new definition.
func (r *Record) next(t Tenant, author string, now time.Time) Record {
	n := Record{Tenant: t, Version: 1, Author: author, Changed: now}
	if r != nil {
		n.Version = r.Version + 1
		n.History = append([]Version{{Tenant: r.Tenant, Version: r.Version, Author: r.Author, Changed: r.Changed}}, r.History...)
		n.History = slices.Clip(n.History[:min(len(n.History), MaxHistory)])
	}
	return n
}

func displayName(s string) string {
	if ValidName(s) == nil {
		return s
	}
	return strconv.Quote(truncate(s))
}

func truncate(s string) string {
	if len(s) > 70 {
		return s[:67] + "..."
	}
	return s
}
