package synth

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// tenantTable is the agent's own reading of the collector's tenant table
// (same YAML file): it decides which tenants each generated flow belongs
// to, for the per-tenant ground truth. It is a deliberately simple linear
// implementation of the collector's rules, so the two can check each other:
//
//   - source and destination addresses are matched against every tenant's
//     networks by longest prefix: the tenants owning the longest matching
//     prefix get the flow;
//   - the agent address likewise against every tenant's agents;
//   - the flow's VLAN against the tenants' VLANs;
//   - (agent, input ifIndex) and (agent, output ifIndex) against the
//     tenants' interfaces.
//
// A flow belongs to the union of the tenants found by each rule.
type tenantTable struct {
	tenants []tenantSpec
}

type tenantSpec struct {
	ID         string          `yaml:"id"`
	Networks   []string        `yaml:"networks"`
	VLANs      []uint32        `yaml:"vlans"`
	Agents     []string        `yaml:"agents"`
	Interfaces []tenantIfEntry `yaml:"interfaces"`

	nets   []netip.Prefix
	agents []netip.Prefix
	ifs    map[ifRef]bool
}

type tenantIfEntry struct {
	Agent   string   `yaml:"agent"`
	IfIndex []uint32 `yaml:"ifindex"`
}

type ifRef struct {
	agent netip.Addr
	index uint32
}

// flowKey holds what tenant matching looks at.
type flowKey struct {
	agent         netip.Addr
	input, output uint32
	vlan          uint16
	src, dst      netip.Addr
}

// loadTenants reads a tenant table file.
func loadTenants(path string) (*tenantTable, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tenants: %w", err)
	}
	return parseTenants(path, b)
}

func parseTenants(name string, b []byte) (*tenantTable, error) {
	var f struct {
		Tenants []tenantSpec `yaml:"tenants"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse tenants %s: %w", name, err)
	}
	var errs []error
	for i := range f.Tenants {
		t := &f.Tenants[i]
		if t.ID == "" {
			errs = append(errs, fmt.Errorf("%s: tenant %d has no id", name, i+1))
		}
		for _, s := range t.Networks {
			p, err := parsePrefix(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: tenant %q: %w", name, t.ID, err))
				continue
			}
			t.nets = append(t.nets, p)
		}
		for _, s := range t.Agents {
			p, err := parsePrefix(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: tenant %q: %w", name, t.ID, err))
				continue
			}
			t.agents = append(t.agents, p)
		}
		for _, e := range t.Interfaces {
			a, err := netip.ParseAddr(strings.TrimSpace(e.Agent))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: tenant %q: interface agent %q: %w", name, t.ID, e.Agent, err))
				continue
			}
			if t.ifs == nil {
				t.ifs = map[ifRef]bool{}
			}
			for _, ix := range e.IfIndex {
				t.ifs[ifRef{a.Unmap(), ix}] = true
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &tenantTable{tenants: f.Tenants}, nil
}

// parsePrefix accepts a CIDR or a bare address (a host prefix).
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// prefixes returns every tenant network, sorted, for the traffic generator
// to draw addresses from.
func (t *tenantTable) prefixes() []netip.Prefix {
	var ps []netip.Prefix
	for _, ts := range t.tenants {
		ps = append(ps, ts.nets...)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
	return ps
}

// vlans returns every tenant VLAN, sorted.
func (t *tenantTable) vlans() []uint16 {
	var vs []uint16
	for _, ts := range t.tenants {
		for _, v := range ts.VLANs {
			vs = append(vs, uint16(v))
		}
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	return vs
}

// longest returns the length of the longest prefix in any tenant's list
// (chosen by pick) that contains a, or -1.
func (t *tenantTable) longest(a netip.Addr, pick func(*tenantSpec) []netip.Prefix) int {
	best := -1
	for i := range t.tenants {
		for _, p := range pick(&t.tenants[i]) {
			if p.Bits() > best && p.Contains(a) {
				best = p.Bits()
			}
		}
	}
	return best
}

// ownsAt reports whether ts has a prefix of exactly bits bits containing a.
func ownsAt(ps []netip.Prefix, a netip.Addr, bits int) bool {
	for _, p := range ps {
		if p.Bits() == bits && p.Contains(a) {
			return true
		}
	}
	return false
}

func nets(ts *tenantSpec) []netip.Prefix   { return ts.nets }
func agents(ts *tenantSpec) []netip.Prefix { return ts.agents }

// match calls add once for each tenant k belongs to and reports whether
// there was any.
func (t *tenantTable) match(k *flowKey, add func(id string)) bool {
	src, dst, agent := -1, -1, -1
	if k.src.IsValid() {
		src = t.longest(k.src, nets)
	}
	if k.dst.IsValid() {
		dst = t.longest(k.dst, nets)
	}
	if k.agent.IsValid() {
		agent = t.longest(k.agent, agents)
	}
	any := false
	for i := range t.tenants {
		ts := &t.tenants[i]
		in := src >= 0 && ownsAt(ts.nets, k.src, src) ||
			dst >= 0 && ownsAt(ts.nets, k.dst, dst) ||
			agent >= 0 && ownsAt(ts.agents, k.agent, agent) ||
			k.vlan != 0 && containsVLAN(ts.VLANs, k.vlan) ||
			ts.ifs[ifRef{k.agent, k.input}] || ts.ifs[ifRef{k.agent, k.output}]
		if in {
			add(ts.ID)
			any = true
		}
	}
	return any
}

func containsVLAN(vs []uint32, v uint16) bool {
	for _, x := range vs {
		if x == uint32(v) {
			return true
		}
	}
	return false
}
