//go:build !linux

package receiver

import (
	"fmt"
	"net"
	"time"
)

// listen binds one plain UDP socket: SO_REUSEPORT sockets, batched reads and
// kernel drop counts are Linux-only.
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

// read reads one datagram at a time until the socket is closed.
func (r *Receiver) read(socket int, c *net.UDPConn) error {
	p := <-r.free
	defer func() { r.free <- p }()
	for {
		n, _, flags, src, err := c.ReadMsgUDPAddrPort(p.buf, nil)
		if err != nil {
			if isClosed(err) {
				return nil
			}
			return fmt.Errorf("socket %d: %w", socket, err)
		}
		p.N, p.Src, p.Received, p.Socket = n, src, time.Now(), socket
		p.Truncated = flags&0x20 != 0 // MSG_TRUNC on most systems
		p = r.dispatch(p)
	}
}
