package discovery_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/elk-project/elk/orchestrator/discovery"
)

func TestServiceName(t *testing.T) {
	for _, tc := range []struct {
		name, app, entity, want string
	}{
		{"app without a dash: unchanged", "demo", "collector", "demo-collector"},
		{"dashed entity: unchanged", "demo", "es-exporter", "demo-es-exporter"},
		{"dashed app: its dashes doubled", "tenant-acme", "kibana", "tenant--acme-kibana"},
		{"web + api-db", "web", "api-db", "web-api-db"},
		{"web-api + db", "web-api", "db", "web--api-db"},
		{"dashes on both sides", "a-b-c", "d-e", "a--b--c-d-e"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := discovery.ServiceName(tc.app, tc.entity); got != tc.want {
				t.Errorf("ServiceName(%q, %q) = %q, want %q", tc.app, tc.entity, got, tc.want)
			}
			app, entity, ok := discovery.ParseServiceName(tc.want)
			if !ok || app != tc.app || entity != tc.entity {
				t.Errorf("ParseServiceName(%q) = %q, %q, %v, want %q, %q, true", tc.want, app, entity, ok, tc.app, tc.entity)
			}
		})
	}
}

// TestServiceNamesOfWebApiDbDiffer: the two pairs that used to share
// "web-api-db" (so one's deploy overwrote, and its undeploy purged, the
// other's job and service) now have different names.
func TestServiceNamesOfWebApiDbDiffer(t *testing.T) {
	a, b := discovery.ServiceName("web", "api-db"), discovery.ServiceName("web-api", "db")
	if a == b {
		t.Fatalf("web/api-db and web-api/db share the service name %q", a)
	}
	if a != "web-api-db" {
		t.Errorf("web/api-db: %q, want the unchanged web-api-db", a)
	}
	if x, y := discovery.InstanceID("web", "api-db", 0), discovery.InstanceID("web-api", "db", 0); x == y {
		t.Errorf("web/api-db and web-api/db share the instance ID %q", x)
	}
}

func TestParseServiceNameRejects(t *testing.T) {
	for _, name := range []string{"", "demo", "a--b", "a----b"} {
		if app, entity, ok := discovery.ParseServiceName(name); ok {
			t.Errorf("ParseServiceName(%q) = %q, %q, true: it is no ServiceName", name, app, entity)
		}
	}
}

// names returns every blueprint-shaped name (starting with a letter, not
// ending with '-') over the letters a, b and '-' of at most n characters.
func names(n int) []string {
	var out []string
	var grow func(s string)
	grow = func(s string) {
		if s[len(s)-1] != '-' {
			out = append(out, s)
		}
		if len(s) == n {
			return
		}
		for _, c := range []string{"a", "b", "-"} {
			grow(s + c)
		}
	}
	grow("a")
	grow("b")
	return out
}

// TestServiceNameIsInjective checks every pair of short names (including
// names with "--", which blueprints refuse for applications but a target
// may still be handed): no two pairs share a service name or an instance
// ID, and ParseServiceName inverts ServiceName.
func TestServiceNameIsInjective(t *testing.T) {
	ns := names(5)
	seen := make(map[string][2]string, len(ns)*len(ns))
	ids := make(map[string]string, 12*len(ns)*len(ns))
	for _, app := range ns {
		for _, entity := range ns {
			name := discovery.ServiceName(app, entity)
			if prev, dup := seen[name]; dup {
				t.Fatalf("%s/%s and %s/%s share the service name %q", prev[0], prev[1], app, entity, name)
			}
			seen[name] = [2]string{app, entity}
			for i := range 12 {
				id := discovery.InstanceID(app, entity, i)
				this := fmt.Sprintf("%s/%s instance %d", app, entity, i)
				if prev, dup := ids[id]; dup {
					t.Fatalf("%s and %s share the instance ID %q", prev, this, id)
				}
				ids[id] = this
			}
			if a, e, ok := discovery.ParseServiceName(name); !ok || a != app || e != entity {
				t.Fatalf("ParseServiceName(%q) = %q, %q, %v, want %q, %q, true", name, a, e, ok, app, entity)
			}
		}
	}
	if len(seen) < 10000 {
		t.Fatalf("only %d pairs checked", len(seen))
	}
}

// FuzzServiceName: ParseServiceName recovers any app and any entity that
// does not start with '-' (the only condition injectivity needs).
func FuzzServiceName(f *testing.F) {
	for _, s := range [][2]string{{"demo", "collector"}, {"web", "api-db"}, {"web-api", "db"}, {"a--b", "c"}, {"a-", "b"}, {"", "x"}, {"x", ""}, {"-", "-"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, app, entity string) {
		name := discovery.ServiceName(app, entity)
		a, e, ok := discovery.ParseServiceName(name)
		if strings.HasPrefix(entity, "-") {
			return // outside the domain: "a-"+"b" and "a"+"--b" are both "a---b"
		}
		if !ok || a != app || e != entity {
			t.Fatalf("ParseServiceName(ServiceName(%q, %q) = %q) = %q, %q, %v", app, entity, name, a, e, ok)
		}
	})
}

// FuzzParseServiceName: whatever ParseServiceName accepts is the
// ServiceName of what it returns, with an entity not starting with '-'.
func FuzzParseServiceName(f *testing.F) {
	for _, s := range []string{"demo-collector", "web--api-db", "a---b", "a----b-c", "-", "--", "", "x-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		app, entity, ok := discovery.ParseServiceName(name)
		if !ok {
			if strings.Count(name, "-")%2 == 1 {
				t.Fatalf("ParseServiceName(%q) refused a name with an odd number of '-'", name)
			}
			return
		}
		if strings.HasPrefix(entity, "-") {
			t.Fatalf("ParseServiceName(%q): entity %q starts with '-'", name, entity)
		}
		if got := discovery.ServiceName(app, entity); got != name {
			t.Fatalf("ParseServiceName(%q) = %q, %q but ServiceName of those is %q", name, app, entity, got)
		}
	})
}
