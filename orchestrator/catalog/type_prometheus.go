package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/target"
)

// TypePrometheus is the prometheus entity type.
const TypePrometheus = "prometheus"

func init() {
	register(Type{
		Info: blueprints.TypeInfo{Name: TypePrometheus, Help: "Prometheus server scraping the application", Third: true, Config: map[string]blueprints.Field{
			"scrape":    {Kind: blueprints.KindRefs, Help: "entities to scrape (default: every elk entity)"},
			"port":      {Kind: blueprints.KindPort, Help: "HTTP port (default 9090)"},
			"retention": {Kind: blueprints.KindDuration, Help: "how long samples are kept"},
			"version":   {Kind: blueprints.KindString, Help: "image tag"},
		}},
		Build: (*builder).prometheus,
		Image: "prom/prometheus:v2.54.1",
	})
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
		b.spec.Image = b.image(TypePrometheus)
	}
	flags = append(flags, "--config.file="+dir+"/prometheus.yml", "--storage.tsdb.path="+dir+"/data")
	script := `set -e; mkdir -p "$ELK_DIR"; printf '%s\n' "$ELK_PROMETHEUS_CONFIG" > "$ELK_DIR/prometheus.yml"; exec "$ELK_BIN" "$@"`
	b.spec.Env["ELK_DIR"] = dir
	b.spec.Env["ELK_BIN"] = bin
	b.spec.Command = append([]string{"/bin/sh", "-c", script, "prometheus"}, flags...)
	b.resources(500, 512)
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
			case TypeSFlowCollector, TypeIngest, TypeESExporter:
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
