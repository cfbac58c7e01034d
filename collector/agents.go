package collector

import "github.com/prometheus/client_golang/prometheus"

// DefaultStateMemory is the collector-wide budget of remembered agent
// state, in bytes, when Config.StateMemory is 0.
const DefaultStateMemory = 64 << 20

// What remembering an agent costs, in bytes of heap, as measured by
// BenchmarkHostileAgents (an agent with a few sources: its state, its two
// small tables and its place in the worker's table) and for large tables
// (per source and per counter record, growth slack included).
const (
	agentCost  = 2048
	sourceCost = 48
	rateCost   = 192
)

// agentTable is what one worker remembers about agents: their datagram
// sequence, their sources' sample sequences and their counters for rates.
// Each agent is charged for its size (see agentCost) against the worker's
// budget; past it the least recently heard agents are forgotten. A
// forgotten agent that comes back starts over like a new one: its next
// gaps and rates cannot be computed, its documents are all produced.
//
// Keys come from datagram payloads, so a sender can invent as many as it
// likes; the budget bounds memory whatever it sends.
type agentTable struct {
	budget    int // bytes
	perAgent  int // sources (and rate entries) of one agent
	used      int
	m         map[agentKey]*agentState
	lru       agentState // sentinel: lru.next is the most recently used
	entries   prometheus.Gauge
	evictions prometheus.Counter
}

func newAgentTable(budget int, entries prometheus.Gauge, evictions prometheus.Counter) *agentTable {
	t := &agentTable{
		budget:    max(budget, 64*agentCost),
		m:         map[agentKey]*agentState{},
		entries:   entries,
		evictions: evictions,
	}
	t.perAgent = min(maxSources, t.budget/4/rateCost)
	t.lru.next, t.lru.prev = &t.lru, &t.lru
	return t
}

// get returns the state of k, marking it most recently used.
func (t *agentTable) get(k agentKey) (*agentState, bool) {
	st, ok := t.m[k]
	if ok && t.lru.next != st {
		st.unlink()
		t.pushFront(st)
	}
	return st, ok
}

// add remembers a new agent.
func (t *agentTable) add(k agentKey, st *agentState) {
	st.key = k
	st.sources = map[sourceKey]sourceState{}
	st.rates.MaxEntries = t.perAgent
	t.m[k] = st
	t.pushFront(st)
	t.charge(st)
}

// charge brings the budget up to date with st's size and forgets the
// least recently used other agents while the budget is exceeded.
func (t *agentTable) charge(st *agentState) {
	cost := agentCost + sourceCost*len(st.sources) + rateCost*st.rates.Len()
	if cost == st.cost {
		return
	}
	before := t.used
	t.used += cost - st.cost
	st.cost = cost
	for t.used > t.budget && t.lru.prev != st {
		t.evict(t.lru.prev)
	}
	t.entries.Add(float64(t.used - before)) // workers share the gauge
}

func (t *agentTable) evict(st *agentState) {
	st.unlink()
	delete(t.m, st.key)
	t.used -= st.cost
	t.evictions.Inc()
}

func (t *agentTable) pushFront(st *agentState) {
	st.prev, st.next = &t.lru, t.lru.next
	t.lru.next.prev = st
	t.lru.next = st
}

func (st *agentState) unlink() {
	st.prev.next, st.next.prev = st.next, st.prev
	st.prev, st.next = nil, nil
}
