package blueprints

import "sort"

// Built-in entity types.
const (
	TypeSFlowCollector = "sflow-collector"
	TypeSFlowAgent     = "sflow-agent"
	TypeKafka          = "kafka"
	TypeElasticsearch  = "elasticsearch"
	TypeKibana         = "kibana"
	TypePrometheus     = "prometheus"
	TypeESExporter     = "es-exporter"
	TypeIngest         = "ingest"
	TypeGeneric        = "generic"
)

// Kind is the expected shape of a config value.
type Kind int

// Config value kinds.
const (
	KindString    Kind = iota
	KindInt            // an integer
	KindPort           // an integer in 1..65535
	KindBool           // true or false
	KindDuration       // a Go duration such as 10s
	KindStrings        // a string or a list of strings
	KindStringMap      // a mapping of strings to strings
	KindRef            // the id of another entity of the application
	KindRefs           // a list of entity ids
	KindAny            // any YAML value
)

func (k Kind) String() string {
	return [...]string{"a string", "an integer", "a port number", "true or false", "a duration",
		"a string or a list of strings", "a mapping of strings", "an entity id", "a list of entity ids",
		"any value"}[k]
}

// Field describes one config key of a type.
type Field struct {
	Kind Kind
	Help string
}

// TypeInfo describes a built-in entity type.
type TypeInfo struct {
	Name string
	Help string
	// Third says the type is third-party software (run from an image or
	// an installed command) rather than part of the elk binary.
	Third  bool
	Config map[string]Field
	// Required are the config keys an entity of the type must set.
	Required []string
}

var types = map[string]TypeInfo{
	TypeSFlowCollector: {Name: TypeSFlowCollector, Help: "elk sFlow collector (elk collector)", Config: map[string]Field{
		"port":       {KindPort, "UDP port the collector listens on (default 6343); shared by all instances"},
		"output":     {KindStrings, "outputs: file:PATH, stdout, kafka:ENTITY[/TOPIC], elasticsearch:ENTITY"},
		"tenants":    {KindString, "tenant table YAML file (reloaded when it changes)"},
		"metrics":    {KindBool, "serve Prometheus metrics on a per-instance port (default true)"},
		"extra_args": {KindStrings, "additional command-line arguments"},
	}, Required: []string{"output"}},
	TypeSFlowAgent: {Name: TypeSFlowAgent, Help: "synthetic sFlow traffic generator (elk agent)", Config: map[string]Field{
		"collector":  {KindRef, "entity receiving the datagrams"},
		"address":    {KindString, "host:port receiving the datagrams, instead of collector"},
		"rate":       {KindInt, "samples per second"},
		"agents":     {KindInt, "number of simulated sFlow agents"},
		"scenario":   {KindString, "rate shape over time: steady, spike, ramp or diurnal"},
		"duration":   {KindDuration, "how long each run sends (default 8760h: until stopped)"},
		"extra_args": {KindStrings, "additional command-line arguments"},
	}},
	TypeIngest: {Name: TypeIngest, Help: "Kafka to Elasticsearch ingest worker (elk ingest)", Config: map[string]Field{
		"kafka":         {KindRef, "Kafka entity to consume from"},
		"elasticsearch": {KindRef, "Elasticsearch entity to write to"},
		"topic":         {KindString, "Kafka topic (default flows)"},
		"group":         {KindString, "consumer group (default: the entity's service name, <app>-<entity> with each - of <app> doubled)"},
		"extra_args":    {KindStrings, "additional command-line arguments"},
	}},
	TypeESExporter: {Name: TypeESExporter, Help: "Elasticsearch metrics exporter (elk agent es-exporter)", Config: map[string]Field{
		"elasticsearch": {KindRef, "Elasticsearch entity to watch"},
		"extra_args":    {KindStrings, "additional command-line arguments"},
	}},
	TypeKafka: {Name: TypeKafka, Help: "Apache Kafka broker", Third: true, Config: map[string]Field{
		"port":       {KindPort, "broker port (default 9092)"},
		"topics":     {KindStrings, "topics to create"},
		"partitions": {KindInt, "partitions per topic"},
		"version":    {KindString, "image tag"},
	}},
	TypeElasticsearch: {Name: TypeElasticsearch, Help: "Elasticsearch node", Third: true, Config: map[string]Field{
		"port":    {KindPort, "HTTP port (default 9200)"},
		"heap":    {KindString, "JVM heap, e.g. 1g"},
		"version": {KindString, "image tag"},
	}},
	TypeKibana: {Name: TypeKibana, Help: "Kibana UI", Third: true, Config: map[string]Field{
		"elasticsearch": {KindRef, "Elasticsearch entity Kibana reads"},
		"port":          {KindPort, "HTTP port (default 5601)"},
		"version":       {KindString, "image tag"},
	}},
	TypePrometheus: {Name: TypePrometheus, Help: "Prometheus server scraping the application", Third: true, Config: map[string]Field{
		"scrape":    {KindRefs, "entities to scrape (default: every elk entity)"},
		"port":      {KindPort, "HTTP port (default 9090)"},
		"retention": {KindDuration, "how long samples are kept"},
		"version":   {KindString, "image tag"},
	}},
	TypeGeneric: {Name: TypeGeneric, Help: "any command or container image", Config: nil},
}

// Types returns the built-in entity types, sorted by name.
func Types() []TypeInfo {
	out := make([]TypeInfo, 0, len(types))
	for _, t := range types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupType returns the built-in type called name.
func LookupType(name string) (TypeInfo, bool) {
	t, ok := types[name]
	return t, ok
}

func typeNames() []string {
	var out []string
	for _, t := range Types() {
		out = append(out, t.Name)
	}
	return out
}
