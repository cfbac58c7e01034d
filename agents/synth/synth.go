// Package synth is a synthetic sFlow v5 agent: it generates real sFlow
// datagrams — flow samples with raw Ethernet/802.1Q/IPv4/IPv6/TCP/UDP/ICMP
// headers of realistic lengths and periodic interface counter samples, from
// several agents and sub-agents with their own sequence numbers, sample
// pools and uptimes — sends them over UDP at a controlled rate following a
// scenario (steady, spike, ramp, diurnal), and writes the ground truth of
// what it sent (datagrams, samples, estimated packets and bytes, per agent
// and per tenant) so that a collector's output can be checked exactly.
//
// A run is deterministic: the same configuration and seed produce the same
// datagrams byte for byte; only the send times depend on the clock.
package synth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Config describes one run of the agent.
type Config struct {
	// Target is the collector's HOST:PORT. Empty: nothing is sent and the
	// datagrams are generated as fast as possible (for Pcap and Truth).
	Target string
	// Rate is the base rate in flow samples per second.
	Rate float64
	// Duration is how long the run lasts.
	Duration time.Duration
	// Scenario is steady, spike, ramp or diurnal.
	Scenario string
	// Shape tunes the scenario.
	Shape Shape
	// Seed makes the run reproducible.
	Seed int64

	// Agents is the number of agent addresses, counting up from FirstAgent.
	Agents int
	// SubAgents is the number of sub-agents per agent, each with its own
	// datagram sequence and interfaces.
	SubAgents int
	// Interfaces is the number of sampled interfaces per sub-agent.
	Interfaces int
	// FirstAgent is the first agent address.
	FirstAgent netip.Addr
	// SamplingRates are the rates interfaces are configured with (each
	// interface gets one).
	SamplingRates []uint32
	// CounterInterval is the counter polling interval per interface.
	CounterInterval time.Duration
	// Expanded makes every other interface use the expanded sample formats
	// (0:3 and 0:4) instead of the compact ones (0:1 and 0:2).
	Expanded bool
	// Mix is the traffic mix.
	Mix Mix
	// LocalPrefixes are address ranges flows start or end in, besides the
	// tenants' networks.
	LocalPrefixes []netip.Prefix
	// TenantsFile is the collector's tenant table; when set, the truth has
	// per-tenant totals and flows are drawn from the tenants' ranges.
	TenantsFile string

	// MaxDatagramSize bounds the sFlow payload of one datagram.
	MaxDatagramSize int
	// MaxDelay is how long a sample may wait in a partly filled datagram.
	MaxDelay time.Duration

	// TruthPath is where the ground truth JSON is written (optional).
	TruthPath string
	// PcapPath is where every datagram is also written as a pcap capture,
	// wrapped in Ethernet/IPv4/UDP to port 6343 (optional).
	PcapPath string
}

// DefaultConfig returns a configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		Rate:            1000,
		Duration:        10 * time.Second,
		Scenario:        ScenarioSteady,
		Seed:            1,
		Agents:          4,
		SubAgents:       1,
		Interfaces:      8,
		FirstAgent:      netip.AddrFrom4([4]byte{192, 0, 2, 1}),
		SamplingRates:   []uint32{256, 512, 1024, 2048, 4096},
		CounterInterval: 20 * time.Second,
		Mix:             DefaultMix,
		LocalPrefixes:   []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00:e1c::/48")},
		MaxDatagramSize: 1400,
		MaxDelay:        20 * time.Millisecond,
	}
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Rate <= 0 {
		errs = append(errs, fmt.Errorf("rate %g: must be positive", c.Rate))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration %v: must be positive", c.Duration))
	}
	if c.Agents < 1 || c.SubAgents < 1 || c.Interfaces < 1 {
		errs = append(errs, fmt.Errorf("agents %d, sub-agents %d, interfaces %d: each must be at least 1", c.Agents, c.SubAgents, c.Interfaces))
	}
	if c.Interfaces > 999 {
		errs = append(errs, fmt.Errorf("interfaces %d: at most 999 per sub-agent", c.Interfaces))
	}
	if !c.FirstAgent.IsValid() {
		errs = append(errs, errors.New("first agent address is not set"))
	}
	if len(c.SamplingRates) == 0 {
		errs = append(errs, errors.New("no sampling rates"))
	}
	for _, r := range c.SamplingRates {
		if r == 0 {
			errs = append(errs, errors.New("sampling rate 0: must be at least 1"))
		}
	}
	if c.CounterInterval <= 0 {
		errs = append(errs, fmt.Errorf("counter interval %v: must be positive", c.CounterInterval))
	}
	m := c.Mix
	if m.TCP < 0 || m.UDP < 0 || m.ICMP < 0 || m.TCP+m.UDP+m.ICMP <= 0 {
		errs = append(errs, fmt.Errorf("mix tcp=%g udp=%g icmp=%g: weights must be non-negative with a positive sum", m.TCP, m.UDP, m.ICMP))
	}
	for name, f := range map[string]float64{"ipv6": m.IPv6, "vlan": m.VLAN, "qinq": m.QinQ, "local": m.Local} {
		if f < 0 || f > 1 {
			errs = append(errs, fmt.Errorf("mix %s fraction %g: must be within [0, 1]", name, f))
		}
	}
	// The largest sample (expanded, 128-byte header, switch record) and a
	// counter sample must fit in one datagram.
	if c.MaxDatagramSize < 300 || c.MaxDatagramSize > 65000 {
		errs = append(errs, fmt.Errorf("max datagram size %d: must be within [300, 65000]", c.MaxDatagramSize))
	}
	if c.MaxDelay <= 0 {
		errs = append(errs, fmt.Errorf("max delay %v: must be positive", c.MaxDelay))
	}
	if _, err := newProfile(c.Scenario, c.Rate, c.Duration, c.Shape); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Clock is the time source used for pacing.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Deps are the agent's collaborators.
