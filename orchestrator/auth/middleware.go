package auth

import (
	"context"
	"encoding/json"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/elk-project/elk/orchestrator/api"
)

// Options configure Middleware.
type Options struct {
	// Tokens are the accepted bearer tokens (required).
	Tokens *Tokens
	// MetricsPublic serves GET /metrics without a token.
	MetricsPublic bool
	// AllowedHosts are further names the Host header may carry (a DNS
	// name of the server, a reverse proxy's name): "name" matches any
	// port, "name:port" only that port.
	AllowedHosts []string
}

// Body media types the API accepts. Everything else (text/plain, forms,
// multipart: what a browser may send cross-site without a preflight) is
// refused with 415.
var bodyTypes = []string{"application/yaml", "application/x-yaml", "application/json"}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// IdentityFrom returns the identity Middleware put in ctx.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Middleware wraps next so that, in this order:
//   - every response has X-Content-Type-Options: nosniff;
//   - a Host header that names neither the listener's address (or, on a
//     loopback listener, localhost, 127.0.0.1 or [::1] with its port) nor
//     an allowed host is answered 421 (DNS rebinding);
//   - an Origin header other than the server's own origin, or
//     Sec-Fetch-Site: cross-site, is answered 403;
//   - GET /healthz (and GET /metrics with MetricsPublic) pass;
//   - everything else needs Authorization: Bearer with a known token,
//     else 401 with WWW-Authenticate: Bearer;
//   - a read token gets 403 on any method but GET and HEAD;
//   - a body whose Content-Type is not YAML or JSON is answered 415;
//   - the request reaches next with the token's Identity in its context.
//
// Refusals are {"error": "..."} JSON like the API's other errors.
func Middleware(o Options, next http.Handler) http.Handler {
	if o.Tokens == nil {
		panic("auth: Middleware without tokens")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if !hostAllowed(r, o.AllowedHosts) {
			refuse(w, http.StatusMisdirectedRequest, "host "+quote(r.Host)+" is not this server's address (add it with --allowed-host)")
			return
		}
		if !sameOrigin(r) {
			refuse(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		read := r.Method == http.MethodGet || r.Method == http.MethodHead
		if read && (r.URL.Path == "/healthz" || (o.MetricsPublic && r.URL.Path == "/metrics")) {
			next.ServeHTTP(w, r)
			return
		}
		secret, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="elk"`)
			refuse(w, http.StatusUnauthorized, "authentication required: send Authorization: Bearer TOKEN (ELK_TOKEN)")
			return
		}
		id, ok := o.Tokens.Lookup(secret)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="elk", error="invalid_token"`)
			refuse(w, http.StatusUnauthorized, "invalid token")
			return
		}
		if !read && id.Role != RoleWrite {
			refuse(w, http.StatusForbidden, "token "+quote(id.Name)+" is read-only")
			return
		}
		if hasBody(r) && !bodyTypeAllowed(r.Header.Get("Content-Type")) {
			refuse(w, http.StatusUnsupportedMediaType, "request body must be application/yaml, application/x-yaml or application/json")
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func refuse(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(api.Error{Message: msg})
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	secret = strings.TrimSpace(secret)
	return secret, secret != ""
}

func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || (r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody)
}

func bodyTypeAllowed(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	for _, t := range bodyTypes {
		if mt == t {
			return true
		}
	}
	return false
}

// splitHost splits a Host header into a lower-case host (brackets removed)
// and a port ("" when absent).
func splitHost(hp string) (host, port string) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		return strings.ToLower(h), p
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]")), ""
}

func isLoopbackName(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func hostAllowed(r *http.Request, allowed []string) bool {
	if r.Host == "" {
		return false
	}
	h, p := splitHost(r.Host)
	if p == "" {
		p = "80"
		if r.TLS != nil {
			p = "443"
		}
	}
	for _, a := range allowed {
		ah, ap := splitHost(a)
		if ah == h && (ap == "" || ap == p) {
			return true
		}
	}
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	lh, lp := splitHost(la.String())
	if p != lp {
		return false
	}
	if lip, hip := net.ParseIP(lh), net.ParseIP(h); lip != nil && hip != nil && lip.Equal(hip) {
		return true
	}
	return isLoopbackName(lh) && isLoopbackName(h)
}

// sameOrigin refuses what a browser sends from another site: an Origin
// that is not scheme://Host of this request (Host has been checked), or
// Sec-Fetch-Site: cross-site. Requests without either (the CLI, curl)
// pass.
func sameOrigin(r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return strings.EqualFold(origin, scheme+r.Host)
}
