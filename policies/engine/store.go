package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/elk-project/elk/orchestrator/kv"
	"github.com/elk-project/elk/policies"
)

// Version is one stored revision of a policy.
type Version struct {
	N      int       `json:"version"`
	Time   time.Time `json:"time"`
	Author string    `json:"author"`
	Origin string    `json:"origin"` // api, file, kv, blueprint
	Diff   string    `json:"diff"`   // unified-style line diff from the previous version
	YAML   string    `json:"yaml"`
}

// Pin is an expiring operator override of the count.
type Pin struct {
	Count  int       `json:"count"`
	Until  time.Time `json:"until"`
	Author string    `json:"author"`
}

type rec struct {
	at time.Time
	n  int
}

// entry is one policy and its runtime state.
type entry struct {
	mu       sync.Mutex
	key      string
	pol      *policies.Policy
	yaml     string
	file     string // policy file it came from, if any
	versions []Version
	gen      uint64
	gone     bool

	paused   bool
	pausedBy string
	pin      *Pin

	hist         []rec // recommendation history (stabilization)
	warmStart    time.Time
	wasDeploying bool
	sourceDown   string // last source error while down
	journal      ring
	last         *policies.Decision
	m            *policyMetrics
}

func (en *entry) generation() uint64 {
	en.mu.Lock()
	defer en.mu.Unlock()
	return en.gen
}

func (en *entry) removed() bool {
	en.mu.Lock()
	defer en.mu.Unlock()
	return en.gone
}

func (en *entry) interval() time.Duration {
	en.mu.Lock()
	defer en.mu.Unlock()
	return en.pol.EvaluationInterval
}

// Apply validates p and makes it the running policy for its target,
// recording a new version when it differs from the current one. A policy
// that fails validation is rejected (wrapping ErrInvalid) and the running
// one is untouched.
func (e *Engine) Apply(p *policies.Policy, author, origin string) (Version, error) {
	return e.apply(p, author, origin, "", true)
}

func (e *Engine) apply(p *policies.Policy, author, origin, file string, persist bool) (Version, error) {
	if err := p.Validate(); err != nil {
		return Version{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	data, err := p.Marshal()
	if err != nil {
		return Version{}, err
	}
	text := string(data)
	key := p.Target.Key()
	now := e.clock.Now()
	e.mu.Lock()
	en := e.entries[key]
	if en == nil {
		en = &entry{key: key, journal: newRing(e.cfg.JournalSize)}
		en.m = e.metrics.forPolicy(p.Target.App, p.Target.Entity)
		e.entries[key] = en
		e.metrics.policies.Set(float64(len(e.entries)))
	}
	e.mu.Unlock()

	en.mu.Lock()
	if en.yaml == text {
		v := en.versions[len(en.versions)-1]
		if file != "" {
			en.file = file
		}
		en.mu.Unlock()
		return v, nil
	}
	v := Version{N: 1, Time: now, Author: author, Origin: origin, YAML: text, Diff: diff(en.yaml, text)}
	if n := len(en.versions); n > 0 {
		v.N = en.versions[n-1].N + 1
	}
	en.versions = append(en.versions, v)
	if len(en.versions) > e.cfg.HistorySize {
		en.versions = en.versions[len(en.versions)-e.cfg.HistorySize:]
	}
	old := en.pol
	en.pol, en.yaml = p, text
	if file != "" {
		en.file = file
	}
	en.gen++
	if en.pin != nil && (en.pin.Count < p.Min || en.pin.Count > p.Max) {
		en.pin = nil // a pin outside the new bounds no longer applies
	}
	target := en.file
	en.mu.Unlock()
	e.poke()

	e.log.Info("policy applied", "policy", key, "version", v.N, "author", author, "origin", origin)
	if old != nil {
		e.log.Debug("policy diff", "policy", key, "diff", v.Diff)
	}
	if persist {
		e.persist(key, text, target)
	}
	return v, nil
}

// persist writes an edited policy back to its file and to the KV store.
func (e *Engine) persist(key, text, file string) {
	if file != "" {
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(text), 0o644); err == nil {
			err = os.Rename(tmp, file)
			if err != nil {
				e.log.Warn("write policy file", "policy", key, "file", file, "error", err)
			}
		} else {
			e.log.Warn("write policy file", "policy", key, "file", file, "error", err)
		}
	}
	if e.deps.KV != nil {
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.ReadTimeout)
		defer cancel()
		if err := e.deps.KV.Put(ctx, e.cfg.KVPrefix+key, []byte(text)); err != nil {
			e.log.Warn("store policy in KV", "policy", key, "error", err)
		}
	}
}

