//go:build !linux

package receiver

import (
	"fmt"
	"net"
	"time"

	"golang.org/x/net/ipv4"
)

// listen binds one plain UDP socket: SO_REUSEPORT groups and kernel drop
// counts are Linux-only.
func (r *Receiver) listen() error {
	r.cfg.Sockets = 1
	pc, err := net.ListenPacket("udp", r.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", r.cfg.Listen, err)
	}
	c := pc.(*net.UDPConn)
	_ = c.SetReadBuffer(r.cfg.ReadBuffer)
	r.conns = []*net.UDPConn{c}
	r.addr = c.LocalAddr().(*net.UDPAddr).AddrPort()
	return nil
}

// stopReading closes the socket: off Linux a stopping reader does not drain
// what the kernel queued.
func stopReading(c *net.UDPConn) { c.Close() }

// read reads batches with x/net's PacketConn.ReadBatch (recvmmsg where the
// system has it; one datagram per call elsewhere). Unlike the Linux reader
// it allocates the sender address of each datagram. The ipv4 PacketConn
// reads IPv6 sockets too: ReadBatch does not look at the address family.
func (r *Receiver) read(socket int, c *net.UDPConn) error {
	n := r.cfg.Batch
	pkts := make([]*Packet, n)
	msgs := make([]ipv4.Message, n)
	for i := range pkts {
		pkts[i] = <-r.free
		msgs[i].Buffers = [][]byte{pkts[i].buf}
	}
	defer func() {
		for _, p := range pkts {
			r.free <- p
		}
	}()
	pc := ipv4.NewPacketConn(c)
	for {
		k, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			if isClosed(err) {
				return nil
			}
			return fmt.Errorf("socket %d: %w", socket, err)
		}
		now := time.Now()
		for i := 0; i < k; i++ {
			p := pkts[i]
			p.N, p.Received, p.Socket = msgs[i].N, now, socket
			p.Truncated = msgs[i].Flags&0x10 != 0 // MSG_TRUNC on the BSDs
			if a, ok := msgs[i].Addr.(*net.UDPAddr); ok {
				p.Src = a.AddrPort()
			}
			pkts[i] = r.dispatch(p)
			msgs[i].Buffers[0] = pkts[i].buf
		}
	}
}
