// Package route assigns flows to tenants. A tenant owns networks (matched
// against a flow's source or destination address by longest-prefix match on
// a path-compressed trie), VLANs, agents and agent interfaces. A flow may
// belong to several tenants; each gets its own copy of the flow's document.
//
// The tenant table is a YAML file:
//
//	tenants:
//	  - id: acme
//	    networks: [10.1.0.0/16, "2001:db8:1::/48"]
//	    vlans: [100, 101]
//	    agents: [192.0.2.10]
//	    interfaces:
//	      - agent: 192.0.2.11
//	        ifindex: [3, 4]
//	    sources: [172.16.0.0/12]          # the flow's source only
//	    destinations: [198.51.100.0/24]   # the flow's destination only
//	    scoped:                           # networks counted only in the
//	      - agent: 192.0.2.1              # flows of one agent or VLAN
//	        networks: [10.0.0.0/8]
//	      - vlan: 200
//	        sources: [10.9.0.0/16]
//
// Tenant ids become parts of index names, so they are restricted to
// lowercase letters, digits, '-' and '_' (starting with a letter or digit).
package route

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Rule says which part of the tenant table matched a flow.
type Rule uint8

// Rules, in the order they are tried.
const (
	RuleSource Rule = iota
	RuleDestination
	RuleVLAN
	RuleAgent
	RuleInterface
	numRules
)

var ruleNames = [numRules]string{"source_network", "destination_network", "vlan", "agent", "interface"}

// String returns the rule's metric label value.
func (r Rule) String() string {
	if r < numRules {
		return ruleNames[r]
	}
	return "unknown"
}

// Flow holds the fields of a flow sample that routing looks at. Zero values
// mean "absent": an invalid Addr never matches, VLAN 0 is no VLAN.
type Flow struct {
	Src, Dst   netip.Addr
	Agent      netip.Addr
	VLAN       uint32
	InIf       uint32
	OutIf      uint32
	HasIfIndex bool
}

// Match is one tenant a flow belongs to and the first rule that put it there.
type Match struct {
	Tenant int // index into Table.Tenants
	Rule   Rule
	// Internal is set when the tenant owns both the source and the
	// destination network.
	Internal bool
}

// Tenant is one entry of the table.
type Tenant struct {
	ID string
}

type ifKey struct {
	agent netip.Addr
	index uint32
}

// Table is an immutable, compiled tenant table.
type Table struct {
	Tenants []Tenant
	nets    *trie
	agents  *trie
	sets    [][]int32 // tenant index sets referenced by trie values
	vlans   map[uint32][]int32
	ifaces  map[ifKey][]int32
	// oneSided are the networks matched against one side of a flow
	// only; scoped those counted only in one agent's or VLAN's flows.
	oneSided *sideTries
	scoped   map[scopeKey]*sideTries
}

// sideTries are the networks of one scope: either side, source only,
// destination only.
type sideTries struct {
	both, src, dst *trie
}

func newSideTries() *sideTries { return &sideTries{both: newTrie(), src: newTrie(), dst: newTrie()} }

func (s *sideTries) buildDir() {
	s.both.buildDir()
	s.src.buildDir()
	s.dst.buildDir()
}

// scopeKey names a scope: an agent, or a VLAN (agent invalid).
type scopeKey struct {
	agent netip.Addr
	vlan  uint32
}

// Empty returns a table without tenants.
func Empty() *Table {
	return &Table{nets: newTrie(), agents: newTrie()}
}

// Len is the number of tenants.
func (t *Table) Len() int { return len(t.Tenants) }

