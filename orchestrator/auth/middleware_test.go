package auth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMiddleware(t *testing.T) {
	const w, r = "write-secret-0123456789", "read-secret-01234567890"
	toks, err := NewTokens(Token{Name: "ops", Role: RoleWrite, Secret: w}, Token{Name: "viewer", Role: RoleRead, Secret: r})
	if err != nil {
		t.Fatal(err)
	}
	var seen string
	next := http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		id, _ := IdentityFrom(req.Context())
		seen = id.Name
		io.WriteString(rw, "ok")
	})
	srv := httptest.NewServer(Middleware(Options{Tokens: toks}, next))
	defer srv.Close()
	cases := []struct {
		name, method, path, token, ctype, host, origin string
		want                                           int
		who                                            string
	}{
		{name: "no token", method: "GET", path: "/v1/apps", want: 401},
		{name: "wrong token", method: "GET", path: "/v1/apps", token: "nope-nope-nope-nope", want: 401},
		{name: "read GET", method: "GET", path: "/v1/apps", token: r, want: 200, who: "viewer"},
		{name: "read POST", method: "POST", path: "/v1/apps", token: r, ctype: "application/yaml", want: 403},
		{name: "read PUT", method: "PUT", path: "/v1/policies/a/b", token: r, ctype: "application/yaml", want: 403},
		{name: "read DELETE", method: "DELETE", path: "/v1/apps/a", token: r, want: 403},
		{name: "write POST", method: "POST", path: "/v1/apps", token: w, ctype: "application/yaml", want: 200, who: "ops"},
		{name: "healthz open", method: "GET", path: "/healthz", want: 200},
		{name: "metrics protected", method: "GET", path: "/metrics", want: 401},
		{name: "text/plain", method: "POST", path: "/v1/apps", token: w, ctype: "text/plain", want: 415},
		{name: "form", method: "POST", path: "/v1/apps", token: w, ctype: "application/x-www-form-urlencoded", want: 415},
		{name: "foreign origin", method: "POST", path: "/v1/apps", token: w, ctype: "application/json", origin: "http://evil.example", want: 403},
		{name: "rebinding host", method: "GET", path: "/v1/apps", token: w, host: "evil.example:7878", want: 421},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seen = ""
			var body io.Reader
			if tc.ctype != "" {
				body = strings.NewReader("x: 1")
			}
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, body)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff header")
			}
			if tc.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.want != 200 && seen != "" {
				t.Errorf("refused request reached the handler as %q", seen)
			}
			if seen != tc.who {
				t.Errorf("identity %q, want %q", seen, tc.who)
			}
		})
	}
}
