package route

import (
	"math/bits"
	"net/netip"
)

// key is a 128-bit address. IPv4 addresses are stored IPv4-mapped
// (::ffff:a.b.c.d) so one trie serves both families; path compression makes
// the shared 96-bit prefix a single hop.
type key struct{ hi, lo uint64 }

func keyOf(a netip.Addr) key {
	b := a.As16()
	return key{
		hi: uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
			uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7]),
		lo: uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 |
			uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15]),
	}
}

// bit returns bit i (0 = most significant) of k.
func (k key) bit(i uint8) int {
	if i < 64 {
		return int(k.hi>>(63-i)) & 1
	}
	return int(k.lo>>(127-i)) & 1
}

// mask keeps the first n bits of k.
func (k key) mask(n uint8) key {
	switch {
	case n == 0:
		return key{}
	case n < 64:
		return key{hi: k.hi &^ (^uint64(0) >> n)}
	case n == 64:
		return key{hi: k.hi}
	case n < 128:
		return key{hi: k.hi, lo: k.lo &^ (^uint64(0) >> (n - 64))}
	default:
		return k
	}
}

// commonLen is the number of leading bits a and b share, at most max.
func commonLen(a, b key, max uint8) uint8 {
	var n uint8
	if x := a.hi ^ b.hi; x != 0 {
		n = uint8(bits.LeadingZeros64(x))
	} else if x := a.lo ^ b.lo; x != 0 {
		n = 64 + uint8(bits.LeadingZeros64(x))
	} else {
		n = 128
	}
	if n > max {
		n = max
	}
	return n
}

// prefixKey turns a prefix into its trie key and length (IPv4 prefixes are
// shifted by 96 bits, matching keyOf's IPv4-mapped form).
func prefixKey(p netip.Prefix) (key, uint8) {
	p = p.Masked()
	a := p.Addr()
	n := uint8(p.Bits())
	if a.Is4() {
		n += 96
	}
	return keyOf(a).mask(n), n
}

// node is one node of the path-compressed binary trie. Nodes live in one
// slice and refer to their children by index (0 = none: index 0 is the root,
// which is never anyone's child), which keeps them compact and cache-friendly.
type node struct {
	key   key
	plen  uint8
	value int32 // index into the trie's value sets, -1 for none
	child [2]uint32
}

// trie is a path-compressed binary (PATRICIA-style) trie for longest-prefix
// match over IPv4 and IPv6 prefixes. It is built once and then only read.
type trie struct {
	nodes []node
	dir   []dirEntry
}

func newTrie() *trie {
	return &trie{nodes: []node{{value: -1}}}
}

// insert stores value at prefix (k, n), returning the node's previous value
// (-1 if it had none).
func (t *trie) insert(k key, n uint8, value int32) int32 {
	cur := uint32(0)
	for {
		nd := &t.nodes[cur]
		if nd.plen == n {
			old := nd.value
			nd.value = value
			return old
		}
		b := k.bit(nd.plen)
		next := nd.child[b]
		if next == 0 {
			t.nodes = append(t.nodes, node{key: k, plen: n, value: value})
			t.nodes[cur].child[b] = uint32(len(t.nodes) - 1)
			return -1
		}
		c := t.nodes[next]
		common := commonLen(k, c.key, min(n, c.plen))
		if common == c.plen {
			cur = next
			continue
		}
		// The new prefix diverges from the child inside the child's
		// compressed path: split it there.
		if common == n {
			// The new prefix is an ancestor of the child.
			nn := node{key: k, plen: n, value: value}
			nn.child[c.key.bit(n)] = next
			t.nodes = append(t.nodes, nn)
			t.nodes[cur].child[b] = uint32(len(t.nodes) - 1)
			return -1
		}
		split := node{key: k.mask(common), plen: common, value: -1}
		leaf := node{key: k, plen: n, value: value}
		t.nodes = append(t.nodes, leaf)
		leafIdx := uint32(len(t.nodes) - 1)
		split.child[k.bit(common)] = leafIdx
		split.child[c.key.bit(common)] = next
		t.nodes = append(t.nodes, split)
		t.nodes[cur].child[b] = uint32(len(t.nodes) - 1)
		return -1
	}
}

// lookup returns the value of the longest prefix containing k, or -1.
func (t *trie) lookup(k key) int32 { return t.walk(k, 0, -1) }

// walk descends from node i, whose ancestors' best match is best.
func (t *trie) walk(k key, i uint32, best int32) int32 {
	nodes := t.nodes
	for {
		nd := &nodes[i]
		if k.mask(nd.plen) != nd.key {
			return best
		}
		if nd.value >= 0 {
			best = nd.value
		}
		if nd.plen >= 128 {
			return best
		}
		i = nd.child[k.bit(nd.plen)]
		if i == 0 {
			return best
		}
	}
}

// dirEntry is one slot of the IPv4 /16 directory: the value of the longest
// prefix of length ≤ 16 covering the slot, and the trie node where prefixes
// longer than /16 inside the slot start (0 for none).
type dirEntry struct {
	best int32
	node uint32
}

// v4mapped is the key of ::ffff:0.0.0.0.
var v4mapped = key{hi: 0, lo: 0xffff << 32}

// buildDir fills the IPv4 directory, which turns the first 16 bits of an
// IPv4 lookup into one array access. It is built only when the trie holds
// IPv4 prefixes.
func (t *trie) buildDir() {
	t.dir = nil
	has4 := false
	for _, n := range t.nodes[1:] {
		if n.plen >= 96 && n.key.mask(96) == v4mapped {
			has4 = true
			break
		}
	}
	if !has4 {
		return
	}
	t.dir = make([]dirEntry, 1<<16)
	const depth = 96 + 16
	for s := range t.dir {
		k := key{lo: v4mapped.lo | uint64(s)<<16}
		best := int32(-1)
		i := uint32(0)
		for {
			nd := &t.nodes[i]
			if nd.plen >= depth {
				// Prefixes of /16 and longer start here, if the node lies
				// inside this slot.
				if nd.key.mask(depth) == k {
					t.dir[s] = dirEntry{best: best, node: i}
				} else {
					t.dir[s] = dirEntry{best: best}
				}
				break
			}
			if nd.plen != 0 && k.mask(nd.plen) != nd.key {
				t.dir[s] = dirEntry{best: best}
				break
			}
			if nd.value >= 0 {
				best = nd.value
			}
			i = nd.child[k.bit(nd.plen)]
			if i == 0 {
				t.dir[s] = dirEntry{best: best}
				break
			}
		}
	}
}

// lookupAddr is lookup with the IPv4 fast path.
func (t *trie) lookupAddr(a netip.Addr) int32 {
	if a.Is4() && t.dir != nil {
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		e := t.dir[v>>16]
		if e.node == 0 {
			return e.best
		}
		return t.walk(key{lo: v4mapped.lo | uint64(v)}, e.node, e.best)
	}
	return t.lookup(keyOf(a))
}