// Match appends the tenants f belongs to onto dst and returns it. Each tenant
// appears once, with the first rule that matched. It does not allocate when
// dst has room.
func (t *Table) Match(f *Flow, dst []Match) []Match {
	if len(t.sets) > 0 {
		if f.Src.IsValid() {
			if v := t.nets.lookupAddr(f.Src); v >= 0 {
				dst = addAll(dst, t.sets[v], RuleSource)
			}
		}
		if f.Dst.IsValid() {
			if v := t.nets.lookupAddr(f.Dst); v >= 0 {
				dst = addAll(dst, t.sets[v], RuleDestination)
			}
		}
		if f.Agent.IsValid() && len(t.agents.nodes) > 1 {
			if v := t.agents.lookupAddr(f.Agent); v >= 0 {
				dst = addAll(dst, t.sets[v], RuleAgent)
			}
		}
	}
	if f.VLAN != 0 && len(t.vlans) > 0 {
		dst = addAll(dst, t.vlans[f.VLAN], RuleVLAN)
	}
	if f.HasIfIndex && len(t.ifaces) > 0 {
		dst = addAll(dst, t.ifaces[ifKey{f.Agent, f.InIf}], RuleInterface)
		dst = addAll(dst, t.ifaces[ifKey{f.Agent, f.OutIf}], RuleInterface)
	}
	if t.oneSided != nil {
		dst = t.matchSides(t.oneSided, f, dst)
	}
	if len(t.scoped) > 0 {
		if s := t.scoped[scopeKey{agent: f.Agent}]; s != nil && f.Agent.IsValid() {
			dst = t.matchSides(s, f, dst)
		}
		if s := t.scoped[scopeKey{vlan: f.VLAN}]; s != nil && f.VLAN != 0 {
			dst = t.matchSides(s, f, dst)
		}
	}
	return dst
}

// matchSides adds the tenants of one scope's networks.
func (t *Table) matchSides(s *sideTries, f *Flow, dst []Match) []Match {
	look := func(tr *trie, a netip.Addr, r Rule) {
		if a.IsValid() && len(tr.nodes) > 1 {
			if v := tr.lookupAddr(a); v >= 0 {
				dst = addAll(dst, t.sets[v], r)
			}
		}
	}
	look(s.both, f.Src, RuleSource)
	look(s.both, f.Dst, RuleDestination)
	look(s.src, f.Src, RuleSource)
	look(s.dst, f.Dst, RuleDestination)
	return dst
}

func addAll(dst []Match, set []int32, r Rule) []Match {
next:
	for _, ti := range set {
		for j := range dst {
			if dst[j].Tenant == int(ti) {
				if r == RuleDestination && dst[j].Rule == RuleSource {
					dst[j].Internal = true
				}
				continue next
			}
		}
		dst = append(dst, Match{Tenant: int(ti), Rule: r})
	}
	return dst
}

// file is the YAML layout. yaml.Node fields keep positions for errors.
type file struct {
	Tenants []fileTenant `yaml:"tenants"`
}

type fileTenant struct {
	ID           yaml.Node       `yaml:"id"`
	Networks     []yaml.Node     `yaml:"networks"`
	Sources      []yaml.Node     `yaml:"sources"`
	Destinations []yaml.Node     `yaml:"destinations"`
	VLANs        []yaml.Node     `yaml:"vlans"`
	Agents       []yaml.Node     `yaml:"agents"`
	Interfaces   []fileInterface `yaml:"interfaces"`
	Scoped       []fileScope     `yaml:"scoped"`
}

type fileScope struct {
	Agent        yaml.Node   `yaml:"agent"`
	VLAN         yaml.Node   `yaml:"vlan"`
	Networks     []yaml.Node `yaml:"networks"`
	Sources      []yaml.Node `yaml:"sources"`
	Destinations []yaml.Node `yaml:"destinations"`
}

type fileInterface struct {
	Agent   yaml.Node   `yaml:"agent"`
	IfIndex []yaml.Node `yaml:"ifindex"`
}

var tenantID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidTenantID reports whether id may be used as a tenant id (it becomes
// part of index names and file names).
func ValidTenantID(id string) bool { return tenantID.MatchString(id) }

// LoadFile reads and compiles a tenant table. Every problem is reported at
// once, each as "file:line:col: message".
func LoadFile(path string) (*Table, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tenant table: %w", err)
	}
	return Parse(path, b)
}

