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
	"sort"
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
}

// Default container images of the third-party types.
var defaultImages = map[string]string{
	blueprints.TypeElasticsearch: "docker.elastic.co/elasticsearch/elasticsearch:8.15.3",
	blueprints.TypeKibana:        "docker.elastic.co/kibana/kibana:8.15.3",
	blueprints.TypeKafka:         "apache/kafka:3.8.1",
	blueprints.TypePrometheus:    "prom/prometheus:v2.54.1",
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
	switch e.Type {
	case blueprints.TypeSFlowCollector:
		b.collector()
	case blueprints.TypeSFlowAgent:
		b.agent()
	case blueprints.TypeIngest:
		b.ingest()
	case blueprints.TypeESExporter:
		b.esExporter()
	case blueprints.TypeElasticsearch:
		err = b.elasticsearch()
	case blueprints.TypeKafka:
		err = b.kafka()
	case blueprints.TypeKibana:
		err = b.kibana()
	case blueprints.TypePrometheus:
		err = b.prometheus()
	case blueprints.TypeGeneric:
		b.generic()
	default:
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

func (b *builder) collector() {
	port := b.e.Config.Int("port", DefaultSFlowPort)
	b.spec.Ports = []target.Port{{Name: "sflow", Static: port, Proto: "udp"}}
	b.metricsPort()
	args := []string{"collector", "--listen", "0.0.0.0:${port.sflow}", "--share-port", "--metrics", "0.0.0.0:${port.metrics}"}
	// Blueprints must give outputs (a collector writing to stdout would
	// only fill its log).
	for _, o := range b.e.Config.Strings("output") {
		args = append(args, "--output", b.output(o))
	}
	if t := b.e.Config.String("tenants", ""); t != "" {
		args = append(args, "--tenants", t)
	}
	b.elk(args...)
	b.resources(500, 256)
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

func (b *builder) agent() {
	dest := b.e.Config.String("address", "")
	if c := b.e.Config.String("collector", ""); c != "" {
		dest = b.addr(c, b.portOf(c, DefaultSFlowPort))
	}
	if dest == "" {
		dest = "127.0.0.1:" + strconv.Itoa(DefaultSFlowPort)
	}
	args := []string{"agent", "--target", dest}
	if r := b.e.Config.Int("rate", 0); r > 0 {
		args = append(args, "--rate", strconv.Itoa(r))
	}
	if n := b.e.Config.Int("agents", 0); n > 0 {
		args = append(args, "--agents", strconv.Itoa(n))
	}
	if sc := b.e.Config.String("scenario", ""); sc != "" {
		args = append(args, "--scenario", sc)
	}
	// The agent sends for --duration and exits; an entity runs until
	// stopped.
	args = append(args, "--duration", b.e.Config.Duration("duration", 8760*time.Hour).String())
	b.elk(args...)
	b.resources(200, 128)
}

func (b *builder) ingest() {
	b.spec.Ports = []target.Port{{Name: "metrics", Proto: "tcp"}}
	b.spec.Health = target.Health{HTTPPath: "/metrics", Port: "metrics", Interval: 5 * time.Second, Timeout: 2 * time.Second}
	topic := b.e.Config.String("topic", "flows")
	group := b.e.Config.String("group", discovery.ServiceName(b.app.Name, b.e.ID))
	k := b.e.Config.String("kafka", "kafka")
	es := b.e.Config.String("elasticsearch", "elasticsearch")
	b.elk("ingest",
		"--kafka", b.addr(k, b.portOf(k, DefaultKafkaPort))+"/"+topic,
		"--group", group,
		"--output", output.Spec{Kind: output.Elasticsearch, URL: "http://" + b.addr(es, b.portOf(es, DefaultElasticsearchPort))}.String(),
		"--metrics", "0.0.0.0:${port.metrics}")
	b.resources(300, 256)
}

func (b *builder) esExporter() {
	b.spec.Ports = []target.Port{{Name: "metrics", Proto: "tcp"}}
	b.spec.Health = target.Health{HTTPPath: "/metrics", Port: "metrics", Interval: 10 * time.Second, Timeout: 3 * time.Second}
	es := b.e.Config.String("elasticsearch", "elasticsearch")
	b.elk("agent", "es-exporter",
		"--es", "http://"+b.addr(es, b.portOf(es, DefaultElasticsearchPort)),
		"--listen", "0.0.0.0:${port.metrics}")
	b.resources(100, 64)
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
	img := defaultImages[typ]
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

func (b *builder) elasticsearch() error {
	port := b.e.Config.Int("port", DefaultElasticsearchPort)
	heap := b.e.Config.String("heap", "1g")
	b.spec.Ports = []target.Port{{Name: "http", Static: port, Proto: "tcp"}}
	b.spec.Health = target.Health{HTTPPath: "/_cluster/health", Port: "http", Interval: 10 * time.Second, Timeout: 5 * time.Second}
	b.spec.Env["ES_JAVA_OPTS"] = "-Xms" + heap + " -Xmx" + heap
	settings := []string{"discovery.type=single-node", "xpack.security.enabled=false",
		"cluster.name=" + discovery.ServiceName(b.app.Name, b.e.ID), "http.port=" + strconv.Itoa(port)}
	if b.local() {
		bin, err := b.installed("Elasticsearch", "elasticsearch")
		if err != nil {
			return err
		}
		b.spec.Command = []string{bin}
		for _, s := range settings {
			b.spec.Command = append(b.spec.Command, "-E", s)
		}
		b.spec.Command = append(b.spec.Command, "-E", "path.data="+b.dataDir())
	} else {
		b.spec.Image = b.image(blueprints.TypeElasticsearch)
		for _, s := range settings {
			k, v, _ := strings.Cut(s, "=")
			b.spec.Env[k] = v
		}
	}
	b.resources(1000, 2048)
	return nil
}

func (b *builder) kafka() error {
	port := b.e.Config.Int("port", DefaultKafkaPort)
	b.spec.Ports = []target.Port{{Name: "kafka", Static: port, Proto: "tcp"}, {Name: "controller", Proto: "tcp"}}
	b.spec.Health = target.Health{TCP: true, Port: "kafka", Interval: 10 * time.Second, Timeout: 3 * time.Second}
	host := b.opts.ServiceHost(b.app.Name, b.e.ID)
	props := map[string]string{
		"process.roles":                            "broker,controller",
		"node.id":                                  "1",
		"listeners":                                "PLAINTEXT://:" + strconv.Itoa(port) + ",CONTROLLER://:${port.controller}",
		"advertised.listeners":                     "PLAINTEXT://" + host + ":" + strconv.Itoa(port),
		"controller.listener.names":                "CONTROLLER",
		"controller.quorum.voters":                 "1@localhost:${port.controller}",
		"listener.security.protocol.map":           "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"offsets.topic.replication.factor":         "1",
		"transaction.state.log.replication.factor": "1",
		"num.partitions":                           strconv.Itoa(max(1, b.e.Config.Int("partitions", 3))),
		"auto.create.topics.enable":                "true",
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if b.local() {
		start, err := b.installed("Kafka", "kafka-server-start.sh", "kafka-server-start")
		if err != nil {
			return err
		}
		storage := filepath.Join(filepath.Dir(start), "kafka-storage.sh")
		if strings.HasSuffix(start, "kafka-server-start") {
			storage = filepath.Join(filepath.Dir(start), "kafka-storage")
		}
		dir := b.dataDir()
		var lines []string
		for _, k := range keys {
			lines = append(lines, k+"="+props[k])
		}
		lines = append(lines, "log.dirs="+dir+"/logs")
		script := `set -e; mkdir -p "$ELK_DIR"; printf '%s\n' "$ELK_PROPS" > "$ELK_DIR/server.properties"; ` +
			`"$ELK_STORAGE" format --ignore-formatted -t "$("$ELK_STORAGE" random-uuid)" -c "$ELK_DIR/server.properties"; ` +
			`exec "$ELK_START" "$ELK_DIR/server.properties"`
		b.spec.Command = []string{"/bin/sh", "-c", script}
		b.spec.Env["ELK_DIR"] = dir
		b.spec.Env["ELK_PROPS"] = strings.Join(lines, "\n")
		b.spec.Env["ELK_STORAGE"] = storage
		b.spec.Env["ELK_START"] = start
	} else {
		b.spec.Image = b.image(blueprints.TypeKafka)
		for _, k := range keys {
			b.spec.Env["KAFKA_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = props[k]
		}
	}
	b.resources(1000, 1024)
	return nil
}

func (b *builder) kibana() error {
	port := b.e.Config.Int("port", DefaultKibanaPort)
	es := b.e.Config.String("elasticsearch", "elasticsearch")
	esURL := "http://" + b.addr(es, b.portOf(es, DefaultElasticsearchPort))
	b.spec.Ports = []target.Port{{Name: "http", Static: port, Proto: "tcp"}}
	b.spec.Health = target.Health{HTTPPath: "/api/status", Port: "http", Interval: 10 * time.Second, Timeout: 5 * time.Second}
	if b.local() {
		bin, err := b.installed("Kibana", "kibana")
		if err != nil {
			return err
		}
		b.spec.Command = []string{bin, "--elasticsearch.hosts=" + esURL, "--server.port=" + strconv.Itoa(port), "--server.host=0.0.0.0"}
	} else {
		b.spec.Image = b.image(blueprints.TypeKibana)
		b.spec.Env["ELASTICSEARCH_HOSTS"] = esURL
		b.spec.Env["SERVER_PORT"] = strconv.Itoa(port)
	}
	b.resources(500, 1024)
	return nil
}

// prometheusConfig scrapes the application's elk entities: through Consul
// service discovery on Nomad, through the registry's HTTP service
// discovery endpoint on the local target (GET
// ${registry}/v1/registry/prometheus/SERVICE?port=metrics, answering
// Prometheus HTTP SD JSON).
func (b *builder) prometheusConfig() string {
	scrape := b.e.Config.Strings("scrape")
	if len(scrape) == 0 {
		for _, o := range b.app.Entities {
			switch o.Type {
			case blueprints.TypeSFlowCollector, blueprints.TypeIngest, blueprints.TypeESExporter:
				scrape = append(scrape, o.ID)
			}
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "global:\n  scrape_interval: 10s\n  external_labels:\n    app: %s\nscrape_configs:\n", b.app.Name)
	fmt.Fprintf(&sb, "  - job_name: prometheus\n    static_configs:\n      - targets: ['localhost:%d']\n", b.e.Config.Int("port", DefaultPrometheusPort))
	for _, id := range scrape {
		svc := discovery.ServiceName(b.app.Name, id)
		fmt.Fprintf(&sb, "  - job_name: %s\n", id)
		if b.local() {
			fmt.Fprintf(&sb, "    http_sd_configs:\n      - url: '${registry}/v1/registry/prometheus/%s?port=metrics'\n", svc)
		} else {
			fmt.Fprintf(&sb, "    consul_sd_configs:\n      - server: '${attr.unique.network.ip-address}:8500'\n        services: ['%s']\n", svc)
		}
	}
	return sb.String()
}

func (b *builder) prometheus() error {
	port := b.e.Config.Int("port", DefaultPrometheusPort)
	b.spec.Ports = []target.Port{{Name: "http", Static: port, Proto: "tcp"}}
	b.spec.Health = target.Health{HTTPPath: "/-/ready", Port: "http", Interval: 10 * time.Second, Timeout: 3 * time.Second}
	retention := b.e.Config.Duration("retention", 15*24*time.Hour)
	flags := []string{"--web.listen-address=:" + strconv.Itoa(port), "--storage.tsdb.retention.time=" + promDuration(retention)}
	b.spec.Env["ELK_PROMETHEUS_CONFIG"] = b.prometheusConfig()
	dir := "${NOMAD_TASK_DIR}"
	bin := "prometheus"
	if b.local() {
		var err error
		if bin, err = b.installed("Prometheus", "prometheus"); err != nil {
			return err
		}
		dir = b.dataDir()
	} else {
		b.spec.Image = b.image(blueprints.TypePrometheus)
	}
	flags = append(flags, "--config.file="+dir+"/prometheus.yml", "--storage.tsdb.path="+dir+"/data")
	script := `set -e; mkdir -p "$ELK_DIR"; printf '%s\n' "$ELK_PROMETHEUS_CONFIG" > "$ELK_DIR/prometheus.yml"; exec "$ELK_BIN" "$@"`
	b.spec.Env["ELK_DIR"] = dir
	b.spec.Env["ELK_BIN"] = bin
	b.spec.Command = append([]string{"/bin/sh", "-c", script, "prometheus"}, flags...)
	b.resources(500, 512)
	return nil
}

// promDuration formats d in Prometheus' duration syntax.
func promDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case d%time.Hour == 0:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
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
