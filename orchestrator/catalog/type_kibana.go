package catalog

import (
	"strconv"
	"time"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/orchestrator/target"
)

// TypeKibana is the kibana entity type.
const TypeKibana = "kibana"

func init() {
	register(Type{
		Info: blueprints.TypeInfo{Name: TypeKibana, Help: "Kibana UI", Third: true, Config: map[string]blueprints.Field{
			"elasticsearch": {Kind: blueprints.KindRef, Help: "Elasticsearch entity Kibana reads"},
			"port":          {Kind: blueprints.KindPort, Help: "HTTP port (default 5601)"},
			"version":       {Kind: blueprints.KindString, Help: "image tag"},
		}},
		Build: (*builder).kibana,
		Image: "docker.elastic.co/kibana/kibana:8.15.3",
	})
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
		b.spec.Image = b.image(TypeKibana)
		b.spec.Env["ELASTICSEARCH_HOSTS"] = esURL
		b.spec.Env["SERVER_PORT"] = strconv.Itoa(port)
	}
	b.resources(500, 1024)
	return nil
}
