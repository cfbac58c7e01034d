package catalog

import (
	"errors"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/orchestrator/target"
)

func load(t *testing.T, name string) *blueprints.Application {
	t.Helper()
	app, err := blueprints.Load(filepath.Join("..", "..", "blueprints", "library", name))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func find(specs []target.Spec, entity string) target.Spec {
	for _, s := range specs {
		if s.Entity == entity {
			return s
		}
	}
	return target.Spec{}
}

func noneInstalled(string) (string, error) { return "", exec.ErrNotFound }

func TestLibraryOnNomad(t *testing.T) {
	for _, name := range []string{"sflow-stack.yaml", "tenant-stack.yaml", "local-demo.yaml"} {
		t.Run(name, func(t *testing.T) {
			app := load(t, name)
			specs, err := Specs(app, Options{Target: blueprints.TargetNomad, ElkBinary: "/usr/local/bin/elk", LookPath: noneInstalled})
			if err != nil {
				t.Fatal(err)
			}
			if len(specs) != len(app.Entities) {
				t.Fatalf("%d specs for %d entities", len(specs), len(app.Entities))
			}
			for i, s := range specs {
				if s.App != app.Name || s.Count != app.TopoOrder()[i].Count {
					t.Errorf("spec %d: %s/%s count %d, out of order or wrong", i, s.App, s.Entity, s.Count)
				}
				if len(s.Command) == 0 && s.Image == "" {
					t.Errorf("%s: neither command nor image", s.Entity)
				}
				if !slices.Contains(s.Tags, "app="+app.Name) || !slices.Contains(s.Tags, "entity="+s.Entity) {
					t.Errorf("%s: tags %v lack app= and entity=", s.Entity, s.Tags)
				}
				if (s.Health.HTTPPath != "" || s.Health.TCP) && !slices.ContainsFunc(s.Ports, func(p target.Port) bool { return p.Name == s.Health.Port }) {
					t.Errorf("%s: health check on unknown port %q", s.Entity, s.Health.Port)
				}
			}
		})
	}
}

func TestSFlowStackSpecs(t *testing.T) {
	app := load(t, "sflow-stack.yaml")
	specs, err := Specs(app, Options{ElkBinary: "/opt/elk"})
	if err != nil {
		t.Fatal(err)
	}
	c := find(specs, "collector")
	want := []string{"/opt/elk", "collector", "--listen", "0.0.0.0:${port.sflow}", "--share-port", "--metrics", "0.0.0.0:${port.metrics}",
		"--output", "kafka:sflow-kafka.service.consul:9092/flows"}
	if !slices.Equal(c.Command, want) {
		t.Errorf("collector command\n got  %q\n want %q", c.Command, want)
	}
	if c.Ports[0] != (target.Port{Name: "sflow", Static: 6343, Proto: "udp"}) || c.Health.HTTPPath != "/healthz" {
		t.Errorf("collector ports %+v health %+v", c.Ports, c.Health)
	}
	if c.Meta[MetaScaleMin] != "1" || c.Meta[MetaScaleMax] != "8" || c.CPUMHz != 500 || c.MemoryMB != 256 {
		t.Errorf("collector meta %v resources %d/%d", c.Meta, c.CPUMHz, c.MemoryMB)
	}
	es := find(specs, "elasticsearch")
	if !strings.HasPrefix(es.Image, "docker.elastic.co/elasticsearch/elasticsearch:") || es.Env["discovery.type"] != "single-node" {
		t.Errorf("elasticsearch image %q env %v", es.Image, es.Env)
	}
	if es.Env["ES_JAVA_OPTS"] != "-Xms1g -Xmx1g" || es.MemoryMB != 2048 {
		t.Errorf("elasticsearch heap %q memory %d", es.Env["ES_JAVA_OPTS"], es.MemoryMB)
	}
	a := find(specs, "agent")
	if !slices.Equal(a.Command[:4], []string{"/opt/elk", "agent", "--target", "sflow-collector.service.consul:6343"}) {
		t.Errorf("agent command %q", a.Command)
	}
	in := find(specs, "ingest")
	if !slices.Contains(in.Command, "elasticsearch:http://sflow-elasticsearch.service.consul:9200") ||
		!slices.Contains(in.Command, "sflow-kafka.service.consul:9092/flows") || in.Count != 2 {
		t.Errorf("ingest command %q count %d", in.Command, in.Count)
	}
	p := find(specs, "prometheus")
	if cfg := p.Env["ELK_PROMETHEUS_CONFIG"]; !strings.Contains(cfg, "services: ['sflow-collector']") || strings.Contains(cfg, "sflow-kibana") {
		t.Errorf("prometheus config:\n%s", cfg)
	}
}

func TestLocalDemo(t *testing.T) {
	app := load(t, "local-demo.yaml")
	specs, err := Specs(app, Options{LookPath: noneInstalled})
	if err != nil {
		t.Fatalf("the local demo must need nothing installed: %v", err)
	}
	c := find(specs, "collector")
	if c.Command[0] != "elk" || !slices.Contains(c.Command, "file:flows.ndjson") {
		t.Errorf("collector command %q", c.Command)
	}
	a := find(specs, "agent")
	if !slices.Contains(a.Command, "127.0.0.1:6343") || !slices.Contains(a.Command, "8760h0m0s") {
		t.Errorf("agent command %q", a.Command)
	}
}

func TestLocalThirdParty(t *testing.T) {
	app := load(t, "sflow-stack.yaml")
	_, err := Specs(app, Options{Target: blueprints.TargetLocal, LookPath: noneInstalled})
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("got %v, want ErrMissing", err)
	}
	for _, what := range []string{"Elasticsearch", "Kafka", "Kibana", "Prometheus"} {
		if !strings.Contains(err.Error(), what+" is not installed on this machine") {
			t.Errorf("error does not name %s:\n%v", what, err)
		}
	}
	if !strings.Contains(err.Error(), "library/sflow-stack.yaml:10:5: entity \"elasticsearch\"") {
		t.Errorf("error lacks the entity position:\n%v", err)
	}

	installed := func(name string) (string, error) { return "/opt/bin/" + name, nil }
	specs, err := Specs(app, Options{Target: blueprints.TargetLocal, LookPath: installed, DataDir: "/var/lib/elk"})
	if err != nil {
		t.Fatal(err)
	}
	es := find(specs, "elasticsearch")
	if es.Command[0] != "/opt/bin/elasticsearch" || !slices.Contains(es.Command, "path.data=/var/lib/elk/sflow-elasticsearch-${instance}") {
		t.Errorf("elasticsearch command %q", es.Command)
	}
	k := find(specs, "kafka")
	if k.Command[0] != "/bin/sh" || k.Env["ELK_START"] != "/opt/bin/kafka-server-start.sh" || !strings.Contains(k.Env["ELK_PROPS"], "listeners=PLAINTEXT://:9092") {
		t.Errorf("kafka spec %q %v", k.Command, k.Env)
	}
	if p := find(specs, "prometheus"); !strings.Contains(p.Env["ELK_PROMETHEUS_CONFIG"], "${registry}") {
		t.Errorf("local prometheus config:\n%s", p.Env["ELK_PROMETHEUS_CONFIG"])
	}
}

