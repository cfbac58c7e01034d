package synth

import (
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"
)

// tick is the scheduling granularity: samples due within one tick are
// generated together and their datagrams sent in one small burst.
const tick = time.Millisecond

// datagram is one encoded sFlow datagram and when it is due, as an offset
// from the start of the run.
type datagram struct {
	at      time.Duration
	src     *source
	payload []byte
}

// source is one exporter: an agent address and sub-agent, with its own
// datagram sequence and uptime.
type source struct {
	agent    netip.Addr
	subAgent uint32
	seq      uint32
	bootMS   uint32 // uptime at the start of the run
	weight   float64
	ifaces   []*dataSource
	totals   *Totals
	conn     *net.UDPConn // socket the source sends from
	port     uint16       // its local port (SFlowPort when not sending)

	// The datagram being filled.
	flows    []flowSample
	counters []counterSample
	size     int
	openedAt time.Duration
}

// dataSource is one sampled interface of an agent: its flow sampler
// (sequence, pool, rate) and its counter poller.
type dataSource struct {
	ifIndex    uint32
	rate       uint32
	flowSeq    uint32
	pool       uint32
	counterSeq uint32
	nextPoll   time.Duration
	speed      uint64
	expanded   bool

	// Interface counters, grown by the traffic sampled on the interface.
	inOctets, outOctets uint64
	inUcast, outUcast   uint32
	inMcast, inBcast    uint32
}

type flowSample struct {
	ds       *dataSource
	seq      uint32
	pool     uint32
	output   uint32
	flow     flow
	frameLen int
}

type counterSample struct {
	ds  *dataSource
	seq uint32
	// Snapshot of the counters when the sample was taken.
	inOctets, outOctets uint64
	inUcast, outUcast   uint32
	inMcast, inBcast    uint32
}

// generator produces the run's datagrams in order. It depends only on its
// configuration and seed, never on the wall clock: the same seed gives the
// same datagrams, byte for byte.
type generator struct {
	cfg      *Config
	rng      *rand.Rand
	prof     profile
	sources  []*source
	cumW     []float64
	tenants  *tenantTable
	local    []netip.Prefix // address ranges flows start or end in
	vlans    []uint16       // VLANs tagged frames use
	maxSize  int
	maxDelay time.Duration

	now     time.Duration
	emitted uint64
	done    bool
	ready   []datagram
	truth   *Truth
	enc     encoder
}

func newGenerator(cfg *Config, prof profile, tenants *tenantTable) *generator {
	g := &generator{
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(uint64(cfg.Seed), 0x656c6b)),
		prof:     prof,
		tenants:  tenants,
		maxSize:  cfg.MaxDatagramSize,
		maxDelay: cfg.MaxDelay,
		truth:    newTruth(),
	}
	g.local = cfg.LocalPrefixes
	if tenants != nil {
		g.local = append(g.local[:len(g.local):len(g.local)], tenants.prefixes()...)
	}
	g.vlans = defaultVLANs
	if tenants != nil {
		if vs := tenants.vlans(); len(vs) > 0 {
			g.vlans = vs
		}
		g.truth.Tenants = map[string]*Totals{}
		for _, ts := range tenants.tenants {
			g.truth.Tenants[ts.ID] = &Totals{}
		}
		g.truth.Unmatched = &Totals{}
	}
	rates := cfg.SamplingRates
	total := 0.0
	for a := 0; a < cfg.Agents; a++ {
		addr := agentAddr(cfg.FirstAgent, a)
		for s := 0; s < cfg.SubAgents; s++ {
			src := &source{
				agent:    addr,
				subAgent: uint32(s),
				seq:      uint32(g.rng.IntN(1 << 20)),
				bootMS:   uint32(time.Hour/time.Millisecond) + uint32(g.rng.IntN(int(29*24*time.Hour/time.Millisecond))),
				weight:   1 / (1 + float64(a*cfg.SubAgents+s)/2),
				totals:   g.truth.agent(addr.String()),
				port:     SFlowPort,
			}
			for i := 0; i < cfg.Interfaces; i++ {
				ds := &dataSource{
					ifIndex:  uint32(s*1000 + i + 1),
					rate:     rates[g.rng.IntN(len(rates))],
					flowSeq:  uint32(g.rng.IntN(1 << 16)),
					pool:     uint32(g.rng.IntN(1 << 24)),
					nextPoll: time.Duration(g.rng.Int64N(int64(min(cfg.CounterInterval, time.Second)))),
					speed:    []uint64{1e9, 10e9, 25e9, 100e9}[g.rng.IntN(4)],
					expanded: cfg.Expanded && (a+i)%2 == 1,
				}
				src.ifaces = append(src.ifaces, ds)
			}
			total += src.weight
			g.sources = append(g.sources, src)
			g.cumW = append(g.cumW, total)
		}
	}
	return g
}

// agentAddr returns the i-th agent address after first.
func agentAddr(first netip.Addr, i int) netip.Addr {
	a := first
	for ; i > 0; i-- {
		a = a.Next()
	}
	return a
}

