package main

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/elk-project/elk/orchestrator/discovery/embedded"
	"github.com/elk-project/elk/orchestrator/tenant"
)

func runTenant(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runCommand(newTenantCmd(), args...)
}

// TestTenantCommands: add, list, show and remove talk to the server's
// /v1/tenants; hostile names and filters are refused before any request,
// with one line naming the problem.
func TestTenantCommands(t *testing.T) {
	kv, err := embedded.NewDirKV(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tenant.Handler(tenant.NewStore(kv, ""), nil))
	defer srv.Close()
	t.Setenv("ELK_ADDR", srv.URL)
	t.Setenv("ELK_TOKEN", "")

	out, err := runTenant(t, "add", "acme", "--cidr", "10.1.0.0/16", "--cidr", "192.0.2.7", "--vlan", "100", "--retention", "2w")
	if err != nil || !strings.Contains(out, "tenant acme recorded (version 1)") {
		t.Fatalf("add acme: %v\n%s", err, out)
	}
	if _, err := runTenant(t, "add", "lab", "--cidr", "10.0.0.0/8", "--scope-agent", "192.0.2.1", "--store", "dedicated"); err != nil {
		t.Fatal(err)
	}
	if _, err := runTenant(t, "add", "acme", "--cidr", "10.9.0.0/16"); err == nil || !strings.Contains(err.Error(), "tenant exists") {
		t.Errorf("add acme again: %v", err)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "../x", "--cidr", "10.0.0.0/8"}, "tenant name"},
		{[]string{"add", "Acme", "--cidr", "10.0.0.0/8"}, "tenant name"},
		{[]string{"add", "a b", "--cidr", "10.0.0.0/8"}, "tenant name"},
		{[]string{"add", "x*", "--cidr", "10.0.0.0/8"}, "tenant name"},
		{[]string{"add", strings.Repeat("a", 64), "--cidr", "10.0.0.0/8"}, "more than 40"},
		{[]string{"add", "g", "--cidr", "10.0.0.300/8"}, "not a network"},
		{[]string{"add", "g", "--cidr", "10.0.0.0/8", "--cidr", "10.2.0.0/16"}, "overlaps"},
		{[]string{"add", "g", "--vlan", "5000"}, "not a VLAN id"},
		{[]string{"add", "g"}, "empty filter"},
		{[]string{"add", "g", "--cidr", "10.0.0.0/8", "--retention", "7h"}, "retention"},
		{[]string{"add", "g", "--cidr", "10.0.0.0/8", "--store", "cloud"}, "store"},
	} {
		if _, err := runTenant(t, bad.args...); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("elk tenant %s: %v, want an error with %q", strings.Join(bad.args, " "), err, bad.want)
		}
	}
	out, err = runTenant(t, "list")
	if err != nil || !strings.Contains(out, "acme") || !strings.Contains(out, "14d") || !strings.Contains(out, "(agent 192.0.2.1 only)") || strings.Contains(out, " g ") {
		t.Errorf("list: %v\n%s", err, out)
	}
	out, err = runTenant(t, "list", "--output", "json")
	var list []tenant.Record
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Errorf("list --output json: %v\n%s", err, out)
	}
	out, err = runTenant(t, "show", "acme")
	if err != nil || !strings.Contains(out, "10.1.0.0/16, 192.0.2.7/32, vlan 100") {
		t.Errorf("show acme: %v\n%s", err, out)
	}
	if out, err = runTenant(t, "remove", "acme"); err != nil || !strings.Contains(out, "tenant acme removed") {
		t.Errorf("remove acme: %v\n%s", err, out)
	}
	if _, err := runTenant(t, "show", "acme"); err == nil || !strings.Contains(err.Error(), "no such tenant") {
		t.Errorf("show after remove: %v", err)
	}
}
