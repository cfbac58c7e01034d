// Command genpcap writes a small pcap of hand-built frames that loopback
// traffic does not have (802.1Q, QinQ, MPLS, IPv6 extension headers,
// ICMP/ICMPv6, varied sizes). make-seeds.sh feeds it to pmacctd's sfprobe.
// The frames are written byte by byte, independently of elk's encoder.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genpcap OUT.pcap")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], build(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

var (
	dst = []byte{0x00, 0x1b, 0x21, 0x0a, 0x0b, 0x0c}
	src = []byte{0x00, 0x1b, 0x21, 0x0d, 0x0e, 0x0f}
)

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func u16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func ipv4(proto byte, payloadLen int, s, d [4]byte) []byte {
	h := []byte{0x45, 0x00, 0, 0, 0x00, 0x01, 0x40, 0x00, 64, proto, 0, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(20+payloadLen))
	h = cat(h, s[:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
	return h
}

func ipv6(next byte, payloadLen int, last byte) []byte {
	h := []byte{0x60, 0x00, 0x00, 0x00, 0, 0, next, 64}
	binary.BigEndian.PutUint16(h[4:], uint16(payloadLen))
	s := []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	d := []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last}
	return cat(h, s, d)
}

func tcp(sport, dport uint16, flags byte) []byte {
	return cat(u16(sport), u16(dport), []byte{0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0})
}

func udp(sport, dport uint16, payloadLen int) []byte {
	return cat(u16(sport), u16(dport), u16(uint16(8+payloadLen)), []byte{0, 0})
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func build() []byte {
	var frames [][]byte
	for i := 0; i < 40; i++ {
		n := 10 + i*37 // payload sizes 10..1453
		s := [4]byte{10, 1, byte(i), 1}
		d := [4]byte{192, 0, 2, byte(i)}
		switch i % 8 {
		case 0: // untagged IPv4 TCP
			p := payload(n)
			frames = append(frames, cat(dst, src, u16(0x0800), ipv4(6, 20+n, s, d), tcp(40000+uint16(i), 443, 0x18), p))
		case 1: // 802.1Q IPv4 UDP
			p := payload(n)
			frames = append(frames, cat(dst, src, u16(0x8100), u16(100), u16(0x0800), ipv4(17, 8+n, s, d), udp(5353, 53, n), p))
		case 2: // QinQ 802.1ad + 802.1Q, IPv4 TCP
			p := payload(n)
			frames = append(frames, cat(dst, src, u16(0x88a8), u16(200), u16(0x8100), u16(30), u16(0x0800), ipv4(6, 20+n, s, d), tcp(1024, 80, 0x02), p))
		case 3: // MPLS two labels, IPv4 UDP
			p := payload(n)
			frames = append(frames, cat(dst, src, u16(0x8847), []byte{0x00, 0x3e, 0x80, 0x40, 0x00, 0x01, 0x01, 0x40}, ipv4(17, 8+n, s, d), udp(9000, 9001, n), p))
		case 4: // IPv6 TCP
			p := payload(n)
			frames = append(frames, cat(dst, src, u16(0x86dd), ipv6(6, 20+n, byte(i)), tcp(50000, 22, 0x10), p))
		case 5: // IPv6 hop-by-hop then UDP
			p := payload(n)
			hbh := []byte{17, 0, 1, 4, 0, 0, 0, 0}
			frames = append(frames, cat(dst, src, u16(0x86dd), ipv6(0, 8+8+n, byte(i)), hbh, udp(123, 123, n), p))
		case 6: // ICMP echo
			p := payload(n)
			frames = append(frames, cat(dst, src, u16(0x0800), ipv4(1, 8+n, s, d), []byte{8, 0, 0, 0, 0, 1, 0, byte(i)}, p))
		case 7: // ICMPv6 echo inside 802.1Q
			p := payload(n)
			frames = append(frames, cat(dst, src, u16(0x8100), u16(0x2000|300), u16(0x86dd), ipv6(58, 8+n, byte(i)), []byte{128, 0, 0, 0, 0, 1, 0, byte(i)}, p))
		}
	}
	// pcap global header: magic, v2.4, tz 0, sigfigs 0, snaplen 65535, DLT_EN10MB.
	out := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0}
	for i, f := range frames {
		var rec [16]byte
		binary.LittleEndian.PutUint32(rec[0:], uint32(1_700_000_000+i/10))
		binary.LittleEndian.PutUint32(rec[4:], uint32(i%10)*100_000)
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(f)))
		out = append(out, rec[:]...)
		out = append(out, f...)
	}
	return out
}
