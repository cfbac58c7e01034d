// Package catalog knows how each built-in blueprint entity type runs: the
// command or container image, the ports, the health check, the resources and
// the tags that turn a blueprint entity into a target.Spec. elk's own
// components (collector, agent, ingest, es-exporter) run from the elk binary;
// third-party software (Elasticsearch, Kafka, Kibana, Prometheus) runs from a
// container image on Nomad or from a command installed on this machine for
// the local target.
package catalog

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/collector/output"
	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/target"
)

// ErrMissing is wrapped by errors saying that software an entity needs is
// not installed on this machine.
var ErrMissing = errors.New("not installed")

// Options say where the specs will run.
type Options struct {
	// Target is "local" or "nomad"; empty means the application's target.
	Target string
	// ElkBinary is the command that runs elk's own components. Default
	// "elk" (the local target substitutes its own executable); on Nomad it
	// must be the path of the elk binary on the client nodes.
	ElkBinary string
	// LookPath finds installed commands for third-party types on the local
	// target; default exec.LookPath.
	LookPath func(file string) (string, error)
	// DataDir is where local third-party software keeps its data and where
	// relative file outputs go; default "." (the instance's directory).
	DataDir string
	// ServiceHost returns the host at which an entity's instances are
	// reached from other entities. Default: 127.0.0.1 on the local target,
	// the Consul DNS name of the entity's service,
	// discovery.ServiceName(app, entity)+".service.consul", on Nomad.
	ServiceHost func(app, entity string) string
	// Images overrides the default container image per type.
	Images map[string]string
	// TenantTable is the tenant table the server writes from its tenant
	// records (local target); collectors without config.tenants read it.
	TenantTable string
}

// Default ports of the types whose port is fixed.
const (
	DefaultSFlowPort         = 6343
	DefaultElasticsearchPort = 9200
	DefaultKafkaPort         = 9092
	DefaultKibanaPort        = 5601
	DefaultPrometheusPort    = 9090
)

func (o Options) withDefaults(app *blueprints.Application) Options {
	if o.Target == "" {
		o.Target = app.Target
	}
	if o.Target == "" {
		o.Target = blueprints.TargetLocal
	}
	if o.ElkBinary == "" {
		o.ElkBinary = "elk"
	}
	if o.LookPath == nil {
		o.LookPath = exec.LookPath
	}
	if o.DataDir == "" {
		o.DataDir = "."
	}
	if o.ServiceHost == nil {
		if o.Target == blueprints.TargetNomad {
			o.ServiceHost = func(app, entity string) string {
				return discovery.ServiceName(app, entity) + ".service.consul"
			}
		} else {
			o.ServiceHost = func(string, string) string { return "127.0.0.1" }
		}
	}
	return o
}

