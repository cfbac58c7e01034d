package flowdoc

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
)

// communityIDLen is the length of a version 1 Community ID: "1:" and the
// base64 of a SHA-1.
const communityIDLen = 2 + 28

// appendCommunityID computes the Community ID (version 1, seed 0) of a
// flow's endpoints. ICMP flows, whose id derives from type and code, and
// flows without both addresses are left without one (ok false).
func appendCommunityID(_ []byte, e *Endpoints) (id [communityIDLen]byte, ok bool) {
	if !e.Src.IsValid() || !e.Dst.IsValid() || !e.HasProto || e.Proto == 1 || e.Proto == 58 {
		return id, false
	}
	src, dst := e.Src.Unmap(), e.Dst.Unmap()
	if src.Is4() != dst.Is4() {
		return id, false
	}
	var sb, db [16]byte
	var sl []byte
	var dl []byte
	if src.Is4() {
		s4, d4 := src.As4(), dst.As4()
		copy(sb[:], s4[:])
		copy(db[:], d4[:])
		sl, dl = sb[:4], db[:4]
	} else {
		sb, db = src.As16(), dst.As16()
		sl, dl = sb[:], db[:]
	}
	sp, dp := e.SrcPort, e.DstPort
	if c := bytes.Compare(sl, dl); c > 0 || (c == 0 && sp > dp) {
		sl, dl = dl, sl
		sp, dp = dp, sp
	}
	var in [2 + 16 + 16 + 2 + 4]byte
	n := 2 // seed 0
	n += copy(in[n:], sl)
	n += copy(in[n:], dl)
	in[n] = e.Proto
	n += 2 // protocol and padding
	if e.HasPorts {
		binary.BigEndian.PutUint16(in[n:], sp)
		binary.BigEndian.PutUint16(in[n+2:], dp)
		n += 4
	}
	sum := sha1.Sum(in[:n])
	id[0], id[1] = '1', ':'
	base64.StdEncoding.Encode(id[2:], sum[:])
	return id, true
}
