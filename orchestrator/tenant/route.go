package tenant

import (
	"fmt"
	"strconv"
	"strings"
)

// RouteTable renders the tenants as the collector's tenant table (the
// YAML its --tenants flag reads and reloads). Filters the collector cannot
// route yet (scoped filters, source-only and destination-only networks)
// are left out and named in skipped.
func RouteTable(recs []Record) (table []byte, skipped []string) {
	var b strings.Builder
	b.WriteString("# Written by elk server from its tenant records; edits are overwritten.\ntenants:\n")
	if len(recs) == 0 {
		return []byte("# Written by elk server from its tenant records; edits are overwritten.\ntenants: []\n"), nil
	}
	for _, r := range recs {
		t := r.Tenant
		if ValidName(t.Name) != nil {
			skipped = append(skipped, fmt.Sprintf("tenant %q: invalid name", truncate(t.Name)))
			continue
		}
		var nets, vlans, agents []string
		var ifaces []string
		for i, f := range t.Filters {
			if f.Scope != nil || len(f.Sources)+len(f.Destinations) > 0 {
				skipped = append(skipped, fmt.Sprintf("tenant %s filter %d: scoped and one-sided filters are not routed yet", t.Name, i+1))
				continue
			}
			for _, p := range f.Networks {
				nets = append(nets, strconv.Quote(p.String()))
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
			key  string
			vals []string
		}{{"networks", nets}, {"vlans", vlans}, {"agents", agents}, {"interfaces", ifaces}} {
			if len(l.vals) > 0 {
				fmt.Fprintf(&b, "    %s: [%s]\n", l.key, strings.Join(l.vals, ", "))
			}
		}
	}
	return []byte(b.String()), skipped
}
