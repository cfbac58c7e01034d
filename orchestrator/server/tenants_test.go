package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/elk-project/elk/orchestrator/auth"
	"github.com/elk-project/elk/orchestrator/server"
	"github.com/elk-project/elk/orchestrator/tenant"
)

// TestTenantAPI: /v1/tenants creates, reads, versions and removes tenant
// records behind the API's tokens; hostile names and filters are refused
// with 400 and leave nothing behind; a read token cannot change them; the
// author is the token's name.
func TestTenantAPI(t *testing.T) {
	const writer, reader = "0123456789abcdef-writer", "0123456789abcdef-reader"
	toks, err := auth.NewTokens(auth.Token{Name: "alice", Role: auth.RoleWrite, Secret: writer}, auth.Token{Name: "grafana", Role: auth.RoleRead, Secret: reader})
	if err != nil {
		t.Fatal(err)
	}
	sec := server.Security{Middleware: func(h http.Handler) http.Handler { return auth.Middleware(auth.Options{Tokens: toks}, h) }}
	stack, _ := runLocal(t, server.LocalConfig{Security: sec})
	do := func(token, method, path, body string) (int, string) {
		return request(t, stack.Addr, token, method, path, "application/json", []byte(body))
	}
	acme := `{"name":"acme","filters":[{"networks":["10.1.0.0/16"],"scope":{"agent":"192.0.2.1"}}],"retention_days":7}`

	if code, _ := do("", "GET", "/v1/tenants", ""); code != http.StatusUnauthorized {
		t.Errorf("GET without a token: %d, want 401", code)
	}
	if code, body := do(reader, "POST", "/v1/tenants", acme); code != http.StatusForbidden {
		t.Errorf("POST with a read token: %d %s, want 403", code, body)
	}
	code, body := do(writer, "POST", "/v1/tenants", acme)
	var rec tenant.Record
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &rec) != nil || rec.Version != 1 || rec.Author != "alice" {
		t.Fatalf("POST acme: %d %s", code, body)
	}
	if code, _ := do(writer, "POST", "/v1/tenants", acme); code != http.StatusConflict {
		t.Errorf("POST acme again: %d, want 409", code)
	}
	for _, bad := range []struct{ name, body, want string }{
		{"path traversal", `{"name":"../x","filters":[{"vlans":[10]}]}`, "tenant name"},
		{"slash", `{"name":"a/b","filters":[{"vlans":[10]}]}`, "tenant name"},
		{"space", `{"name":"a b","filters":[{"vlans":[10]}]}`, "tenant name"},
		{"upper case", `{"name":"A","filters":[{"vlans":[10]}]}`, "tenant name"},
		{"glob", `{"name":"x*","filters":[{"vlans":[10]}]}`, "tenant name"},
		{"leading dash", `{"name":"-x","filters":[{"vlans":[10]}]}`, "tenant name"},
		{"64 characters", `{"name":"` + strings.Repeat("a", 64) + `","filters":[{"vlans":[10]}]}`, "more than 40"},
		{"garbage CIDR", `{"name":"g","filters":[{"networks":["10.0.0.300/8"]}]}`, "decode tenant"},
		{"host bits", `{"name":"g","filters":[{"networks":["10.0.0.1/8"]}]}`, "host bits"},
		{"overlapping CIDRs", `{"name":"g","filters":[{"networks":["10.0.0.0/8","10.1.0.0/16"]}]}`, "overlaps"},
		{"VLAN 5000", `{"name":"g","filters":[{"vlans":[5000]}]}`, "not a VLAN id"},
		{"unknown field", `{"name":"g","filters":[{"vlans":[1]}],"owner":"root"}`, "unknown field"},
		{"no filters", `{"name":"g"}`, "no filters"},
	} {
		code, body := do(writer, "POST", "/v1/tenants", bad.body)
		if code != http.StatusBadRequest || !strings.Contains(body, bad.want) {
			t.Errorf("%s: %d %s, want 400 with %q", bad.name, code, body, bad.want)
		}
	}
	if code, body := do(writer, "POST", "/v1/tenants", `{"name":"big","filters":[{"vlans":[`+strings.Repeat("1,", 600000)+`1]}]}`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 1.2 MB tenant: %d %s, want 413", code, body[:min(len(body), 100)])
	}
	code, body = do(reader, "GET", "/v1/tenants", "")
	var list []tenant.Record
	if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list) != 1 || list[0].Tenant.Name != "acme" {
		t.Fatalf("GET /v1/tenants after the refusals: %d %s; want acme alone", code, body)
	}
	if code, _ := do(writer, "PUT", "/v1/tenants/acme?version=7", acme); code != http.StatusConflict {
		t.Errorf("PUT from a stale version: %d, want 409", code)
	}
	if code, _ := do(writer, "PUT", "/v1/tenants/other", acme); code != http.StatusBadRequest {
		t.Errorf("PUT with a body naming another tenant: %d, want 400", code)
	}
	code, body = do(writer, "PUT", "/v1/tenants/acme?version=1", strings.Replace(acme, `"retention_days":7`, `"retention_days":30`, 1))
	if code != http.StatusOK || json.Unmarshal([]byte(body), &rec) != nil || rec.Version != 2 || len(rec.History) != 1 || rec.Tenant.RetentionDays != 30 {
		t.Fatalf("PUT acme: %d %s", code, body)
	}
	if code, _ := do(reader, "GET", "/v1/tenants/..%2Fx", ""); code != http.StatusBadRequest && code != http.StatusNotFound {
		t.Errorf("GET an escaped traversal: %d", code)
	}
	if code, _ := do(writer, "DELETE", "/v1/tenants/acme", ""); code != http.StatusOK {
		t.Errorf("DELETE acme: %d", code)
	}
	if code, _ := do(reader, "GET", "/v1/tenants/acme", ""); code != http.StatusNotFound {
		t.Errorf("GET acme after DELETE: %d, want 404", code)
	}
}

// request sends one request to the API at base (with a bearer token when
// given) and returns the status and body.
func request(t *testing.T, base, token, method, path, ctype string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