type Deps struct {
	Logger *slog.Logger
	// Clock defaults to the real (monotonic) clock.
	Clock Clock
}

// Agent is one configured run.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	clock   Clock
	prof    profile
	tenants *tenantTable
	truth   *Truth
}

// New validates cfg and loads the tenant table.
func New(cfg Config, deps Deps) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	prof, err := newProfile(cfg.Scenario, cfg.Rate, cfg.Duration, cfg.Shape)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: deps.Logger, clock: deps.Clock, prof: prof}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.clock == nil {
		a.clock = realClock{}
	}
	if cfg.TenantsFile != "" {
		if a.tenants, err = loadTenants(cfg.TenantsFile); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Truth returns the ground truth of the last Run (nil before).
func (a *Agent) Truth() *Truth { return a.truth }

// Run generates and sends the datagrams, paced by the clock, then writes
// the truth. When ctx ends early, the datagrams already generated are
// flushed and sent, and the truth describes exactly what was sent.
func (a *Agent) Run(ctx context.Context) error {
	cfg := &a.cfg
	g := newGenerator(cfg, a.prof, a.tenants)
	t := g.truth
	t.Scenario, t.Seed, t.Rate, t.DurationSeconds = cfg.Scenario, cfg.Seed, cfg.Rate, cfg.Duration.Seconds()
	a.truth = t

	var (
		sending = cfg.Target != ""
		dst     *net.UDPAddr
		dstIP   netip.Addr
		pw      *pcapWriter
		pfile   *os.File
		err     error
	)
	if sending {
		if dst, err = net.ResolveUDPAddr("udp", cfg.Target); err != nil {
			return fmt.Errorf("resolve target %q: %w", cfg.Target, err)
		}
		dstIP = dst.AddrPort().Addr().Unmap()
		// One socket per agent and sub-agent, as separate devices would
		// have: their datagrams come from distinct ports, so a receiver
		// spreading flows over sockets (SO_REUSEPORT) sees them apart.
		// Unconnected: a collector that is not up yet (ICMP port
		// unreachable) does not turn into send errors.
		for _, src := range g.sources {
			conn, err := net.ListenUDP("udp", nil)
			if err != nil {
				return fmt.Errorf("open UDP socket: %w", err)
			}
			defer conn.Close()
			_ = conn.SetWriteBuffer(1 << 20)
			src.conn = conn
			src.port = uint16(conn.LocalAddr().(*net.UDPAddr).Port)
		}
	} else {
		dstIP = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if cfg.PcapPath != "" {
		if pfile, err = os.Create(cfg.PcapPath); err != nil {
			return fmt.Errorf("create pcap: %w", err)
		}
		defer pfile.Close()
		if pw, err = newPcapWriter(pfile); err != nil {
			return err
		}
	}

	a.log.Info("agent starting", "target", cfg.Target, "scenario", cfg.Scenario, "rate", cfg.Rate,
		"duration", cfg.Duration, "seed", cfg.Seed, "agents", cfg.Agents, "sub_agents", cfg.SubAgents)
	start := a.clock.Now()
	nextLog := time.Second
	stopped := false
	for {
		d, ok := g.next()
		if !ok {
			break
		}
		if sending && !stopped {
			if wait := start.Add(d.at).Sub(a.clock.Now()); wait > 0 {
				if a.clock.Sleep(ctx, wait) != nil {
					// Interrupted: send what was generated, unpaced.
					stopped = true
					g.finish()
				}
			}
		}
		ts := start.Add(d.at)
		if sending {
			ts = a.clock.Now()
			if err := send(d.src.conn, dst, d.payload); err != nil {
				return fmt.Errorf("send datagram of agent %s sub-agent %d: %w", d.src.agent, d.src.subAgent, err)
			}
		}
		if pw != nil {
			if err := pw.write(ts, d.src.agent, dstIP, d.src.port, d.payload); err != nil {
				return err
			}
		}
		if d.at >= nextLog && !stopped {
			a.log.Debug("agent progress", "at", d.at, "rate", a.prof.rate(d.at), "flow_samples", g.emitted)
			nextLog += time.Second
		}
	}
	t.ElapsedSeconds = a.clock.Now().Sub(start).Seconds()
	t.Interrupted = stopped
	if pw != nil {
		if err := pw.flush(); err != nil {
			return err
		}
		if err := pfile.Close(); err != nil {
			return fmt.Errorf("close pcap: %w", err)
		}
	}
	if cfg.TruthPath != "" {
		if err := t.writeFile(cfg.TruthPath); err != nil {
			return err
		}
	}
	a.log.Info("agent done", "datagrams", t.Datagrams, "flow_samples", t.FlowSamples,
		"counter_samples", t.CounterSamples, "packets", t.Packets, "bytes", t.Bytes,
		"elapsed", time.Duration(t.ElapsedSeconds*float64(time.Second)), "interrupted", stopped)
	return nil
}

// send writes one datagram, retrying briefly when the kernel is out of
// buffer space.
func send(conn *net.UDPConn, dst *net.UDPAddr, b []byte) error {
	var err error
	for try := 0; try < 50; try++ {
		if _, err = conn.WriteToUDP(b, dst); err == nil {
			return nil
		}
		if !errors.Is(err, syscall.ENOBUFS) && !errors.Is(err, syscall.EAGAIN) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	return err
}
