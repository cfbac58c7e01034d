package server_test

import (
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/elk-project/elk/collector/route"
	"github.com/elk-project/elk/orchestrator/server"
)

// TestTenantTableFollowsRecords: the local server writes its tenant records
// as the collectors' tenant table, at start and after every change, and
// the collector's own parser routes flows by it.
func TestTenantTableFollowsRecords(t *testing.T) {
	state := t.TempDir()
	stack, _ := runLocal(t, server.LocalConfig{StateDir: state})
	path := filepath.Join(state, server.TenantTableFile)
	table := func() *route.Table {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		tab, err := route.Parse(path, b)
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		return tab
	}
	if n := table().Len(); n != 0 {
		t.Fatalf("table at start: %d tenants", n)
	}
	post := func(method, path, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, stack.Addr+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
		}
	}
	post("POST", "/v1/tenants", `{"name":"acme","filters":[{"networks":["10.1.0.0/16"],"vlans":[100]}]}`)
	post("POST", "/v1/tenants", `{"name":"lab","filters":[{"agents":["192.0.2.9"]},{"networks":["10.0.0.0/8"],"scope":{"agent":"192.0.2.1"}}]}`)
	tab := table()
	match := func(f route.Flow) []string {
		var ids []string
		for _, m := range tab.Match(&f, nil) {
			ids = append(ids, tab.Tenants[m.Tenant].ID)
		}
		return ids
	}
	a := netip.MustParseAddr
	if got := match(route.Flow{Src: a("10.1.2.3"), Dst: a("198.51.100.1"), Agent: a("192.0.2.5")}); strings.Join(got, ",") != "acme" {
		t.Errorf("flow from 10.1.2.3: tenants %v, want acme", got)
	}
	if got := match(route.Flow{Src: a("198.51.100.1"), Dst: a("198.51.100.2"), VLAN: 100}); strings.Join(got, ",") != "acme" {
		t.Errorf("flow on VLAN 100: tenants %v, want acme", got)
	}
	if got := match(route.Flow{Src: a("198.51.100.1"), Dst: a("198.51.100.2"), Agent: a("192.0.2.9")}); strings.Join(got, ",") != "lab" {
		t.Errorf("flow of agent 192.0.2.9: tenants %v, want lab", got)
	}
	// lab's 10.0.0.0/8 counts only behind agent 192.0.2.1.
	if got := match(route.Flow{Src: a("10.2.0.1"), Dst: a("198.51.100.2"), Agent: a("192.0.2.1")}); strings.Join(got, ",") != "lab" {
		t.Errorf("flow from 10.2.0.1 behind 192.0.2.1: tenants %v, want lab", got)
	}
	if got := match(route.Flow{Src: a("10.2.0.1"), Dst: a("198.51.100.2"), Agent: a("192.0.2.5")}); len(got) != 0 {
		t.Errorf("flow from 10.2.0.1 behind another agent: tenants %v, want none", got)
	}
	post("DELETE", "/v1/tenants/acme", "")
	tab = table()
	if got := match(route.Flow{Src: a("10.1.2.3"), Dst: a("198.51.100.1")}); len(got) != 0 || tab.Len() != 1 {
		t.Errorf("after removing acme: %d tenants, flow from 10.1.2.3 → %v", tab.Len(), got)
	}
}
