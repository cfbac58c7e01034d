package catalog

import (
	"strconv"
	"strings"
	"time"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/target"
)

// TypeElasticsearch is the elasticsearch entity type.
const TypeElasticsearch = "elasticsearch"

func init() {
	register(Type{
		Info: blueprints.TypeInfo{Name: TypeElasticsearch, Help: "Elasticsearch node", Third: true, Config: map[string]blueprints.Field{
			"port":    {Kind: blueprints.KindPort, Help: "HTTP port (default 9200)"},
			"heap":    {Kind: blueprints.KindString, Help: "JVM heap, e.g. 1g"},
			"version": {Kind: blueprints.KindString, Help: "image tag"},
		}},
		Build: (*builder).elasticsearch,
		Image: "docker.elastic.co/elasticsearch/elasticsearch:8.15.3",
	})
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
		b.spec.Image = b.image(TypeElasticsearch)
		for _, s := range settings {
			k, v, _ := strings.Cut(s, "=")
			b.spec.Env[k] = v
		}
	}
	b.resources(1000, 2048)
	return nil
}
