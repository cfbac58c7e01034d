package tenant_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/elk-project/elk/orchestrator/discovery/embedded"
	"github.com/elk-project/elk/orchestrator/tenant"
)

func net(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func acme() tenant.Tenant {
	return tenant.Tenant{Name: "acme", Filters: []tenant.Filter{{Networks: []netip.Prefix{net("10.1.0.0/16")}}}}
}

// Hostile names never pass: nothing that could climb a path, split a job,
// service or index name, or glob.
func TestHostileNames(t *testing.T) {
	for _, name := range []string{"", "../x", "a/b", "a b", "A", "x*", "-x", "x-", "a.b", "a_b", "a\x00b", "ä",
		"x?", "a,b", "a:b", "a@b", "%2e%2e", strings.Repeat("a", 41), strings.Repeat("a", 64)} {
		if err := tenant.ValidName(name); err == nil {
			t.Errorf("ValidName(%q) = nil", name)
		}
		tn := acme()
		tn.Name = name
		if err := tn.Validate(); err == nil || !strings.Contains(err.Error(), "tenant name") {
			t.Errorf("Validate with name %q: %v", name, err)
		}
	}
	for _, name := range []string{"a", "acme", "acme-lab", "9", "a1-b2", strings.Repeat("a", 40)} {
		if err := tenant.ValidName(name); err != nil {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	tn := tenant.Tenant{Name: "acme", Store: "everywhere", RetentionDays: -1, QuotaFlowsPerSecond: -5,
		Resources: tenant.Resources{Heap: "lots"},
		Filters: []tenant.Filter{
			{Networks: []netip.Prefix{net("10.0.0.1/8"), net("10.1.0.0/16"), net("192.168.0.0/24")}, VLANs: []int{5000, 0, 100}},
			{},
			{Agents: []netip.Addr{{}}, Scope: &tenant.Scope{Agent: netip.MustParseAddr("192.0.2.1"), VLAN: 7}},
			{Sources: []netip.Prefix{net("172.16.0.0/12")}, Scope: &tenant.Scope{VLAN: 4095}},
			{Interfaces: []tenant.Interface{{Agent: netip.MustParseAddr("192.0.2.2")}}},
		}}
	err := tn.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`store "everywhere": want shared or dedicated`,
		"retention -1 days",
		"quota -5 flows/s",
		`resources.heap "lots"`,
		"filters[0].networks[0]: 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)",
		"filters[0].networks[1]: 10.1.0.0/16 overlaps networks[0] 10.0.0.1/8",
		"filters[0].vlans[0]: 5000 is not a VLAN id (1-4094)",
		"filters[0].vlans[1]: 0 is not a VLAN id",
		"filters[1]: empty filter",
		"filters[2].agents[0]: not an address",
		"filters[2].scope: give an agent or a VLAN, not both or neither",
		"filters[3].scope.vlan: 4095 is not a VLAN id",
		"filters[4].interfaces[0].ifindex: want 1 to 4096 interfaces",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "192.168.0.0/24") {
		t.Errorf("a good network is reported:\n%v", err)
	}
	if err := (&tenant.Tenant{Name: "acme"}).Validate(); err == nil || !strings.Contains(err.Error(), "no filters") {
		t.Errorf("tenant without filters: %v", err)
	}
	if err := (&tenant.Tenant{Name: "x", Filters: make([]tenant.Filter, 65)}).Validate(); err == nil || !strings.Contains(err.Error(), "65 filters") {
		t.Errorf("65 filters: %v", err)
	}
}

// Two tenants with the same private range, scoped to different agents,
// are both valid.
func TestScopedOverlapAcrossTenantsIsValid(t *testing.T) {
	for _, agent := range []string{"192.0.2.1", "192.0.2.2"} {
		tn := tenant.Tenant{Name: "t" + agent[len(agent)-1:], Filters: []tenant.Filter{{
			Networks: []netip.Prefix{net("10.0.0.0/8")}, Scope: &tenant.Scope{Agent: netip.MustParseAddr(agent)}}}}
		if err := tn.Validate(); err != nil {
			t.Errorf("%s: %v", tn.Name, err)
		}
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]string{"10.1.0.0/16": "10.1.0.0/16", " 2001:db8::/32 ": "2001:db8::/32", "192.0.2.7": "192.0.2.7/32", "2001:db8::1": "2001:db8::1/128"} {
		p, err := tenant.ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v", in, p, err)
		}
	}
	for _, in := range []string{"10.0.0.300/8", "10.0.0.0/33", "garbage", "", "10.0.0.0/8/8", "::/129"} {
		if _, err := tenant.ParsePrefix(in); err == nil {
			t.Errorf("ParsePrefix(%q): no error", in)
		}
	}
	for in, want := range map[string]int{"7d": 7, "2w": 14, "30": 30, "3650d": 3650} {
		if n, err := tenant.ParseRetention(in); err != nil || n != want {
			t.Errorf("ParseRetention(%q) = %d, %v", in, n, err)
		}
	}
	for _, in := range []string{"0d", "-1", "7h", "x", "", "3651d", "1000w"} {
		if _, err := tenant.ParseRetention(in); err == nil {
			t.Errorf("ParseRetention(%q): no error", in)
		}
	}
}

func TestStore(t *testing.T) {
	dir := t.TempDir()
	kv, err := embedded.NewDirKV(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := tenant.NewStore(kv, "")
	ctx := context.Background()
	r, err := s.Create(ctx, acme(), "alice")
	if err != nil || r.Version != 1 || r.Author != "alice" {
		t.Fatalf("Create = %+v, %v", r, err)
	}
	if _, err := s.Create(ctx, acme(), "bob"); !errors.Is(err, tenant.ErrExists) {
		t.Errorf("second Create: %v, want ErrExists", err)
	}
	bad := acme()
	bad.Name = "../../etc"
	if _, err := s.Create(ctx, bad, "mallory"); !errors.Is(err, tenant.ErrInvalid) {
		t.Errorf("Create ../../etc: %v, want ErrInvalid", err)
	}
	if _, err := s.Get(ctx, "../../etc"); !errors.Is(err, tenant.ErrInvalid) {
		t.Errorf("Get ../../etc: %v, want ErrInvalid", err)
	}
	filepath.WalkDir(filepath.Dir(dir), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(p, "etc") {
			t.Errorf("a hostile name reached the disk: %s", p)
		}
		return nil
	})

	for v := 1; v <= 25; v++ {
		tn := acme()
		tn.RetentionDays = v
		if r, err = s.Update(ctx, tn, v, "alice"); err != nil || r.Version != v+1 {
			t.Fatalf("Update to version %d: %+v, %v", v+1, r, err)
		}
	}
	if _, err := s.Update(ctx, acme(), 3, "bob"); !errors.Is(err, tenant.ErrConflict) {
		t.Errorf("Update from a stale version: %v, want ErrConflict", err)
	}
	got, err := s.Get(ctx, "acme")
	if err != nil || got.Version != 26 || got.Tenant.RetentionDays != 25 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if len(got.History) != tenant.MaxHistory || got.History[0].Version != 25 || got.History[0].Tenant.RetentionDays != 24 {
		t.Errorf("history: %d versions, newest %+v", len(got.History), got.History[0])
	}
	second := acme()
	second.Name = "beta"
	if _, err := s.Create(ctx, second, "alice"); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 2 || list[0].Tenant.Name != "acme" || list[1].Tenant.Name != "beta" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if err := s.Delete(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "acme"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := s.Delete(ctx, "acme"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("second Delete: %v", err)
	}
}
