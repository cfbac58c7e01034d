package synth

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// SFlowPort is the IANA port of sFlow, used as the destination port of the
// datagrams written to a capture file.
const SFlowPort = 6343

// pcapWriter writes datagrams as a classic libpcap capture (link type
// Ethernet), each wrapped in UDP, IPv4 and Ethernet headers, so that tshark,
// tcpdump, tcpreplay and pmacct's sfacctd can read them.
type pcapWriter struct {
	w   *bufio.Writer
	buf []byte
	id  uint16
}

func newPcapWriter(w io.Writer) (*pcapWriter, error) {
	p := &pcapWriter{w: bufio.NewWriterSize(w, 1<<16)}
	var hdr [24]byte
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4) // microsecond timestamps
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535) // snaplen
	binary.LittleEndian.PutUint32(hdr[20:], 1)     // LINKTYPE_ETHERNET
	if _, err := p.w.Write(hdr[:]); err != nil {
		return nil, fmt.Errorf("write pcap header: %w", err)
	}
	return p, nil
}

// write records one sFlow datagram sent by src at time ts.
func (p *pcapWriter) write(ts time.Time, src, dst netip.Addr, srcPort uint16, payload []byte) error {
	if !src.Is4() {
		src = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if !dst.Is4() {
		dst = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	p.id++
	b := p.buf[:0]
	b = append(b, 0x02, 0, 0, 0, 0x63, 0x43) // destination MAC (locally administered)
	s4 := src.As4()
	b = append(b, 0x02, 0, s4[0], s4[1], s4[2], s4[3])
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv4)
	ip := len(b)
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(20+8+len(payload)))
	b = binary.BigEndian.AppendUint16(b, p.id)
	b = binary.BigEndian.AppendUint16(b, 0x4000)
	b = append(b, 64, protoUDP, 0, 0)
	b = append(b, s4[:]...)
	d4 := dst.As4()
	b = append(b, d4[:]...)
	binary.BigEndian.PutUint16(b[ip+10:], ipv4Checksum(b[ip:ip+20]))
	b = binary.BigEndian.AppendUint16(b, srcPort)
	b = binary.BigEndian.AppendUint16(b, SFlowPort)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	b = append(b, 0, 0) // no UDP checksum (allowed over IPv4)
	b = append(b, payload...)
	p.buf = b

	var rec [16]byte
	us := ts.UnixMicro()
	binary.LittleEndian.PutUint32(rec[0:], uint32(us/1e6))
	binary.LittleEndian.PutUint32(rec[4:], uint32(us%1e6))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(b)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(b)))
	if _, err := p.w.Write(rec[:]); err != nil {
		return fmt.Errorf("write pcap record: %w", err)
	}
	if _, err := p.w.Write(b); err != nil {
		return fmt.Errorf("write pcap record: %w", err)
	}
	return nil
}

func (p *pcapWriter) flush() error {
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("flush pcap: %w", err)
	}
	return nil
}