// Specs returns the specs of every entity of app in start order. All
// problems are reported at once.
func Specs(app *blueprints.Application, opts Options) ([]target.Spec, error) {
	var out []target.Spec
	var errs []error
	for _, e := range app.TopoOrder() {
		s, err := Spec(app, e, opts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Spec returns the target spec of entity e of app.
func Spec(app *blueprints.Application, e *blueprints.Entity, opts Options) (target.Spec, error) {
	opts = opts.withDefaults(app)
	b := &builder{app: app, e: e, opts: opts, spec: target.Spec{
		App:    app.Name,
		Entity: e.ID,
		Type:   e.Type,
		Count:  e.Count,
		Env:    map[string]string{},
		Meta:   map[string]string{"app": app.Name, "entity": e.ID, "type": e.Type},
		Tags:   []string{"app=" + app.Name, "entity=" + e.ID, "type=" + e.Type},
	}}
	if e.Tenant != "" {
		b.spec.Tags = append(b.spec.Tags, "tenant="+e.Tenant)
		b.spec.Meta["tenant"] = e.Tenant
	}
	var err error
	if e.Type == blueprints.TypeGeneric {
		b.generic()
	} else if t, ok := types[e.Type]; ok {
		err = t.Build(b)
	} else {
		err = fmt.Errorf("unknown type %q", e.Type)
	}
	if err != nil {
		return target.Spec{}, fmt.Errorf("%s: entity %q (%s): %w", e.Pos, e.ID, e.Type, err)
	}
	b.overrides()
	if lo, hi, ok := scaleBounds(e); ok {
		b.spec.Meta[MetaScaleMin] = strconv.Itoa(lo)
		b.spec.Meta[MetaScaleMax] = strconv.Itoa(hi)
	}
	return b.spec, nil
}

// Meta keys carrying the bounds of an entity's scaling policies, used by
// targets with a scaling block (Nomad).
const (
	MetaScaleMin = "scale_min"
	MetaScaleMax = "scale_max"
)

// scaleBounds is the range every policy of e allows.
func scaleBounds(e *blueprints.Entity) (lo, hi int, ok bool) {
	if len(e.Scaling) == 0 {
		return 0, 0, false
	}
	lo, hi = 0, blueprints.MaxCount
	for _, p := range e.Scaling {
		lo = max(lo, p.Min)
		hi = min(hi, p.Max)
	}
	return lo, hi, lo <= hi
}

type builder struct {
	app  *blueprints.Application
	e    *blueprints.Entity
	opts Options
	spec target.Spec
}

func (b *builder) local() bool { return b.opts.Target != blueprints.TargetNomad }

// addr is host:port of another entity's fixed port.
func (b *builder) addr(entity string, port int) string {
	return b.opts.ServiceHost(b.app.Name, entity) + ":" + strconv.Itoa(port)
}

// portOf is the fixed port of a referenced entity.
func (b *builder) portOf(entity string, def int) int {
	if o := b.app.Entity(entity); o != nil {
		return o.Config.Int("port", def)
	}
	return def
}

func (b *builder) elk(args ...string) {
	b.spec.Command = append([]string{b.opts.ElkBinary}, args...)
	b.spec.Command = append(b.spec.Command, b.e.Config.Strings("extra_args")...)
}

func (b *builder) metricsPort() {
	b.spec.Ports = append(b.spec.Ports, target.Port{Name: "metrics", Proto: "tcp"})
	b.spec.Health = target.Health{HTTPPath: "/healthz", Port: "metrics", Interval: 5 * time.Second, Timeout: 2 * time.Second}
}

func (b *builder) resources(cpu, mem int) {
	b.spec.CPUMHz, b.spec.MemoryMB = cpu, mem
}

// output turns a blueprint output into the collector's --output value:
// kafka:ENTITY[/TOPIC] and elasticsearch:ENTITY naming an entity of the
// application become its address; a relative file path on the local
// target lands in the data directory; credentials in an Elasticsearch URL
// move into the spec's secrets. A value that does not parse is passed on
// as it is, for the collector to refuse.
func (b *builder) output(o string) string {
	if kind, ent, topic, ok := output.Ref(o); ok && b.app.Entity(ent) != nil {
		if kind == output.Kafka {
			if topic == "" {
				topic = "flows"
			}
			return output.Spec{Kind: output.Kafka, Brokers: []string{b.addr(ent, b.portOf(ent, DefaultKafkaPort))}, Topic: topic}.String()
		}
		return output.Spec{Kind: output.Elasticsearch, URL: "http://" + b.addr(ent, b.portOf(ent, DefaultElasticsearchPort))}.String()
	}
	spec, err := output.Parse(o)
	if err != nil {
		return o
	}
	switch spec.Kind {
	case output.File:
		if !filepath.IsAbs(spec.Path) && b.local() && b.opts.DataDir != "." {
			spec.Path = filepath.Join(b.opts.DataDir, spec.Path)
		}
	case output.Elasticsearch:
		spec = b.credentialsToSecrets(spec)
	}
	return spec.String()
}

// credentialsToSecrets moves user:password out of an Elasticsearch URL into
// the spec's secrets (ELASTICSEARCH_USERNAME, ELASTICSEARCH_PASSWORD, which
// the sink reads from its environment), so they never appear on a command
// line (ps), in a Nomad job's arguments or in a state file in the clear.
// One set of credentials per entity: a second, different one stays in its
// URL.
func (b *builder) credentialsToSecrets(spec output.Spec) output.Spec {
	user, pass, ok := spec.Credentials()
	if !ok {
		return spec
	}
	sec := b.spec.Secrets
	if (sec["ELASTICSEARCH_USERNAME"] != "" && sec["ELASTICSEARCH_USERNAME"] != user) ||
		(sec["ELASTICSEARCH_PASSWORD"] != "" && sec["ELASTICSEARCH_PASSWORD"] != pass) {
		return spec
	}
	if sec == nil {
		sec = map[string]string{}
		b.spec.Secrets = sec
	}
	sec["ELASTICSEARCH_USERNAME"] = user
	if pass != "" {
		sec["ELASTICSEARCH_PASSWORD"] = pass
	}
	return spec.WithoutCredentials()
}

// installed finds one of names on the local machine.
func (b *builder) installed(what string, names ...string) (string, error) {
	for _, n := range names {
		if p, err := b.opts.LookPath(n); err == nil {
			return p, nil
		}
	}
	found := "`" + names[0] + "` is not in PATH"
	if len(names) > 1 {
		found = "none of `" + strings.Join(names, "`, `") + "` is in PATH"
	}
	return "", fmt.Errorf("%s is %w on this machine: %s (install it, or deploy with target: nomad to run the %s image)",
		what, ErrMissing, found, b.image(b.e.Type))
}

func (b *builder) image(typ string) string {
	if b.e.Image != "" {
		return b.e.Image
	}
	if img, ok := b.opts.Images[typ]; ok {
		return img
	}
	img := types[typ].Image
	if v := b.e.Config.String("version", ""); v != "" {
		if i := strings.LastIndex(img, ":"); i > 0 {
			img = img[:i+1] + v
		}
	}
	return img
}

func (b *builder) dataDir() string {
	return filepath.Join(b.opts.DataDir, discovery.ServiceName(b.app.Name, b.e.ID)+"-${instance}")
}

func (b *builder) generic() {
	b.spec.Command = append([]string(nil), b.e.Command...)
	b.spec.Image = b.e.Image
	for _, p := range b.e.Ports {
		b.spec.Ports = append(b.spec.Ports, target.Port{Name: p.Name, Static: p.Static, Proto: p.Proto})
	}
	b.resources(100, 128)
}

// overrides applies what the blueprint sets explicitly.
func (b *builder) overrides() {
	e := b.e
	if e.Resources.CPU > 0 {
		b.spec.CPUMHz = e.Resources.CPU
	}
	if e.Resources.MemoryMB > 0 {
		b.spec.MemoryMB = e.Resources.MemoryMB
	}
	for k, v := range e.Env {
		b.spec.Env[k] = v
	}
	if h := e.Health; h != nil {
		hh := &b.spec.Health
		if h.HTTP != "" {
			hh.HTTPPath, hh.TCP = h.HTTP, false
		}
		if h.TCP {
			hh.TCP, hh.HTTPPath = true, ""
		}
		if h.Port != "" {
			hh.Port = h.Port
		}
		if hh.Port == "" && len(b.spec.Ports) > 0 && (hh.HTTPPath != "" || hh.TCP) {
			hh.Port = b.spec.Ports[0].Name
		}
		if h.Interval > 0 {
			hh.Interval = h.Interval
		}
		if h.Timeout > 0 {
			hh.Timeout = h.Timeout
		}
	}
}