// Parse compiles a tenant table from YAML; name prefixes error positions.
func Parse(name string, b []byte) (*Table, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return Empty(), nil
		}
		return nil, yamlError(name, err)
	}
	c := compiler{name: name, t: Empty(), netSets: map[netip.Prefix]int32{}, agentSets: map[netip.Prefix]int32{}}
	seen := map[string]bool{}
	for i := range f.Tenants {
		ft := &f.Tenants[i]
		id := ft.ID.Value
		switch {
		case ft.ID.Kind == 0:
			c.errorf(nil, "tenant %d: missing id", i+1)
			continue
		case ft.ID.Kind != yaml.ScalarNode || !ValidTenantID(id):
			c.errorf(&ft.ID, "invalid tenant id %q: use 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit", id)
			continue
		case seen[id]:
			c.errorf(&ft.ID, "duplicate tenant id %q", id)
			continue
		}
		seen[id] = true
		ti := int32(len(c.t.Tenants))
		c.t.Tenants = append(c.t.Tenants, Tenant{ID: id})
		for j := range ft.Networks {
			if p, ok := c.prefix(&ft.Networks[j]); ok {
				c.add(c.t.nets, c.netSets, p, ti)
			}
		}
		for j := range ft.Agents {
			if p, ok := c.prefix(&ft.Agents[j]); ok {
				c.add(c.t.agents, c.agentSets, p, ti)
			}
		}
		if len(ft.Sources)+len(ft.Destinations) > 0 {
			if c.t.oneSided == nil {
				c.t.oneSided = newSideTries()
			}
			c.sides(c.t.oneSided, nil, ft.Sources, ft.Destinations, ti)
		}
		for j := range ft.Scoped {
			c.scope(&ft.Scoped[j], ti)
		}
		for j := range ft.VLANs {
			v, ok := c.uint(&ft.VLANs[j], 1, 4094, "VLAN id")
			if ok {
				if c.t.vlans == nil {
					c.t.vlans = map[uint32][]int32{}
				}
				c.t.vlans[v] = appendOnce(c.t.vlans[v], ti)
			}
		}
		for j := range ft.Interfaces {
			fi := &ft.Interfaces[j]
			a, err := netip.ParseAddr(fi.Agent.Value)
			if fi.Agent.Kind != yaml.ScalarNode || err != nil {
				c.errorf(&fi.Agent, "interface agent %q is not an IP address", fi.Agent.Value)
				continue
			}
			a = a.Unmap()
			if len(fi.IfIndex) == 0 {
				c.errorf(&fi.Agent, "interface entry needs at least one ifindex")
			}
			for k := range fi.IfIndex {
				v, ok := c.uint(&fi.IfIndex[k], 0, 0x3FFFFFFF, "ifindex")
				if ok {
					if c.t.ifaces == nil {
						c.t.ifaces = map[ifKey][]int32{}
					}
					key := ifKey{a, v}
					c.t.ifaces[key] = appendOnce(c.t.ifaces[key], ti)
				}
			}
		}
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	c.t.nets.buildDir()
	c.t.agents.buildDir()
	if c.t.oneSided != nil {
		c.t.oneSided.buildDir()
	}
	for _, s := range c.t.scoped {
		s.buildDir()
	}
	return c.t, nil
}

var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// yamlError rewrites yaml.v3's "line N: msg" errors as "file:N: msg".
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, e := range te.Errors {
			if m := yamlLine.FindStringSubmatch(e); m != nil {
				errs = append(errs, fmt.Errorf("%s:%s: %s", name, m[1], m[2]))
			} else {
				errs = append(errs, fmt.Errorf("%s: %s", name, e))
			}
		}
		return errors.Join(errs...)
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: %s", name, m[1], m[2])
	}
	return fmt.Errorf("%s: %s", name, msg)
}

type compiler struct {
	name      string
	t         *Table
	errs      []error
	netSets   map[netip.Prefix]int32
	agentSets map[netip.Prefix]int32
	trieSets  map[*trie]map[netip.Prefix]int32 // of the one-sided and scoped tries
}