func TestGenericAndOverrides(t *testing.T) {
	app, err := blueprints.Parse("x.yaml", []byte(`name: web
tenants: [acme]
entities:
  - id: api
    type: generic
    tenant: acme
    command: [python3, -m, http.server, "${port.http}"]
    ports: [{name: http}]
    health: {http: /, interval: 3s}
    resources: {memory_mb: 64}
    env: {A: b}
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Spec(app, app.Entity("api"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Health.HTTPPath != "/" || s.Health.Port != "http" || s.Health.Interval.Seconds() != 3 {
		t.Errorf("health %+v", s.Health)
	}
	if s.MemoryMB != 64 || s.CPUMHz != 100 || s.Env["A"] != "b" || s.Meta["tenant"] != "acme" || !slices.Contains(s.Tags, "tenant=acme") {
		t.Errorf("spec %+v", s)
	}
}

// TestDashedAppNamesStayApart: app "web" entity "api-db" and app "web-api"
// entity "db" used to share "web-api-db" as Consul DNS name, Elasticsearch
// cluster name and data directory; every name the catalog derives from an
// entity now comes from discovery.ServiceName and differs.
func TestDashedAppNamesStayApart(t *testing.T) {
	bp := func(app, es string) *blueprints.Application {
		a, err := blueprints.Parse(app+".yaml", []byte(`name: `+app+`
entities:
  - id: `+es+`
    type: elasticsearch
  - id: ui
    type: kibana
    config: {elasticsearch: `+es+`}
  - id: kafka
    type: kafka
  - id: ingest
    type: ingest
    config: {elasticsearch: `+es+`}
  - id: metrics
    type: prometheus
    config: {scrape: [ingest]}
`))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	web, webAPI := bp("web", "api-db"), bp("web-api", "db")
	installed := func(name string) (string, error) { return "/opt/bin/" + name, nil }
	for _, tc := range []struct {
		name       string
		opts       Options
		web, other []string // fragments of the specs of web's and web-api's entities
	}{
		{"nomad", Options{Target: blueprints.TargetNomad, ElkBinary: "/opt/elk"},
			[]string{"web-api-db.service.consul:9200", "cluster.name=web-api-db", "--group web-ingest", "services: ['web-ingest']"},
			[]string{"web--api-db.service.consul:9200", "cluster.name=web--api-db", "--group web--api-ingest", "services: ['web--api-ingest']"}},
		{"local", Options{Target: blueprints.TargetLocal, ElkBinary: "/opt/elk", LookPath: installed, DataDir: "/var/lib/elk"},
			[]string{"path.data=/var/lib/elk/web-api-db-${instance}", "cluster.name=web-api-db", "/var/lib/elk/web-kafka-${instance}/logs", "prometheus/web-ingest?"},
			[]string{"path.data=/var/lib/elk/web--api-db-${instance}", "cluster.name=web--api-db", "/var/lib/elk/web--api-kafka-${instance}/logs", "prometheus/web--api-ingest?"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := func(app *blueprints.Application) string {
				specs, err := Specs(app, tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				var sb strings.Builder
				for _, s := range specs {
					sb.WriteString(strings.Join(s.Command, " ") + "\n")
					for _, k := range slices.Sorted(maps.Keys(s.Env)) {
						sb.WriteString(k + "=" + s.Env[k] + "\n")
					}
				}
				return sb.String()
			}
			a, b := text(web), text(webAPI)
			for _, w := range tc.web {
				if !strings.Contains(a, w) {
					t.Errorf("web's specs lack %q:\n%s", w, a)
				}
			}
			for _, w := range tc.other {
				if !strings.Contains(b, w) {
					t.Errorf("web-api's specs lack %q:\n%s", w, b)
				}
			}
		})
	}
}
