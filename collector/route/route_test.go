package route

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

func TestTrieMatchesLinearScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var prefixes []netip.Prefix
	tr := newTrie()
	for i := 0; i < 3000; i++ {
		var p netip.Prefix
		if i%3 == 0 {
			var b [16]byte
			b[0], b[1], b[2], b[3] = 0x20, 0x01, byte(rng.IntN(2)), byte(rng.IntN(4))
			for j := 4; j < 16; j++ {
				b[j] = byte(rng.IntN(256))
			}
			p = netip.PrefixFrom(netip.AddrFrom16(b), 12+rng.IntN(117)).Masked()
		} else {
			a := netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			p = netip.PrefixFrom(a, rng.IntN(33)).Masked()
		}
		prefixes = append(prefixes, p)
		k, n := prefixKey(p)
		tr.insert(k, n, int32(i))
	}
	tr.buildDir()
	// Later inserts of the same prefix overwrite: the reference keeps the last.
	want := func(a netip.Addr) int32 {
		best, bestLen := int32(-1), -1
		for i, p := range prefixes {
			if p.Contains(a) && p.Bits() >= bestLen {
				best, bestLen = int32(i), p.Bits()
			}
		}
		return best
	}
	for i := 0; i < 5000; i++ {
		var a netip.Addr
		if i%2 == 0 {
			p := prefixes[rng.IntN(len(prefixes))]
			a = p.Addr()
			if a.Is4() {
				b := a.As4()
				b[3] ^= byte(rng.IntN(4))
				a = netip.AddrFrom4(b)
			} else {
				b := a.As16()
				b[15] ^= byte(rng.IntN(4))
				a = netip.AddrFrom16(b)
			}
		} else if i%4 == 1 {
			a = netip.AddrFrom4([4]byte{10, byte(rng.IntN(4)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		} else {
			var b [16]byte
			b[0], b[1], b[2], b[3] = 0x20, 0x01, byte(rng.IntN(2)), byte(rng.IntN(4))
			for j := 4; j < 16; j++ {
				b[j] = byte(rng.IntN(256))
			}
			a = netip.AddrFrom16(b)
		}
		if got, w := tr.lookupAddr(a), want(a); got != w {
			t.Fatalf("lookup(%s) = %d (%v), want %d (%v)", a, got, at(prefixes, got), w, at(prefixes, w))
		}
	}
}

func at(ps []netip.Prefix, i int32) any {
	if i < 0 {
		return "none"
	}
	return ps[i]
}

const goodTable = `tenants:
  - id: acme
    networks: [10.1.0.0/16, "2001:db8:1::/48"]
  - id: acme-lab
    networks: [10.1.2.0/24]
  - id: globex
    networks: [10.1.0.0/16]
    vlans: [100]
  - id: initech
    agents: [192.0.2.10]
    interfaces:
      - agent: 192.0.2.11
        ifindex: [3]
`

func names(tb *Table, ms []Match) string {
	var s []string
	for _, m := range ms {
		n := tb.Tenants[m.Tenant].ID + "/" + m.Rule.String()
		if m.Internal {
			n += "+internal"
		}
		s = append(s, n)
	}
	return strings.Join(s, ",")
}

func TestTableMatch(t *testing.T) {
	tb, err := Parse("t.yaml", []byte(goodTable))
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	tests := []struct {
		name string
		flow Flow
		want string
	}{
		{"source prefix shared by two tenants", Flow{Src: a("10.1.9.9"), Dst: a("8.8.8.8")}, "acme/source_network,globex/source_network"},
		{"longest prefix wins", Flow{Src: a("8.8.8.8"), Dst: a("10.1.2.3")}, "acme-lab/destination_network"},
		{"both ends, one copy per tenant", Flow{Src: a("10.1.2.3"), Dst: a("10.1.3.3")}, "acme-lab/source_network,acme/destination_network,globex/destination_network"},
		{"internal", Flow{Src: a("10.1.2.3"), Dst: a("10.1.2.4")}, "acme-lab/source_network+internal"},
		{"ipv6", Flow{Src: a("2001:db8:1::5"), Dst: a("2001:db8:2::5")}, "acme/source_network"},
		{"vlan", Flow{Src: a("8.8.8.8"), VLAN: 100}, "globex/vlan"},
		{"agent", Flow{Src: a("8.8.8.8"), Agent: a("192.0.2.10")}, "initech/agent"},
		{"interface", Flow{Agent: a("192.0.2.11"), InIf: 7, OutIf: 3, HasIfIndex: true}, "initech/interface"},
		{"interface on another agent", Flow{Agent: a("192.0.2.12"), InIf: 3, HasIfIndex: true}, ""},
		{"nothing", Flow{Src: a("8.8.8.8"), Dst: a("9.9.9.9")}, ""},
		{"invalid addresses", Flow{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(tb, tb.Match(&tc.flow, nil)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"path traversal id", "tenants:\n  - id: ../x\n", []string{"t.yaml:2:9: invalid tenant id \"../x\""}},
		{"uppercase id", "tenants:\n  - id: Acme\n", []string{"t.yaml:2:9: invalid tenant id"}},
		{"space in id", "tenants:\n  - id: \"a b\"\n", []string{"t.yaml:2:9: invalid tenant id"}},
		{"missing id", "tenants:\n  - networks: [10.0.0.0/8]\n", []string{"missing id"}},
		{"duplicate", "tenants:\n  - id: a\n  - id: a\n", []string{"t.yaml:3:9: duplicate tenant id"}},
		{"bad cidr and vlan together", "tenants:\n  - id: a\n    networks: [10.0.0.0/33]\n    vlans: [5000]\n",
			[]string{"t.yaml:3:16: invalid CIDR", "t.yaml:4:13: invalid VLAN id"}},
		{"unknown key", "tenants:\n  - id: a\n    netwrks: [10.0.0.0/8]\n", []string{"t.yaml:3: field netwrks not found"}},
		{"syntax", "tenants: [\n", []string{"t.yaml:"}},
		{"bad interface agent", "tenants:\n  - id: a\n    interfaces:\n      - agent: nope\n        ifindex: [1]\n", []string{"t.yaml:4:16: interface agent"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted, want errors %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestEmptyTable(t *testing.T) {
	tb, err := Parse("t.yaml", nil)
	if err != nil || tb.Len() != 0 {
		t.Fatalf("empty file: %v, %d tenants", err, tb.Len())
	}
}

func TestReloadKeepsOldTableOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tenants.yaml")
	write := func(s string) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("tenants:\n  - id: one\n    networks: [10.0.0.0/8]\n")
	reg := prometheus.NewRegistry()
	r, err := New(Config{Path: path, Debounce: 20 * time.Millisecond}, Deps{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	flow := &Flow{Src: netip.MustParseAddr("10.1.1.1")}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			s := r.Current()
			got := names(s.Table, s.Match(flow, nil))
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("routing = %q, want %q", got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("one/source_network")
	time.Sleep(50 * time.Millisecond) // let the watcher settle
	write("tenants:\n  - id: two\n    networks: [10.0.0.0/8]\n")
	waitFor("two/source_network")

	write("tenants:\n  - id: Bad Name\n    networks: [10.0.0.0/8]\n")
	deadline := time.Now().Add(5 * time.Second)
	for value(r.reloads.WithLabelValues("failure")) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("bad table was not tried")
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitFor("two/source_network") // the old table keeps working
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), "tenants.yaml:2:9: invalid tenant id") {
		t.Errorf("reload error = %v, want a file:line:col error", err)
	}
	write("tenants:\n  - id: three\n    networks: [10.0.0.0/8]\n")
	waitFor("three/source_network")
}

func TestMetricsAndLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	path := filepath.Join(t.TempDir(), "t.yaml")
	if err := os.WriteFile(path, []byte(goodTable), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Path: path}, Deps{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	s := r.Current()
	f := &Flow{Src: netip.MustParseAddr("10.1.2.3")}
	for _, m := range s.Route(f, nil) {
		s.Account(m, 100, 150000)
	}
	s.Route(&Flow{Src: netip.MustParseAddr("8.8.8.8")}, nil)
	if got := value(r.bytes.WithLabelValues("acme-lab")); got != 150000 {
		t.Errorf("acme-lab bytes = %v, want 150000", got)
	}
	if got := value(r.packets.WithLabelValues("acme")); got != 0 {
		t.Errorf("acme packets = %v, want 0 (longest prefix is acme-lab)", got)
	}
	if got := value(r.unmatched); got != 1 {
		t.Errorf("unmatched = %v, want 1", got)
	}
	problems, err := promlint.NewWithMetricFamilies(mustGather(t, reg)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func mustGather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// benchTable builds n tenants with one random IPv4 prefix each (/16–/28).
func benchTable(b testing.TB, n int) (*Table, []Flow) {
	rng := rand.New(rand.NewPCG(7, 9))
	var sb strings.Builder
	sb.WriteString("tenants:\n")
	var nets []netip.Prefix
	for i := 0; i < n; i++ {
		a := netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		p := netip.PrefixFrom(a, 16+rng.IntN(13)).Masked()
		nets = append(nets, p)
		fmt.Fprintf(&sb, "  - id: t%d\n    networks: [%s]\n", i, p)
	}
	tb, err := Parse("bench.yaml", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	flows := make([]Flow, 4096)
	for i := range flows {
		// Half the flows hit a tenant prefix, half are random.
		var src netip.Addr
		if i%2 == 0 {
			p := nets[rng.IntN(len(nets))]
			a := p.Addr().As4()
			a[3] |= byte(rng.IntN(16))
			src = netip.AddrFrom4(a)
		} else {
			src = netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		}
		dst := netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		flows[i] = Flow{Src: src, Dst: dst, Agent: netip.MustParseAddr("192.0.2.1"), VLAN: 10, InIf: 1, OutIf: 2, HasIfIndex: true}
	}
	return tb, flows
}

// BenchmarkRoute measures routing one flow (source and destination lookups)
// against 10,000 tenant prefixes.
func BenchmarkRoute(b *testing.B) {
	tb, flows := benchTable(b, 10000)
	if benchMatch(b, tb, flows) == 0 {
		b.Fatal("no flow matched")
	}
}

// benchMatch routes the flows, in turn, b.N times and returns the number
// of matches.
func benchMatch(b *testing.B, tb *Table, flows []Flow) int {
	dst := make([]Match, 0, 16)
	matched := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = tb.Match(&flows[i&(len(flows)-1)], dst[:0])
		matched += len(dst)
	}
	b.StopTimer()
	return matched
}

// BenchmarkRouteIPv6 is BenchmarkRoute with 10,000 IPv6 tenant prefixes.
func BenchmarkRouteIPv6(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	var sb strings.Builder
	sb.WriteString("tenants:\n")
	var nets []netip.Prefix
	for i := 0; i < 10000; i++ {
		var a [16]byte
		a[0], a[1] = 0x20, 0x01
		for j := 2; j < 8; j++ {
			a[j] = byte(rng.IntN(256))
		}
		p := netip.PrefixFrom(netip.AddrFrom16(a), 32+rng.IntN(33)).Masked()
		nets = append(nets, p)
		fmt.Fprintf(&sb, "  - id: t%d\n    networks: [\"%s\"]\n", i, p)
	}
	tb, err := Parse("bench6.yaml", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	flows := make([]Flow, 4096)
	for i := range flows {
		src := nets[rng.IntN(len(nets))].Addr().As16()
		src[15] = byte(rng.IntN(256))
		var dst [16]byte
		dst[0], dst[1], dst[2] = 0x20, 0x01, byte(rng.IntN(256))
		flows[i] = Flow{Src: netip.AddrFrom16(src), Dst: netip.AddrFrom16(dst)}
	}
	dst := make([]Match, 0, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = tb.Match(&flows[i&(len(flows)-1)], dst[:0])
	}
}

func TestRouteAllocs(t *testing.T) {
	tb, flows := benchTable(t, 10000)
	dst := make([]Match, 0, 16)
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		dst = tb.Match(&flows[i&(len(flows)-1)], dst[:0])
		i++
	})
	if allocs != 0 {
		t.Errorf("routing allocates %.1f times per flow, want 0", allocs)
	}
}

func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// Two tenants with the same 10.0.0.0/8 behind different agents, a VLAN
// scope, and one-sided networks: each flow goes to its own tenant only.
func TestScopedAndOneSidedNetworks(t *testing.T) {
	tb, err := Parse("t.yaml", []byte(`tenants:
  - id: east
    scoped: [{agent: 192.0.2.1, networks: [10.0.0.0/8]}]
  - id: west
    scoped: [{agent: 192.0.2.2, networks: [10.0.0.0/8]}, {vlan: 200, sources: [10.9.0.0/16]}]
  - id: out
    sources: [172.16.0.0/12]
    destinations: [198.51.100.0/24]
`))
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	for _, tc := range []struct {
		f    Flow
		want string
	}{
		{Flow{Src: a("10.1.2.3"), Dst: a("8.8.8.8"), Agent: a("192.0.2.1")}, "east"},
		{Flow{Src: a("8.8.8.8"), Dst: a("10.1.2.3"), Agent: a("192.0.2.2")}, "west"},
		{Flow{Src: a("10.1.2.3"), Dst: a("8.8.8.8"), Agent: a("192.0.2.3")}, ""},
		{Flow{Src: a("10.9.0.1"), Dst: a("8.8.8.8"), Agent: a("192.0.2.3"), VLAN: 200}, "west"},
		{Flow{Src: a("8.8.8.8"), Dst: a("10.9.0.1"), Agent: a("192.0.2.3"), VLAN: 200}, ""},
		{Flow{Src: a("172.16.1.1"), Dst: a("8.8.8.8")}, "out"},
		{Flow{Src: a("8.8.8.8"), Dst: a("172.16.1.1")}, ""},
		{Flow{Src: a("8.8.8.8"), Dst: a("198.51.100.7")}, "out"},
		{Flow{Src: a("198.51.100.7"), Dst: a("8.8.8.8")}, ""},
	} {
		var ids []string
		for _, m := range tb.Match(&tc.f, nil) {
			ids = append(ids, tb.Tenants[m.Tenant].ID)
		}
		if strings.Join(ids, ",") != tc.want {
			t.Errorf("%+v: tenants %v, want %q", tc.f, ids, tc.want)
		}
	}
	_, err = Parse("bad.yaml", []byte(`tenants:
  - id: x
    scoped:
      - {agent: 192.0.2.1, vlan: 3, networks: [10.0.0.0/8]}
      - {networks: [10.0.0.0/8]}
      - {agent: nope, networks: [10.0.0.0/8]}
      - {vlan: 5000, networks: [10.0.0.0/8]}
`))
	for _, want := range []string{"bad.yaml:4:", "not both or neither", "bad.yaml:6:", `scope agent "nope"`, "bad.yaml:7:", "invalid VLAN id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad scopes: %v, want %q", err, want)
		}
	}
}

// BenchmarkRouteScoped routes flows against n tenants, each with a scoped
// private range behind its own agent and a one-sided network: the cost per
// flow stays flat from 10 to 10,000 tenants, with no allocation.
func BenchmarkRouteScoped(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			var sb strings.Builder
			sb.WriteString("tenants:\n")
			for i := 0; i < n; i++ {
				fmt.Fprintf(&sb, "  - id: t%d\n    scoped: [{agent: 10.%d.%d.1, networks: [10.0.0.0/8]}]\n    sources: [172.%d.%d.0/24]\n",
					i, 100+i/256, i%256, 16+i/256%16, i%256)
			}
			tb, err := Parse("bench.yaml", []byte(sb.String()))
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(5, 6))
			flows := make([]Flow, 4096)
			for i := range flows {
				k := rng.IntN(n)
				flows[i] = Flow{Src: netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), 9}),
					Dst:   netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), 1}),
					Agent: netip.AddrFrom4([4]byte{10, byte(100 + k/256), byte(k % 256), 1}), VLAN: 10}
			}
			if matched := benchMatch(b, tb, flows); matched < b.N {
				b.Fatalf("%d matches for %d flows: every flow is in its agent's scope", matched, b.N)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/flow")
		})
	}
}
