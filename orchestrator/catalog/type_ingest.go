package catalog

import (
	"time"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/collector/output"
	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/target"
)

// TypeIngest is the ingest entity type.
const TypeIngest = "ingest"

func init() {
	register(Type{
		Info: blueprints.TypeInfo{Name: TypeIngest, Help: "Kafka to Elasticsearch ingest worker (elk ingest)", Config: map[string]blueprints.Field{
			"kafka":         {Kind: blueprints.KindRef, Help: "Kafka entity to consume from"},
			"elasticsearch": {Kind: blueprints.KindRef, Help: "Elasticsearch entity to write to"},
			"topic":         {Kind: blueprints.KindString, Help: "Kafka topic (default flows)"},
			"group":         {Kind: blueprints.KindString, Help: "consumer group (default: the entity's service name, <app>-<entity> with each - of <app> doubled)"},
			"extra_args":    {Kind: blueprints.KindStrings, Help: "additional command-line arguments"},
		}},
		Build:   func(b *builder) error { b.ingest(); return nil },
		Scraped: true,
	})
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
