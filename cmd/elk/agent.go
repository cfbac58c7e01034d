package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/elk-project/elk/agents/synth"
)

func newAgentCmd() *cobra.Command {
	cfg := synth.DefaultConfig()
	var (
		firstAgent = cfg.FirstAgent.String()
		rates      = joinRates(cfg.SamplingRates)
		locals     = joinPrefixes(cfg.LocalPrefixes)
		mix        = fmt.Sprintf("tcp=%g,udp=%g,icmp=%g", cfg.Mix.TCP, cfg.Mix.UDP, cfg.Mix.ICMP)
		verbose    bool
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Send synthetic sFlow traffic",
		Long: `Send real sFlow v5 datagrams over UDP at a controlled rate and write the
ground truth of what was sent.

The agent simulates several switches (agents, each with sub-agents and
sampled interfaces) exporting flow samples — raw Ethernet/802.1Q/IPv4/IPv6
TCP/UDP/ICMP headers of realistic lengths — and periodic interface counter
samples. --rate is in flow samples per second; the scenario shapes it over
time:

  steady   constant --rate
  spike    --rate, then --spike-factor × --rate from --spike-at for
           --spike-for, then --rate again (repeating every --spike-every)
  ramp     from --ramp-from × --rate up to --rate over --ramp-for, then hold
  diurnal  a sinusoid around --rate with --diurnal-amplitude and period
           --diurnal-period, starting at its trough

The shape timings default to fractions of the span: --duration, capped at
30m so that a long-running agent shows its scenario within minutes.

Pacing follows the monotonic clock in small bursts and never drifts. The same
--seed yields the same datagrams byte for byte. The truth file (--truth) is one
JSON object: datagrams, flow_samples, counter_samples, packets (Σ sampling
rate), bytes (Σ frame length × sampling rate), per-agent totals under
"agents" and, with --tenants, per-tenant totals under "tenants" (a flow counts
for every tenant it matches, as in the collector).`,
		Example: `  elk agent --target 127.0.0.1:6343 --rate 20000 --duration 10s --truth truth.json
  elk agent --target 127.0.0.1:6343 --scenario spike --spike-factor 5 --tenants tenants.yaml --truth t.json
  elk agent --target "" --rate 500 --duration 2s --pcap sflow.pcap   # only write a capture`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if cfg.FirstAgent, err = netip.ParseAddr(firstAgent); err != nil {
				return fmt.Errorf("--first-agent: %w", err)
			}
			if cfg.SamplingRates, err = parseRates(rates); err != nil {
				return fmt.Errorf("--sampling-rates: %w", err)
			}
			if cfg.LocalPrefixes, err = parsePrefixes(locals); err != nil {
				return fmt.Errorf("--local-prefixes: %w", err)
			}
			if err := parseMix(mix, &cfg.Mix); err != nil {
				return fmt.Errorf("--mix: %w", err)
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			a, err := synth.New(cfg, synth.Deps{Logger: log})
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Target, "target", "127.0.0.1:6343", `collector address HOST:PORT to send to ("" sends nothing and generates unpaced, e.g. to only write --pcap/--truth)`)
	f.Float64Var(&cfg.Rate, "rate", cfg.Rate, "base rate in flow samples per second (all agents together)")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to send")
	f.StringVar(&cfg.Scenario, "scenario", cfg.Scenario, "rate shape over time: "+strings.Join(synth.Scenarios, "|"))
	f.Int64Var(&cfg.Seed, "seed", cfg.Seed, "random seed; the same seed and flags give the same datagrams")
	f.StringVar(&cfg.TruthPath, "truth", "", "write the ground truth JSON to this file")
	f.StringVar(&cfg.TenantsFile, "tenants", "", "collector tenant table (YAML); flows use the tenants' networks and VLANs and the truth gets per-tenant totals")
	f.StringVar(&cfg.PcapPath, "pcap", "", "also write every datagram to this pcap file (Ethernet/IPv4/UDP to port 6343), for tshark, tcpreplay or sfacctd")
	f.IntVar(&cfg.Agents, "agents", cfg.Agents, "number of simulated agents (addresses counting up from --first-agent)")
	f.IntVar(&cfg.SubAgents, "sub-agents", cfg.SubAgents, "sub-agents per agent, each with its own datagram sequence and interfaces")
	f.IntVar(&cfg.Interfaces, "interfaces", cfg.Interfaces, "sampled interfaces per sub-agent (ifIndex 1..N, plus 1000 × sub-agent)")
	f.StringVar(&firstAgent, "first-agent", firstAgent, "address of the first agent")
	f.StringVar(&rates, "sampling-rates", rates, "comma-separated sampling rates; each interface gets one of them")
	f.DurationVar(&cfg.CounterInterval, "counter-interval", cfg.CounterInterval, "counter polling interval per interface (first poll within the first second)")
	f.BoolVar(&cfg.Expanded, "expanded", cfg.Expanded, "use the expanded sample formats (0:3, 0:4) on every other interface")
	f.StringVar(&mix, "mix", mix, "relative weights of the transport protocols, e.g. tcp=70,udp=25,icmp=5")
	f.Float64Var(&cfg.Mix.IPv6, "ipv6", cfg.Mix.IPv6, "fraction of IPv6 flows among those without a local end (the others follow their local end's family)")
	f.Float64Var(&cfg.Mix.VLAN, "vlan", cfg.Mix.VLAN, "fraction of frames with an 802.1Q tag (tenants' VLANs when they have some)")
	f.Float64Var(&cfg.Mix.QinQ, "qinq", cfg.Mix.QinQ, "fraction of tagged frames sent QinQ: the VLAN in an outer 802.1ad service tag, then a random customer tag")
	f.Float64Var(&cfg.Mix.Local, "local", cfg.Mix.Local, "fraction of flows with one end in the local/tenant networks")
	f.StringVar(&locals, "local-prefixes", locals, "comma-separated CIDRs flows start or end in (besides the tenants' networks)")
	f.IntVar(&cfg.MaxDatagramSize, "max-datagram", cfg.MaxDatagramSize, "largest sFlow payload per datagram, in bytes")
	f.DurationVar(&cfg.MaxDelay, "max-delay", cfg.MaxDelay, "longest a sample waits in a partly filled datagram")
	f.DurationVar(&cfg.Shape.SpikeAt, "spike-at", 0, "spike: when the spike starts (default a third of the span)")
	f.DurationVar(&cfg.Shape.SpikeFor, "spike-for", 0, "spike: how long the spike lasts (default a third of the span)")
	f.Float64Var(&cfg.Shape.SpikeFactor, "spike-factor", 4, "spike: rate multiplier during the spike")
	f.DurationVar(&cfg.Shape.SpikeEvery, "spike-every", 0, "spike: repeat the spike with this period (default the span when --duration is longer, else once)")
	f.Float64Var(&cfg.Shape.RampFrom, "ramp-from", 0.1, "ramp: starting rate as a fraction of --rate")
	f.DurationVar(&cfg.Shape.RampFor, "ramp-for", 0, "ramp: time to reach --rate (default the span)")
	f.DurationVar(&cfg.Shape.DiurnalPeriod, "diurnal-period", 0, "diurnal: length of one simulated day (default the span)")
	f.Float64Var(&cfg.Shape.DiurnalAmplitude, "diurnal-amplitude", 0.8, "diurnal: relative swing around --rate, within [0, 1]")
	f.BoolVar(&verbose, "verbose", false, "log progress every second")
	cmd.AddCommand(newESExporterCmd())
	return cmd
}

func joinRates(rs []uint32) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = strconv.FormatUint(uint64(r), 10)
	}
	return strings.Join(s, ",")
}

func parseRates(s string) ([]uint32, error) {
	var rs []uint32
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseUint(f, 10, 32)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("invalid sampling rate %q", f)
		}
		rs = append(rs, uint32(v))
	}
	return rs, nil
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

func parseMix(s string, m *synth.Mix) error {
	m.TCP, m.UDP, m.ICMP = 0, 0, 0
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		w, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			return fmt.Errorf("invalid weight %q: want proto=weight", f)
		}
		switch strings.ToLower(k) {
		case "tcp":
			m.TCP = w
		case "udp":
			m.UDP = w
		case "icmp":
			m.ICMP = w
		default:
			return fmt.Errorf("unknown protocol %q: want tcp, udp or icmp", k)
		}
	}
	return nil
}