// next returns the next datagram, or false when the run is over.
func (g *generator) next() (datagram, bool) {
	for len(g.ready) == 0 {
		if g.done {
			return datagram{}, false
		}
		g.step()
	}
	d := g.ready[0]
	g.ready = g.ready[1:]
	return d, true
}

// step advances virtual time by one tick and generates what is due.
func (g *generator) step() {
	g.now += tick
	last := g.now >= g.cfg.Duration
	if last {
		g.now = g.cfg.Duration
	}
	due := uint64(math.Floor(g.prof.due(g.now) + 1e-9))
	for ; g.emitted < due; g.emitted++ {
		g.addFlow()
	}
	for _, src := range g.sources {
		for _, ds := range src.ifaces {
			for ds.nextPoll <= g.now && ds.nextPoll < g.cfg.Duration {
				g.addCounter(src, ds)
				ds.nextPoll += g.cfg.CounterInterval
			}
		}
		if len(src.flows)+len(src.counters) > 0 && (last || g.now-src.openedAt >= g.maxDelay) {
			g.flush(src)
		}
	}
	if last {
		g.done = true
	}
}

func (g *generator) pickSource() *source {
	x := g.rng.Float64() * g.cumW[len(g.cumW)-1]
	for i, c := range g.cumW {
		if x < c {
			return g.sources[i]
		}
	}
	return g.sources[len(g.sources)-1]
}

func (g *generator) addFlow() {
	src := g.pickSource()
	ds := src.ifaces[g.rng.IntN(len(src.ifaces))]
	out := src.ifaces[g.rng.IntN(len(src.ifaces))]
	f := g.newFlow(ds)
	ds.flowSeq++
	// The pool counts every packet the sampler saw: on average rate per
	// sample, so Δpool/Δseq is the sampling rate.
	ds.pool += ds.rate
	fs := flowSample{ds: ds, seq: ds.flowSeq, pool: ds.pool, output: out.ifIndex, flow: f, frameLen: f.frameLen()}
	size := flowSampleSize(&fs)
	g.reserve(src, size)
	src.flows = append(src.flows, fs)
	src.size += size

	// Interface counters follow the traffic the samples stand for.
	octets := uint64(fs.frameLen) * uint64(ds.rate)
	ds.inOctets += octets
	out.outOctets += octets
	ds.inUcast += ds.rate
	out.outUcast += ds.rate

	t := g.truth
	t.addFlow(ds.rate, fs.frameLen)
	t.SamplingRates[ds.rate]++
	t.SampledFrameBytes += uint64(fs.frameLen)
	src.totals.addFlow(ds.rate, fs.frameLen)
	if g.tenants != nil {
		key := flowKey{agent: src.agent, input: ds.ifIndex, output: out.ifIndex, vlan: f.vlan, src: f.src, dst: f.dst}
		matched := g.tenants.match(&key, func(name string) {
			tt := t.Tenants[name]
			if tt == nil {
				tt = &Totals{}
				t.Tenants[name] = tt
			}
			tt.addFlow(ds.rate, fs.frameLen)
		})
		if !matched {
			t.Unmatched.addFlow(ds.rate, fs.frameLen)
		}
	}
}

func (g *generator) addCounter(src *source, ds *dataSource) {
	ds.counterSeq++
	cs := counterSample{
		ds: ds, seq: ds.counterSeq,
		inOctets: ds.inOctets, outOctets: ds.outOctets,
		inUcast: ds.inUcast, outUcast: ds.outUcast,
		inMcast: ds.inMcast, inBcast: ds.inBcast,
	}
	size := counterSampleSize(&cs)
	g.reserve(src, size)
	src.counters = append(src.counters, cs)
	src.size += size
	g.truth.CounterSamples++
	g.truth.CounterRecords += 2
	src.totals.CounterSamples++
}

// reserve flushes the source's datagram first when a sample of size bytes
// would not fit, and opens a new one if needed.
func (g *generator) reserve(src *source, size int) {
	if len(src.flows)+len(src.counters) > 0 && src.size+size > g.maxSize {
		g.flush(src)
	}
	if len(src.flows)+len(src.counters) == 0 {
		src.size = datagramHeaderSize(src.agent)
		src.openedAt = g.now
	}
}

// finish ends the run early: every open datagram is flushed, so that what
// was generated is exactly what gets sent.
func (g *generator) finish() {
	for _, src := range g.sources {
		if len(src.flows)+len(src.counters) > 0 {
			g.flush(src)
		}
	}
	g.done = true
}

// flush encodes the source's open datagram and queues it.
func (g *generator) flush(src *source) {
	src.seq++
	uptime := src.bootMS + uint32(g.now/time.Millisecond)
	payload := g.enc.encode(src, uptime)
	g.ready = append(g.ready, datagram{at: g.now, src: src, payload: payload})
	g.truth.Datagrams++
	g.truth.DatagramBytes += uint64(len(payload))
	src.totals.Datagrams++
	src.flows = src.flows[:0]
	src.counters = src.counters[:0]
	src.size = 0
}
