package catalog

import (
	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/orchestrator/target"
)

// TypeSFlowCollector is the sflow-collector entity type.
const TypeSFlowCollector = "sflow-collector"

func init() {
	register(Type{
		Info: blueprints.TypeInfo{Name: TypeSFlowCollector, Help: "elk sFlow collector (elk collector)", Config: map[string]blueprints.Field{
			"port":       {Kind: blueprints.KindPort, Help: "UDP port the collector listens on (default 6343); shared by all instances"},
			"output":     {Kind: blueprints.KindOutputs, Help: "outputs: file:PATH, stdout, kafka:ENTITY[/TOPIC], elasticsearch:ENTITY"},
			"tenants":    {Kind: blueprints.KindString, Help: "tenant table YAML file (reloaded when it changes)"},
			"metrics":    {Kind: blueprints.KindBool, Help: "serve Prometheus metrics on a per-instance port (default true)"},
			"extra_args": {Kind: blueprints.KindStrings, Help: "additional command-line arguments"},
		}, Required: []string{"output"}},
		Build:   func(b *builder) error { b.collector(); return nil },
		Scraped: true,
		Rates: map[string]string{
			"datagrams_per_second": "elk_collector_received_datagrams_total",
			"samples_per_second":   "elk_collector_agent_samples_total",
		},
	})
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
	t := b.e.Config.String("tenants", "")
	if t == "" && b.local() {
		t = b.opts.TenantTable // the server's tenant records
	}
	if t != "" {
		args = append(args, "--tenants", t)
	}
	b.elk(args...)
	b.resources(500, 256)
}