// Remove stops evaluating the policy of app/entity.
func (e *Engine) Remove(app, entity string) {
	key := app + "/" + entity
	e.mu.Lock()
	en := e.entries[key]
	delete(e.entries, key)
	e.metrics.policies.Set(float64(len(e.entries)))
	e.mu.Unlock()
	if en == nil {
		return
	}
	en.mu.Lock()
	en.gone = true
	en.mu.Unlock()
	e.metrics.drop(app, entity)
	if e.deps.KV != nil {
		ctx, cancel := context.WithTimeout(context.Background(), e.cfg.ReadTimeout)
		defer cancel()
		for _, k := range []string{e.cfg.KVPrefix + key, e.cfg.StatePrefix + key} {
			if err := e.deps.KV.Delete(ctx, k); err != nil && !errors.Is(err, kv.ErrNotFound) {
				e.log.Warn("delete policy from KV", "policy", key, "key", k, "error", err)
			}
		}
	}
	e.poke()
}

// Policy returns the running policy of app/entity and its version.
func (e *Engine) Policy(app, entity string) (*policies.Policy, int, error) {
	en, err := e.get(app + "/" + entity)
	if err != nil {
		return nil, 0, err
	}
	en.mu.Lock()
	defer en.mu.Unlock()
	return en.pol, en.versions[len(en.versions)-1].N, nil
}

