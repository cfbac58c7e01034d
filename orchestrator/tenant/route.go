package tenant

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// RouteTable renders the tenants as the collector's tenant table (the
// YAML its --tenants flag reads and reloads). Records whose name is not
// valid are left out and named in skipped.
func RouteTable(recs []Record) (table []byte, skipped []string) {
	const head = "# Written by elk server from its tenant records; edits are overwritten.\n"
	if len(recs) == 0 {
		return []byte(head + "tenants: []\n"), nil
	}
	var b strings.Builder
	b.WriteString(head + "tenants:\n")
	quoted := func(ps []netip.Prefix) string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = strconv.Quote(p.String())
		}
		return strings.Join(out, ", ")
	}
	for _, r := range recs {
		t := r.Tenant
		if ValidName(t.Name) != nil {
			skipped = append(skipped, fmt.Sprintf("tenant %q: invalid name", truncate(t.Name)))
			continue
		}
		var nets, srcs, dsts []netip.Prefix
		var vlans, agents, ifaces, scoped []string
		for _, f := range t.Filters {
			if sc := f.Scope; sc != nil {
				key := fmt.Sprintf("vlan: %d", sc.VLAN)
				if sc.Agent.IsValid() {
					key = fmt.Sprintf("agent: %q", sc.Agent.String())
				}
				scoped = append(scoped, fmt.Sprintf("{%s, networks: [%s], sources: [%s], destinations: [%s]}",
					key, quoted(f.Networks), quoted(f.Sources), quoted(f.Destinations)))
			} else {
				nets = append(nets, f.Networks...)
				srcs = append(srcs, f.Sources...)
				dsts = append(dsts, f.Destinations...)
			}
			for _, v := range f.VLANs {
				vlans = append(vlans, strconv.Itoa(v))
			}
			for _, a := range f.Agents {
				agents = append(agents, strconv.Quote(a.String()))
			}
			for _, in := range f.Interfaces {
				idx := make([]string, len(in.IfIndex))
				for k, n := range in.IfIndex {
					idx[k] = strconv.FormatUint(uint64(n), 10)
				}
				ifaces = append(ifaces, fmt.Sprintf("{agent: %q, ifindex: [%s]}", in.Agent.String(), strings.Join(idx, ", ")))
			}
		}
		fmt.Fprintf(&b, "  - id: %s\n", t.Name)
		for _, l := range []struct {
			key, vals string
		}{{"networks", quoted(nets)}, {"sources", quoted(srcs)}, {"destinations", quoted(dsts)},
			{"vlans", strings.Join(vlans, ", ")}, {"agents", strings.Join(agents, ", ")},
			{"interfaces", strings.Join(ifaces, ", ")}, {"scoped", strings.Join(scoped, ", ")}} {
			if l.vals != "" {
				fmt.Fprintf(&b, "    %s: [%s]\n", l.key, l.vals)
			}
		}
	}
	return []byte(b.String()), skipped
}
