package synth

import (
	"net/netip"
)

// Mix is the traffic mix of the generated flows. Fractions need not sum to
// one: protocol weights are normalised.
type Mix struct {
	TCP, UDP, ICMP float64 // relative weights of the transport protocols
	IPv6           float64 // fraction of flows over IPv6 (outside tenant networks)
	VLAN           float64 // fraction of frames with an 802.1Q tag
	QinQ           float64 // fraction of tagged frames sent QinQ: the VLAN as an 802.1ad service tag, then a customer tag
	Local          float64 // fraction of flows with an end in the local/tenant networks
}

// DefaultMix is a plausible data-centre edge mix.
var DefaultMix = Mix{TCP: 70, UDP: 25, ICMP: 5, IPv6: 0.25, VLAN: 0.3, QinQ: 0, Local: 0.9}

// well-known server ports for each transport.
var (
	tcpPorts = []uint16{443, 443, 443, 80, 22, 25, 993, 3306, 5432, 6379, 8080, 9200}
	udpPorts = []uint16{53, 53, 123, 443, 4789, 514, 161, 5353}
)

// defaultVLANs are used for tagged frames when no tenant names a VLAN.
var defaultVLANs = []uint16{10, 20, 30, 100, 200}

// newFlow draws one sampled packet as seen on ds.
func (g *generator) newFlow(ds *dataSource) flow {
	r := g.rng
	m := g.cfg.Mix
	var f flow

	// Addresses: one end local (a tenant's or the configured ranges),
	// the other usually remote; direction random.
	local, remote := netip.Addr{}, netip.Addr{}
	if len(g.local) > 0 && r.Float64() < m.Local {
		local = g.randomIn(g.local[r.IntN(len(g.local))])
	}
	is6 := local.IsValid() && local.Is6() || !local.IsValid() && r.Float64() < m.IPv6
	if !local.IsValid() {
		local = g.randomRemote(is6)
	}
	if len(g.local) > 0 && r.Float64() < 0.1 {
		// East-west traffic: both ends local, same family.
		for range 4 {
			p := g.local[r.IntN(len(g.local))]
			if p.Addr().Is6() == is6 {
				remote = g.randomIn(p)
				break
			}
		}
	}
	if !remote.IsValid() {
		remote = g.randomRemote(is6)
	}
	f.src, f.dst = remote, local
	if r.IntN(2) == 0 {
		f.src, f.dst = local, remote
	}

	// Transport and ports.
	total := m.TCP + m.UDP + m.ICMP
	x := r.Float64() * total
	switch {
	case x < m.TCP:
		f.proto = protoTCP
	case x < m.TCP+m.UDP:
		f.proto = protoUDP
	default:
		f.proto = protoICMP
		if is6 {
			f.proto = protoICMPv6
		}
	}
	ephemeral := uint16(32768 + r.IntN(28232))
	switch f.proto {
	case protoTCP:
		f.srcPort, f.dstPort = ephemeral, tcpPorts[r.IntN(len(tcpPorts))]
		f.tcpFlags = []uint8{0x10, 0x10, 0x10, 0x18, 0x18, 0x02, 0x12, 0x11, 0x04}[r.IntN(9)]
	case protoUDP:
		f.srcPort, f.dstPort = ephemeral, udpPorts[r.IntN(len(udpPorts))]
	default:
		f.srcPort, f.dstPort = uint16(r.IntN(65536)), uint16(r.IntN(1024))
	}
	if r.IntN(2) == 0 {
		f.srcPort, f.dstPort = f.dstPort, f.srcPort
	}
	f.ttl = []uint8{64, 63, 128, 127, 255, 57}[r.IntN(6)]
	f.tos = []uint8{0, 0, 0, 0, 0x28, 0xb8, 0x02}[r.IntN(7)]

	// Length: bimodal, as on real links — small (ACKs, DNS, ping), full
	// MTU, and a spread in between.
	min := f.ipHeaderLen() + transportHeaderLen(f.proto)
	var l int
	switch y := r.Float64(); {
	case f.proto == protoICMP || f.proto == protoICMPv6:
		l = min + 56
	case y < 0.40:
		l = min + r.IntN(60)
	case y < 0.45:
		l = 576
	case y < 0.60:
		l = min + r.IntN(1500-min)
	default:
		l = 1500
	}
	if f.proto == protoTCP && (f.tcpFlags&0x07 != 0 || f.tcpFlags == 0x12) {
		l = min // SYN, SYN-ACK, FIN, RST carry no data
	}
	f.ipLen = l

	// Layer 2.
	f.srcMAC = [6]byte{0x02, 0x00, byte(ds.ifIndex >> 8), byte(ds.ifIndex), byte(r.IntN(256)), byte(r.IntN(256))}
	f.dstMAC = [6]byte{0x02, 0x01, byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}
	if r.Float64() < m.VLAN {
		vs := g.vlans
		f.vlan = vs[r.IntN(len(vs))]
		if r.Float64() < m.QinQ {
			f.innerVLAN = 2 + uint16(r.IntN(4093)) // customer tag
		}
	}
	return f
}

// randomIn returns a random address inside p (the whole address when p is a
// host prefix).
func (g *generator) randomIn(p netip.Prefix) netip.Addr {
	a := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range a {
		lo := i * 8
		if lo+8 <= bits {
			continue
		}
		keep := 0
		if bits > lo {
			keep = bits - lo
		}
		mask := byte(0xFF >> keep)
		a[i] = a[i]&^mask | byte(g.rng.IntN(256))&mask
	}
	addr, _ := netip.AddrFromSlice(a)
	return addr
}

// randomRemote returns a random public-looking address.
func (g *generator) randomRemote(is6 bool) netip.Addr {
	if is6 {
		var b [16]byte
		b[0], b[1] = 0x2a, byte(g.rng.IntN(16))
		for i := 2; i < 16; i++ {
			b[i] = byte(g.rng.IntN(256))
		}
		return netip.AddrFrom16(b)
	}
	for {
		b := [4]byte{byte(1 + g.rng.IntN(223)), byte(g.rng.IntN(256)), byte(g.rng.IntN(256)), byte(1 + g.rng.IntN(254))}
		if b[0] != 10 && b[0] != 127 && !(b[0] == 192 && b[1] == 168) && !(b[0] == 172 && b[1]&0xF0 == 16) {
			return netip.AddrFrom4(b)
		}
	}
}
