//go:build linux

package receiver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// listen binds cfg.Sockets UDP sockets on one address with SO_REUSEPORT, a
// large receive buffer and SO_RXQ_OVFL.
func (r *Receiver) listen() error {
	var sockErr error
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		err := c.Control(func(fd uintptr) {
			s := int(fd)
			if sockErr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); sockErr != nil {
				sockErr = fmt.Errorf("SO_REUSEPORT: %w", sockErr)
				return
			}
			// SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN;
			// SO_RCVBUF is capped by net.core.rmem_max.
			if unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, r.cfg.ReadBuffer) != nil {
				_ = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, r.cfg.ReadBuffer)
			}
			if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1); err != nil {
				r.log.Warn("SO_RXQ_OVFL unavailable: kernel drops will not be counted", "error", err)
			}
		})
		if err != nil {
			return err
		}
		return sockErr
	}}
	addr := r.cfg.Listen
	// SO_REUSEPORT would let this group silently share a port with another
	// process of the same user (say a second collector), splitting the
	// traffic between them. Probe with a plain socket first.
	if ap, err := netip.ParseAddrPort(addr); !r.cfg.SharePort && (err != nil || ap.Port() != 0) {
		probe, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", r.cfg.Listen, err)
		}
		probe.Close()
	}
	for i := 0; i < r.cfg.Sockets; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			for _, c := range r.conns {
				c.Close()
			}
			r.conns = nil
			return fmt.Errorf("listen on %s: %w", r.cfg.Listen, err)
		}
		c := pc.(*net.UDPConn)
		r.conns = append(r.conns, c)
		if i == 0 {
			// With port 0 the other sockets must join the port the
			// first one got.
			r.addr = c.LocalAddr().(*net.UDPAddr).AddrPort()
			addr = r.addr.String()
			if rc, err := c.SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) {
					if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
						r.metrics.rcvbuf.Set(float64(v))
						if v < r.cfg.ReadBuffer {
							r.log.Warn("socket receive buffer smaller than requested (raise net.core.rmem_max or run with CAP_NET_ADMIN)",
								"requested_bytes", r.cfg.ReadBuffer, "granted_bytes", v)
						}
					}
				})
			}
		}
	}
	return nil
}

// oobSize holds one SO_RXQ_OVFL control message (and some slack).
const oobSize = 64

// batchReader reads with recvmmsg straight into the receiver's pooled
// buffers. Its syscall structures are allocated once.
type batchReader struct {
	r      *Receiver
	socket int
	rc     syscall.RawConn
	pkts   []*Packet
	hdrs   []unix.Mmsghdr
	iovs   []unix.Iovec
	names  []unix.RawSockaddrInet6
	oob    []byte
	n      int
	errno  syscall.Errno
	readFn func(fd uintptr) bool

	drops     uint32
	haveDrops bool
}

// read runs one socket's read loop until the socket is closed.
func (r *Receiver) read(socket int, c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("socket %d: %w", socket, err)
	}
	n := r.cfg.Batch
	br := &batchReader{
		r: r, socket: socket, rc: rc,
		pkts:  make([]*Packet, n),
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n),
		oob:   make([]byte, n*oobSize),
	}
	br.readFn = br.recvmmsg
	for i := range br.pkts {
		br.pkts[i] = <-r.free
	}
	defer func() {
		for _, p := range br.pkts {
			r.free <- p
		}
	}()
	for {
		br.prepare()
		if err := rc.Read(br.readFn); err != nil {
			if isClosed(err) {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && r.stopping.Load() {
				br.drain(c)
				return nil
			}
			return fmt.Errorf("socket %d: %w", socket, err)
		}
		if br.errno != 0 {
			if br.errno == unix.EBADF {
				return nil
			}
			r.log.Warn("recvmmsg", "socket", socket, "error", br.errno)
			continue
		}
		now := time.Now()
		for i := 0; i < br.n; i++ {
			br.fill(i, now)
			br.pkts[i] = r.dispatch(br.pkts[i])
		}
	}
}

// drainLimit bounds how long a stopping reader keeps reading a socket that
// never runs dry (a flood): what is left then is discarded with the socket.
const drainLimit = 2 * time.Second

// stopReading wakes the socket's reader, which then drains and closes it.
func stopReading(c *net.UDPConn) { c.SetReadDeadline(time.Now()) }

// drain reads what the kernel has already queued on the socket, without
// waiting for more, dispatches it and closes the socket.
func (br *batchReader) drain(c *net.UDPConn) {
	defer c.Close()
	until := time.Now().Add(drainLimit)
	for time.Now().Before(until) {
		br.prepare()
		more := false
		if err := br.rc.Control(func(fd uintptr) { more = br.recvmmsg(fd) }); err != nil || !more {
			return
		}
		if br.errno != 0 {
			return
		}
		now := time.Now()
		for i := 0; i < br.n; i++ {
			br.fill(i, now)
			br.pkts[i] = br.r.dispatch(br.pkts[i])
		}
	}
	br.r.log.Warn("socket still receiving after draining for the limit; closing it", "socket", br.socket, "limit", drainLimit)
}

func (br *batchReader) prepare() {
	for i := range br.hdrs {
		p := br.pkts[i]
		br.iovs[i].Base = &p.buf[0]
		br.iovs[i].SetLen(len(p.buf))
		h := &br.hdrs[i]
		h.Hdr.Name = (*byte)(unsafe.Pointer(&br.names[i]))
		h.Hdr.Namelen = unix.SizeofSockaddrInet6
		h.Hdr.Iov = &br.iovs[i]
		h.Hdr.SetIovlen(1)
		h.Hdr.Control = &br.oob[i*oobSize]
		h.Hdr.SetControllen(oobSize)
		h.Hdr.Flags = 0
		h.Len = 0
	}
}

// recvmmsg is the RawConn.Read callback: it returns false to wait for the
// socket to become readable.
func (br *batchReader) recvmmsg(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&br.hdrs[0])), uintptr(len(br.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			br.n, br.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			br.n, br.errno = 0, e
			return true
		}
	}
}

// fill completes packet i from its message header.
func (br *batchReader) fill(i int, now time.Time) {
	h := &br.hdrs[i]
	p := br.pkts[i]
	p.N = int(h.Len)
	p.Truncated = h.Hdr.Flags&unix.MSG_TRUNC != 0
	p.Received = now
	p.Socket = br.socket
	p.Src = sockaddr(&br.names[i])
	if cl := int(h.Hdr.Controllen); cl > 0 {
		br.controlMessages(br.oob[i*oobSize : i*oobSize+min(cl, oobSize)])
	}
}

func sockaddr(sa *unix.RawSockaddrInet6) netip.AddrPort {
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// controlMessages reads SO_RXQ_OVFL (the socket's cumulative drop count)
// without allocating.
func (br *batchReader) controlMessages(b []byte) {
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(b) {
			return
		}
		data := b[unix.CmsgLen(0):l]
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && len(data) >= 4 {
			v := binary.NativeEndian.Uint32(data)
			if br.haveDrops && v != br.drops {
				br.r.kernelDrops(br.socket, v-br.drops)
			} else if !br.haveDrops && v > 0 {
				br.r.kernelDrops(br.socket, v)
			}
			br.drops, br.haveDrops = v, true
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next > len(b) {
			return
		}
		b = b[next:]
	}
}