// sides adds a tenant's networks to one scope's tries.
func (c *compiler) sides(s *sideTries, both, src, dst []yaml.Node, ti int32) {
	for _, l := range []struct {
		t     *trie
		nodes []yaml.Node
	}{{s.both, both}, {s.src, src}, {s.dst, dst}} {
		for j := range l.nodes {
			if p, ok := c.prefix(&l.nodes[j]); ok {
				if c.trieSets == nil {
					c.trieSets = map[*trie]map[netip.Prefix]int32{}
				}
				if c.trieSets[l.t] == nil {
					c.trieSets[l.t] = map[netip.Prefix]int32{}
				}
				c.add(l.t, c.trieSets[l.t], p, ti)
			}
		}
	}
}

// scope adds a tenant's networks counted only in one agent's or VLAN's
// flows.
func (c *compiler) scope(fs *fileScope, ti int32) {
	var k scopeKey
	switch {
	case fs.Agent.Kind != 0 && fs.VLAN.Kind != 0, fs.Agent.Kind == 0 && fs.VLAN.Kind == 0:
		n := &fs.Agent
		if n.Kind == 0 {
			n = &fs.VLAN
		}
		c.errorf(n, "a scope names an agent or a VLAN, not both or neither")
		return
	case fs.Agent.Kind != 0:
		a, err := netip.ParseAddr(fs.Agent.Value)
		if fs.Agent.Kind != yaml.ScalarNode || err != nil {
			c.errorf(&fs.Agent, "scope agent %q is not an IP address", fs.Agent.Value)
			return
		}
		k.agent = a.Unmap()
	default:
		v, ok := c.uint(&fs.VLAN, 1, 4094, "VLAN id")
		if !ok {
			return
		}
		k.vlan = v
	}
	if c.t.scoped == nil {
		c.t.scoped = map[scopeKey]*sideTries{}
	}
	s := c.t.scoped[k]
	if s == nil {
		s = newSideTries()
		c.t.scoped[k] = s
	}
	c.sides(s, fs.Networks, fs.Sources, fs.Destinations, ti)
}

func (c *compiler) errorf(n *yaml.Node, format string, args ...any) {
	pos := c.name
	if n != nil && n.Line > 0 {
		pos = fmt.Sprintf("%s:%d:%d", c.name, n.Line, n.Column)
	}
	c.errs = append(c.errs, fmt.Errorf("%s: %s", pos, fmt.Sprintf(format, args...)))
}

// prefix parses a CIDR or a bare address (a host prefix).
func (c *compiler) prefix(n *yaml.Node) (netip.Prefix, bool) {
	if n.Kind != yaml.ScalarNode {
		c.errorf(n, "expected an address or CIDR")
		return netip.Prefix{}, false
	}
	s := strings.TrimSpace(n.Value)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			c.errorf(n, "invalid CIDR %q", n.Value)
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		c.errorf(n, "invalid address %q", n.Value)
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

func (c *compiler) uint(n *yaml.Node, lo, hi uint64, what string) (uint32, bool) {
	v, err := strconv.ParseUint(n.Value, 10, 32)
	if n.Kind != yaml.ScalarNode || err != nil || v < lo || v > hi {
		c.errorf(n, "invalid %s %q: want an integer in [%d, %d]", what, n.Value, lo, hi)
		return 0, false
	}
	return uint32(v), true
}

// add records tenant ti under prefix p, sharing one tenant set per prefix.
func (c *compiler) add(t *trie, sets map[netip.Prefix]int32, p netip.Prefix, ti int32) {
	if si, ok := sets[p]; ok {
		c.t.sets[si] = appendOnce(c.t.sets[si], ti)
		return
	}
	si := int32(len(c.t.sets))
	c.t.sets = append(c.t.sets, []int32{ti})
	sets[p] = si
	k, n := prefixKey(p)
	t.insert(k, n, si)
}

func appendOnce(s []int32, v int32) []int32 {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}
