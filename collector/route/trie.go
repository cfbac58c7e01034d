package route

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// key is a 128-bit address. IPv4 addresses are stored IPv4-mapped
// (::ffff:a.b.c.d) so one trie serves both families; path compression makes
// the shared 96-bit prefix a single hop.
type key struct{ hi, lo uint64 }

func keyOf(a netip.Addr) key {
	b := a.As16()
	return key{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
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
	dir   []dirEntry // IPv4 directory, see buildDir
	dir6  *slotTable // IPv6 directory
	short *trie      // IPv6 prefixes of /32 or shorter
	// small tries (a scope's few networks) are walked from the root:
	// a 512 KiB IPv4 directory each would cost more than it saves.
	small bool
}

// smallTrie is the node count up to which a trie has no directories.
const smallTrie = 64

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

// dirEntry is one slot of a directory: the value of the longest prefix no
// longer than the slot covering it, and the trie node where longer prefixes
// inside the slot start (0 for none).
type dirEntry struct {
	best int32
	node uint32
}

// v4mapped is the key of ::ffff:0.0.0.0.
var v4mapped = key{hi: 0, lo: 0xffff << 32}

// entryAt computes the directory entry of the slot k/depth.
func (t *trie) entryAt(k key, depth uint8) dirEntry {
	best := int32(-1)
	i := uint32(0)
	for {
		nd := &t.nodes[i]
		if nd.plen >= depth {
			// Prefixes as long as the slot or longer start here, if the
			// node lies inside the slot.
			if nd.key.mask(depth) == k {
				return dirEntry{best: best, node: i}
			}
			return dirEntry{best: best}
		}
		if nd.plen != 0 && k.mask(nd.plen) != nd.key {
			return dirEntry{best: best}
		}
		if nd.value >= 0 {
			best = nd.value
		}
		i = nd.child[k.bit(nd.plen)]
		if i == 0 {
			return dirEntry{best: best}
		}
	}
}

// v6Depth is the slot size of the IPv6 directory: a /32, the usual size of
// an allocation to a network operator.
const v6Depth = 32

// buildDir fills the directories that turn the first steps of a lookup into
// one access: an array over the first 16 bits of IPv4 addresses, and a map
// over the /32s of IPv6 that hold longer prefixes (other IPv6 addresses can
// only match prefixes of /32 or shorter, kept in a small separate trie).
func (t *trie) buildDir() {
	t.dir, t.dir6, t.short = nil, nil, nil
	if t.small = len(t.nodes) <= smallTrie; t.small {
		return
	}
	has4 := false
	slots := map[uint32]bool{}
	short := newTrie()
	for _, n := range t.nodes[1:] {
		if n.plen >= 96 && n.key.mask(96) == v4mapped {
			has4 = true
			continue
		}
		if n.value < 0 {
			continue
		}
		if n.plen > v6Depth {
			slots[uint32(n.key.hi>>32)] = true
		} else {
			short.insert(n.key, n.plen, n.value)
		}
	}
	if has4 {
		const depth = 96 + 16
		t.dir = make([]dirEntry, 1<<16)
		for s := range t.dir {
			t.dir[s] = t.entryAt(key{lo: v4mapped.lo | uint64(s)<<16}, depth)
		}
	}
	if len(slots) > 0 {
		t.dir6 = newSlotTable(len(slots))
		for s := range slots {
			t.dir6.put(s, t.entryAt(key{hi: uint64(s) << 32}, v6Depth))
		}
		t.short = short
	}
}

// lookupAddr returns the value of the longest prefix containing a, or -1,
// using the directories.
func (t *trie) lookupAddr(a netip.Addr) int32 {
	a = a.Unmap()
	if t.small {
		return t.lookup(keyOf(a))
	}
	if a.Is4() {
		if t.dir == nil {
			return -1
		}
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		e := t.dir[v>>16]
		if e.node == 0 {
			return e.best
		}
		return t.walk(key{lo: v4mapped.lo | uint64(v)}, e.node, e.best)
	}
	k := keyOf(a)
	if t.dir6 == nil {
		return t.lookup(k)
	}
	if e, ok := t.dir6.get(uint32(k.hi >> 32)); ok {
		if e.node == 0 {
			return e.best
		}
		return t.walk(k, e.node, e.best)
	}
	return t.short.lookup(k)
}

// slotTable is an open-addressing hash table from /32 slots to directory
// entries: one array of small entries, so a lookup is usually one cache
// line.
type slotTable struct {
	shift   uint
	entries []slotEntry
}

type slotEntry struct {
	slot uint32
	used bool
	e    dirEntry
}

func newSlotTable(n int) *slotTable {
	size := 1
	for size < 2*n {
		size <<= 1
	}
	return &slotTable{shift: uint(64 - bits.TrailingZeros(uint(size))), entries: make([]slotEntry, size)}
}

func (t *slotTable) index(slot uint32) int {
	return int((uint64(slot) * 0x9E3779B97F4A7C15) >> t.shift)
}

func (t *slotTable) put(slot uint32, e dirEntry) {
	mask := len(t.entries) - 1
	for i := t.index(slot); ; i = (i + 1) & mask {
		if !t.entries[i].used || t.entries[i].slot == slot {
			t.entries[i] = slotEntry{slot: slot, used: true, e: e}
			return
		}
	}
}

func (t *slotTable) get(slot uint32) (dirEntry, bool) {
	mask := len(t.entries) - 1
	for i := t.index(slot); ; i = (i + 1) & mask {
		en := &t.entries[i]
		if !en.used {
			return dirEntry{}, false
		}
		if en.slot == slot {
			return en.e, true
		}
	}
}
