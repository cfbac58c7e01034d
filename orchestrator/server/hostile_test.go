package server_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/elk-project/elk/orchestrator/server"
)

// TestHostileRequests: bodies over their limit are 413 and change nothing;
// counts that are negative, huge or not integers are 400 with a reason and
// never persisted.
func TestHostileRequests(t *testing.T) {
	stack, c := runLocal(t, server.LocalConfig{MaxInstances: 50})
	bg := context.Background()
	one := "name: h\nentities:\n  - id: a\n    type: generic\n    command: [sleep, \"3600\"]\n"
	if _, err := c.Deploy(bg, "h.yaml", []byte(one), false, nil); err != nil {
		t.Fatal(err)
	}
	do := func(method, path, ctype string, body []byte) (int, string) {
		return request(t, stack.Addr, "", method, path, ctype, body)
	}
	// A blueprint of two entities padded past the limit: cut at the limit
	// it would still parse as an application without its second entity.
	padded := one + "#" + strings.Repeat("x", server.MaxBlueprintBytes) + "\n" + "  - id: b\n    type: generic\n    command: [sleep, \"3600\"]\n"
	tests := []struct {
		name, method, path, ctype string
		body                      []byte
		want                      int
		wantMsg                   string
	}{
		{name: "blueprint over the limit", method: "POST", path: "/v1/apps", ctype: "application/yaml", body: []byte(padded), want: 413},
		{name: "scale to a million", method: "POST", path: "/v1/apps/h/entities/a/scale", ctype: "application/json", body: []byte(`{"count": 1000000}`), want: 400, wantMsg: "above the server's limit of 50"},
		{name: "scale above --max-instances", method: "POST", path: "/v1/apps/h/entities/a/scale", ctype: "application/json", body: []byte(`{"count": 51}`), want: 400, wantMsg: "limit of 50"},
		{name: "negative scale", method: "POST", path: "/v1/apps/h/entities/a/scale", ctype: "application/json", body: []byte(`{"count": -1}`), want: 400, wantMsg: "must not be negative"},
		{name: "scale past int64", method: "POST", path: "/v1/apps/h/entities/a/scale", ctype: "application/json", body: []byte(`{"count": 9223372036854775808}`), want: 400},
		{name: "fractional scale", method: "POST", path: "/v1/apps/h/entities/a/scale", ctype: "application/json", body: []byte(`{"count": 1.5}`), want: 400},
		{name: "scale body over the limit", method: "POST", path: "/v1/apps/h/entities/a/scale", ctype: "application/json", body: []byte(`{"reason": "` + strings.Repeat("x", 1<<20) + `", "count": 2}`), want: 413},
		{name: "policy over the limit", method: "PUT", path: "/v1/policies/h/a", ctype: "application/yaml", body: bytes.Repeat([]byte("# x\n"), 1<<19), want: 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := do(tc.method, tc.path, tc.ctype, tc.body)
			if code != tc.want || !strings.Contains(body, tc.wantMsg) {
				t.Fatalf("%s %s: %d %s; want %d with %q", tc.method, tc.path, code, trim(body), tc.want, tc.wantMsg)
			}
			st, err := c.App(bg, "h")
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Entities) != 1 || st.Entities[0].Desired != 1 {
				t.Fatalf("after a refused request the app changed: %+v", st.Entities)
			}
		})
	}
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