// Set changes fields of a running policy (see policies.Policy.Set).
func (e *Engine) Set(app, entity, author string, assignments ...string) (Version, error) {
	p, _, err := e.Policy(app, entity)
	if err != nil {
		return Version{}, err
	}
	np, err := p.Set(assignments...)
	if err != nil {
		return Version{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return e.Apply(np, author, "api")
}

// Replace parses a whole policy document for app/entity and applies it.
func (e *Engine) Replace(app, entity, author string, doc []byte) (Version, error) {
	p, err := policies.ParseBytes(app+"/"+entity, doc, false)
	if err != nil {
		return Version{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if p.Target.App == "" && p.Target.Entity == "" {
		p.Target = policies.Target{App: app, Entity: entity}
	}
	if p.Target.App != app || p.Target.Entity != entity {
		return Version{}, fmt.Errorf("%w: the document targets %s, not %s/%s", ErrInvalid, p.Target.Key(), app, entity)
	}
	return e.Apply(p, author, "api")
}

// Pause stops acting on a policy (it is still evaluated and journaled).
func (e *Engine) Pause(app, entity, author string) error {
	return e.setPaused(app, entity, author, true)
}

// Resume undoes Pause.
func (e *Engine) Resume(app, entity, author string) error {
	return e.setPaused(app, entity, author, false)
}

func (e *Engine) setPaused(app, entity, author string, b bool) error {
	en, err := e.get(app + "/" + entity)
	if err != nil {
		return err
	}
	en.mu.Lock()
	en.paused, en.pausedBy = b, author
	en.mu.Unlock()
	e.log.Info("policy paused", "policy", en.key, "paused", b, "author", author)
	e.saveState(en)
	return nil
}

// PinCount holds the count at n for d (0 removes a pin). n must be within
// the policy's min and max.
func (e *Engine) PinCount(app, entity string, n int, d time.Duration, author string) (*Pin, error) {
	en, err := e.get(app + "/" + entity)
	if err != nil {
		return nil, err
	}
	en.mu.Lock()
	if d <= 0 {
		en.pin = nil
		en.mu.Unlock()
		e.saveState(en)
		return nil, nil
	}
	if n < en.pol.Min || n > en.pol.Max {
		en.mu.Unlock()
		return nil, fmt.Errorf("%w: pin %d is outside min %d and max %d", ErrInvalid, n, en.pol.Min, en.pol.Max)
	}
	en.pin = &Pin{Count: n, Until: e.clock.Now().Add(d), Author: author}
	pin := *en.pin
	en.mu.Unlock()
	e.log.Info("policy pinned", "policy", en.key, "count", n, "until", pin.Until, "author", author)
	e.saveState(en)
	return &pin, nil
}

// operatorState is a policy's operator overrides as shared through the KV
// store, so that a restarted server or a new leader keeps them.
type operatorState struct {
	Paused   bool   `json:"paused"`
	PausedBy string `json:"paused_by,omitempty"`
	Pin      *Pin   `json:"pin,omitempty"`
}

func (e *Engine) saveState(en *entry) {
	if e.deps.KV == nil {
		return
	}
	en.mu.Lock()
	st := operatorState{Paused: en.paused, PausedBy: en.pausedBy, Pin: en.pin}
	en.mu.Unlock()
	data, err := json.Marshal(st)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.ReadTimeout)
	defer cancel()
	if err := e.deps.KV.Put(ctx, e.cfg.StatePrefix+en.key, data); err != nil {
		e.log.Warn("store policy overrides in KV", "policy", en.key, "error", err)
	}
}

// loadState applies overrides read from the KV store.
func (e *Engine) loadState(key string, data []byte) {
	en, err := e.get(key)
	if err != nil {
		return
	}
	var st operatorState
	if err := json.Unmarshal(data, &st); err != nil {
		e.log.Warn("policy overrides in KV unreadable", "policy", key, "error", err)
		return
	}
	en.mu.Lock()
	defer en.mu.Unlock()
	en.paused, en.pausedBy = st.Paused, st.PausedBy
	if st.Pin == nil || !e.clock.Now().Before(st.Pin.Until) {
		en.pin = nil
	} else if en.pin == nil || *en.pin != *st.Pin {
		p := *st.Pin
		en.pin = &p
	}
}

// History returns the stored versions of a policy, oldest first.
func (e *Engine) History(app, entity string) ([]Version, error) {
	en, err := e.get(app + "/" + entity)
	if err != nil {
		return nil, err
	}
	en.mu.Lock()
	defer en.mu.Unlock()
	return append([]Version(nil), en.versions...), nil
}

// Explain returns the last n decisions of a policy, newest last.
func (e *Engine) Explain(app, entity string, n int) ([]policies.Decision, error) {
	en, err := e.get(app + "/" + entity)
	if err != nil {
		return nil, err
	}
	en.mu.Lock()
	defer en.mu.Unlock()
	return en.journal.last(n), nil
}

// Status is the runtime view of one policy.
type Status struct {
	Policy     string             `json:"policy"`
	Version    int                `json:"version"`
	Origin     string             `json:"origin"`
	File       string             `json:"file,omitempty"`
	Min        int                `json:"min"`
	Max        int                `json:"max"`
	Paused     bool               `json:"paused"`
	Pin        *Pin               `json:"pin,omitempty"`
	SourceDown string             `json:"source_down,omitempty"`
	Leader     bool               `json:"leader"`
	Last       *policies.Decision `json:"last,omitempty"`
	YAML       string             `json:"yaml,omitempty"`
	Checks     []string           `json:"checks"`
	Warmup     time.Time          `json:"warmup_until,omitzero"`
}

// Status returns the runtime view of a policy.
func (e *Engine) Status(app, entity string) (Status, error) {
	en, err := e.get(app + "/" + entity)
	if err != nil {
		return Status{}, err
	}
	leader := e.Leader()
	en.mu.Lock()
	defer en.mu.Unlock()
	return e.status(en, leader), nil
}

func (e *Engine) status(en *entry, leader bool) Status {
	v := en.versions[len(en.versions)-1]
	s := Status{
		Policy: en.key, Version: v.N, Origin: v.Origin, File: en.file,
		Min: en.pol.Min, Max: en.pol.Max, Paused: en.paused, SourceDown: en.sourceDown,
		Leader: leader, YAML: en.yaml,
	}
	if en.pin != nil && e.clock.Now().Before(en.pin.Until) {
		p := *en.pin
		s.Pin = &p
	}
	if en.last != nil {
		d := *en.last
		s.Last = &d
	}
	for _, c := range en.pol.Checks {
		s.Checks = append(s.Checks, c.Name)
	}
	if w := en.warmStart.Add(en.pol.Controls.Warmup); en.pol.Controls.Warmup > 0 && e.clock.Now().Before(w) {
		s.Warmup = w
	}
	return s
}

// List returns the status of every policy, sorted by key (without YAML).
func (e *Engine) List() []Status {
	leader := e.Leader()
	var out []Status
	for _, k := range e.Keys() {
		en, err := e.get(k)
		if err != nil {
			continue
		}
		en.mu.Lock()
		s := e.status(en, leader)
		en.mu.Unlock()
		s.YAML = ""
		out = append(out, s)
	}
	return out
}

// maxDiffCells bounds the table of diff's exact middle: 1<<20 cells of
// int32, 4 MiB, whatever the size of the documents.
const maxDiffCells = 1 << 20

// diff returns a line diff of a and b, "-" and "+" prefixed, unchanged
// lines omitted. Common leading and trailing lines are skipped first (an
// edit usually touches a few lines); the changed middle gets a minimal
// (LCS) diff when its table fits in maxDiffCells, and otherwise is shown as
// removed and added whole, so memory stays bounded for any input.
func diff(a, b string) string {
	if a == b {
		return ""
	}
	x, y := splitLines(a), splitLines(b)
	for len(x) > 0 && len(y) > 0 && x[0] == y[0] {
		x, y = x[1:], y[1:]
	}
	for len(x) > 0 && len(y) > 0 && x[len(x)-1] == y[len(y)-1] {
		x, y = x[:len(x)-1], y[:len(y)-1]
	}
	n, m := len(x), len(y)
	var out strings.Builder
	if int64(n+1)*int64(m+1) > maxDiffCells {
		for _, l := range x {
			out.WriteString("-" + l + "\n")
		}
		for _, l := range y {
			out.WriteString("+" + l + "\n")
		}
		return out.String()
	}
	w := m + 1
	lcs := make([]int32, (n+1)*w) // lcs[i*w+j]: LCS length of x[i:], y[j:]
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			i++
			j++
		case i < n && (j == m || lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
			out.WriteString("-" + x[i] + "\n")
			i++
		default:
			out.WriteString("+" + y[j] + "\n")
			j++
		}
	}
	return out.String()
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func isYAML(name string) bool {
	ext := filepath.Ext(name)
	return (ext == ".yaml" || ext == ".yml") && !strings.HasPrefix(filepath.Base(name), ".")
}
