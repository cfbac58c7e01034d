package catalog

import (
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/orchestrator/target"
)

// TypeKafka is the kafka entity type.
const TypeKafka = "kafka"

func init() {
	register(Type{
		Info: blueprints.TypeInfo{Name: TypeKafka, Help: "Apache Kafka broker", Third: true, Config: map[string]blueprints.Field{
			"port":       {Kind: blueprints.KindPort, Help: "broker port (default 9092)"},
			"topics":     {Kind: blueprints.KindStrings, Help: "topics to create"},
			"partitions": {Kind: blueprints.KindInt, Help: "partitions per topic"},
			"version":    {Kind: blueprints.KindString, Help: "image tag"},
		}},
		Build: (*builder).kafka,
		Image: "apache/kafka:3.8.1",
	})
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
		b.spec.Image = b.image(TypeKafka)
		for _, k := range keys {
			b.spec.Env["KAFKA_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = props[k]
		}
	}
	b.resources(1000, 1024)
	return nil
}
