package catalog

import (
	"strconv"
	"time"

	"github.com/elk-project/elk/blueprints"
)

// TypeSFlowAgent is the sflow-agent entity type.
const TypeSFlowAgent = "sflow-agent"

func init() {
	register(Type{
		Info: blueprints.TypeInfo{Name: TypeSFlowAgent, Help: "synthetic sFlow traffic generator (elk agent)", Config: map[string]blueprints.Field{
			"collector":  {Kind: blueprints.KindRef, Help: "entity receiving the datagrams"},
			"address":    {Kind: blueprints.KindString, Help: "host:port receiving the datagrams, instead of collector"},
			"rate":       {Kind: blueprints.KindInt, Help: "samples per second"},
			"agents":     {Kind: blueprints.KindInt, Help: "number of simulated sFlow agents"},
			"scenario":   {Kind: blueprints.KindString, Help: "rate shape over time: steady, spike, ramp or diurnal"},
			"duration":   {Kind: blueprints.KindDuration, Help: "how long each run sends (default 8760h: until stopped)"},
			"extra_args": {Kind: blueprints.KindStrings, Help: "additional command-line arguments"},
		}},
		Build: func(b *builder) error { b.agent(); return nil },
	})
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
