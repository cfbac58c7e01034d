package blueprints_test

import (
	"fmt"
	"github.com/elk-project/elk/blueprints"
	_ "github.com/elk-project/elk/orchestrator/catalog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBadFixtures(t *testing.T) {
	cases := []struct {
		name string
		file string
		want []string // every error, in order: "line:col: message fragment"
	}{
		{"unknown field", "unknown-field.yaml", []string{`5:5: collector: unknown field "replicas"`}},
		{"depends_on cycle", "cycle.yaml", []string{`10:18: b.depends_on: cycle: a -> c -> b -> a`}},
		{"self dependency", "self-dependency.yaml", []string{`6:18: a.depends_on: cycle: a -> a`}},
		{"unknown type", "unknown-type.yaml", []string{`4:11: db: unknown type "postgres"`}},
		{"negative count", "negative-count.yaml", []string{`5:12: collector: count -2 is negative`}},
		{"count above maximum", "count-too-big.yaml", []string{`5:12: collector: count 100000 is above the maximum 1000`}},
		{"dangling reference", "dangling.yaml", []string{
			`6:18: agent.config.collector: "collectr": no such entity`,
			`7:18: agent.depends_on: "collector": no such entity`,
		}},
		{"invalid YAML", "invalid-yaml.yaml", []string{`5:4: invalid YAML: did not find expected '-' indicator`}},
		{"duplicate id", "duplicate-id.yaml", []string{`3:5: collector: type sflow-collector needs config.output`,
			`5:5: collector: type sflow-collector needs config.output`, `5:5: entities[1]: duplicate entity id "collector"`}},
		{"hostile names", "bad-name.yaml", []string{
			`1:7: name: "../../etc;rm -rf" must be lower-case letters`,
			`3:5: entities[0]: type sflow-collector needs config.output`,
			`3:9: entities[0].id: "Collector_1" must be lower-case`,
		}},
		{"application name with --", "app-name-double-dash.yaml", []string{
			`3:7: name: "web--api" must not contain "--" (job and service names write each '-' of an application name as "--")`,
		}},
		{"escaped service name too long", "service-name-too-long.yaml", []string{
			`5:9: collector: job and service name "a--b--c--d--e--f--g--h--i--j--k--l--m--n--o--p--q--r--s--t-collector" is longer than 63 characters`,
		}},
		{"bad outputs", "bad-output.yaml", []string{
			`6:16: collector.config.output[0]: output "kafak:x/y": unknown kind "kafak"`,
			`6:29: collector.config.output[1]: elasticsearch output "http://REDACTED@es:9200": unknown option "spol"`,
			`6:80: collector.config.output[2]: "nowhere": no such entity`,
		}},
		{"bad policy", "policy-bad.yaml", []string{`15:17: check "rate".strategy.target-value: unknown field "tolerance"`}},
		{"all errors at once", "many.yaml", []string{
			`2:9: target: "kubernetes" is not local or nomad`,
			`4:5: collector: type sflow-collector needs config.output`,
			`6:12: collector: count -1 is negative`,
			`8:13: collector.config.port: 70000 is not a port number`,
			`9:7: collector.config: unknown field "outptu"`,
			`11:11: es: unknown type "elastic"`,
			`14:18: agent.depends_on: "nowhere": no such entity`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tc.file)
			app, err := blueprints.Load(path)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want errors", path, app)
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], path+":"+w) {
					t.Errorf("error %d:\n got  %s\n want %s:%s...", i, got[i], path, w)
				}
			}
		})
	}
}

// TestEveryBadFixtureFails makes sure no fixture in testdata/bad is
// forgotten by the table above and every one fails with positions.
func TestEveryBadFixtureFails(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, f := range files {
		_, err := blueprints.Load(f)
		if err == nil {
			t.Errorf("%s: loaded without error", f)
			continue
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, f+":") {
				t.Errorf("%s: error without file:line:col: %q", f, line)
			}
		}
	}
}

func TestGoodFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.yaml")
	if len(files) == 0 {
		t.Fatal("no good fixtures")
	}
	for _, f := range files {
		if _, err := blueprints.Load(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func TestParseModel(t *testing.T) {
	app, err := blueprints.Load("testdata/good/generic.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if app.Name != "web" || app.Target != blueprints.TargetLocal || len(app.Entities) != 2 {
		t.Fatalf("app = %+v", app)
	}
	api := app.Entity("api")
	if api == nil || api.Count != 2 || api.Type != blueprints.TypeGeneric {
		t.Fatalf("api = %+v", api)
	}
	if !slices.Equal(api.Command, []string{"python3", "-m", "http.server", "${port.http}"}) {
		t.Errorf("command = %q", api.Command)
	}
	if api.Env["PYTHONUNBUFFERED"] != "1" || len(api.Ports) != 1 || api.Ports[0].Name != "http" || api.Ports[0].Proto != "tcp" {
		t.Errorf("env/ports = %v %+v", api.Env, api.Ports)
	}
	if api.Health == nil || api.Health.HTTP != "/" || api.Health.Port != "http" || api.Health.Interval.Seconds() != 5 {
		t.Errorf("health = %+v", api.Health)
	}
	if api.Resources.CPU != 100 || api.Resources.MemoryMB != 64 {
		t.Errorf("resources = %+v", api.Resources)
	}
	if api.Pos.Line != 3 || api.Pos.Col != 5 {
		t.Errorf("pos = %v, want line 3 col 5", api.Pos)
	}
	w := app.Entity("worker")
	if w.Count != 1 || w.Image != "busybox:1.36" || !slices.Equal(w.DependsOn, []string{"api"}) {
		t.Errorf("worker = %+v", w)
	}

	lib, err := blueprints.Load("library/sflow-stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := lib.Entity("collector")
	if c.Config.Int("port", 0) != 6343 || !slices.Equal(c.Config.Strings("output"), []string{"kafka:kafka/flows"}) {
		t.Errorf("collector config: port %d output %v", c.Config.Int("port", 0), c.Config.Strings("output"))
	}
	if len(c.Policies) != 1 || len(c.Scaling) != 1 {
		t.Fatalf("collector policies: %d raw, %d parsed", len(c.Policies), len(c.Scaling))
	}
	if p := c.Scaling[0]; p.Target.App != "sflow" || p.Target.Entity != "collector" || p.Min != 1 || p.Max != 8 {
		t.Errorf("policy = %+v", p)
	}
}

func TestTopoOrder(t *testing.T) {
	app, err := blueprints.Load("library/sflow-stack.yaml")
	if err != nil {
		t.Fatal(err)
	}
	order := app.TopoOrder()
	index := map[string]int{}
	for i, e := range order {
		index[e.ID] = i
	}
	for _, e := range app.Entities {
		for _, d := range e.DependsOn {
			if index[d] >= index[e.ID] {
				t.Errorf("%s starts at %d, before its dependency %s at %d", e.ID, index[e.ID], d, index[d])
			}
		}
	}
	var ids []string
	for _, e := range order {
		ids = append(ids, e.ID)
	}
	want := []string{"elasticsearch", "kafka", "ingest", "collector", "kibana", "es-exporter", "agent", "prometheus"}
	if !slices.Equal(ids, want) {
		t.Errorf("order = %v, want %v", ids, want)
	}
	levels := app.Levels()
	if len(levels) != 3 {
		t.Errorf("levels = %d, want 3", len(levels))
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"demo", true}, {"a", true}, {"tenant-acme2", true},
		{"", false}, {"Demo", false}, {"-a", false}, {"a-", false}, {"1a", false}, {"a_b", false},
		{"a.b", false}, {"a/b", false}, {"a b", false}, {"$(rm)", false}, {"ü", false}, {strings.Repeat("a", 64), false},
	} {
		if err := blueprints.ValidName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestValidAppName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"demo", true}, {"tenant-acme", true}, {"a-b-c", true},
		{"web--api", false}, {"a---b", false}, {"-a", false}, {"a-", false}, {"", false},
	} {
		if err := blueprints.ValidAppName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidAppName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	// Entity and tenant names may contain "--": only the application's
	// dashes are escaped.
	if err := blueprints.ValidName("a--b"); err != nil {
		t.Errorf("ValidName(%q) = %v, want nil", "a--b", err)
	}
}

func TestErrorsList(t *testing.T) {
	data, _ := os.ReadFile("testdata/bad/many.yaml")
	_, err := blueprints.Parse("many.yaml", data)
	list := blueprints.Errors(err)
	if len(list) != 7 {
		t.Fatalf("Errors() = %d, want 7", len(list))
	}
	if list[0].Pos != (blueprints.Pos{File: "many.yaml", Line: 2, Col: 9}) {
		t.Errorf("first position = %v", list[0].Pos)
	}
}

func TestEmptyAndMultiDoc(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "x.yaml:1:1: empty blueprint"},
		{"two documents", "name: a\nentities: []\n---\nname: b\n", "x.yaml:3:1: a blueprint file holds one YAML document"},
		{"not a mapping", "- a\n", "x.yaml:1:1: blueprint: expected a mapping"},
		{"no entities", "name: a\n", "x.yaml:1:1: blueprint: entities is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := blueprints.Parse("x.yaml", []byte(tc.data))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
}

func BenchmarkParseStack(b *testing.B) {
	data, err := os.ReadFile("library/sflow-stack.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := blueprints.Parse("sflow-stack.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseInvalidYAML(b *testing.B) {
	data, err := os.ReadFile("testdata/bad/invalid-yaml.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		blueprints.Parse("invalid-yaml.yaml", data)
	}
}

// TestLargeBlueprintsStayFast guards against quadratic work: a long
// dependency chain and a large file with a YAML error both parse quickly.
func TestLargeBlueprintsStayFast(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("name: big\nentities:\n")
	for i := range 3000 {
		fmt.Fprintf(&sb, "  - {id: e%d, type: generic, command: [sleep, \"1\"]", i)
		if i > 0 {
			fmt.Fprintf(&sb, ", depends_on: [e%d]", i-1)
		}
		sb.WriteString("}\n")
	}
	start := time.Now()
	app, err := blueprints.Parse("big.yaml", []byte(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(app.Levels()); n != 3000 {
		t.Errorf("%d levels, want 3000", n)
	}
	order := app.TopoOrder()
	if order[0].ID != "e0" || order[2999].ID != "e2999" {
		t.Errorf("order starts %s ends %s", order[0].ID, order[2999].ID)
	}
	bad := "name: x\nentities:\n  - id: a\n    type: generic\n" + strings.Repeat("    # filler line\n", 20000) + "   count: [\n"
	_, err = blueprints.Parse("bad.yaml", []byte(bad))
	if err == nil {
		t.Fatal("no error for invalid YAML")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
