package catalog

import (
	"time"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/orchestrator/target"
)

// TypeESExporter is the es-exporter entity type.
const TypeESExporter = "es-exporter"

func init() {
	register(Type{
		Info: blueprints.TypeInfo{Name: TypeESExporter, Help: "Elasticsearch metrics exporter (elk agent es-exporter)", Config: map[string]blueprints.Field{
			"elasticsearch": {Kind: blueprints.KindRef, Help: "Elasticsearch entity to watch"},
			"extra_args":    {Kind: blueprints.KindStrings, Help: "additional command-line arguments"},
		}},
		Build:   func(b *builder) error { b.esExporter(); return nil },
		Scraped: true,
	})
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
