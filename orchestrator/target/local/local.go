// Package local is the target that runs entities as child processes on this
// machine: one process group per instance, size-rotated logs in the state
// directory (fed through a named pipe that outlives the server),
// restarts with exponential backoff, per-instance ports, HTTP/TCP health
// checks, and adoption of the processes a previous server left running.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/secrets"
	"github.com/elk-project/elk/orchestrator/target"

	"github.com/elk-project/elk/orchestrator/statedir"
)

// Config configures the local target.
type Config struct {
	// StateDir holds specs, pid files and logs (required).
	StateDir string
	// Host is the address instances listen on and are reached at.
	Host string // default 127.0.0.1
	// RegistryURL is passed to instances as ${registry} and ELK_REGISTRY.
	RegistryURL string
	// Registry, if set, receives a health-checked registration per instance.
	Discovery discovery.Registry
	// ElkBinary replaces a command named "elk" (default: this executable).
	ElkBinary string
	// Restart backoff: doubles from BackoffMin up to BackoffMax; a run
	// lasting StableAfter resets it.
	BackoffMin  time.Duration // default 500ms
	BackoffMax  time.Duration // default 30s
	StableAfter time.Duration // default 10s
	// GracePeriod between SIGTERM and SIGKILL.
	GracePeriod time.Duration // default 5s
	// HealthInterval is the default health check interval.
	HealthInterval time.Duration // default 1s
	// FailAfterRestarts makes Wait fail once an instance restarted this
	// many times while it waits.
	FailAfterRestarts int // default 3
	// Keyring seals the specs' secrets in the state directory; without
	// one they are written as they are.
	Keyring *secrets.Keyring
	// An instance's output goes to <index>.log, rotated while it runs
	// once it would grow past LogMaxBytes, keeping LogBackups older files
	// (<index>.log.1 newest … <index>.log.N): at most
	// LogMaxBytes*(LogBackups+1) bytes on disk per instance.
	LogMaxBytes int64 // default 64 MiB
	LogBackups  int   // default 3
}

// Log rotation defaults: 256 MiB at most per instance.
const (
	defaultLogMaxBytes = 64 << 20
	defaultLogBackups  = 3
)

func (c *Config) defaults() error {
	if c.StateDir == "" {
		return errors.New("local target: state directory is required")
	}
	if c.Host == "" {
		c.Host = "127.0.0.1"
	}
	if c.ElkBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("local target: find own executable: %w", err)
		}
		c.ElkBinary = exe
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = 500 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 30 * time.Second
	}
	if c.StableAfter <= 0 {
		c.StableAfter = 10 * time.Second
	}
	if c.GracePeriod <= 0 {
		c.GracePeriod = 5 * time.Second
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = time.Second
	}
	if c.FailAfterRestarts <= 0 {
		c.FailAfterRestarts = 3
	}
	if c.LogMaxBytes <= 0 {
		c.LogMaxBytes = defaultLogMaxBytes
	}
	if c.LogBackups <= 0 {
		c.LogBackups = defaultLogBackups
	}
	return nil
}

type key struct{ app, entity string }

// Target runs entities as local processes. Create it with New; Close (or
// the end of Run's context) stops every process it runs.
type Target struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	entities map[key]*entity
	ports    map[int]bool // allocated per-instance ports
	closed   bool

	wg sync.WaitGroup
}

var _ target.Target = (*Target)(nil)

type entity struct {
	key       key
	spec      target.Spec
	hash      string
	dir       string
	instances map[int]*instance
	// ops serializes Apply/Scale/Remove of one entity.
	ops sync.Mutex
}

var errClosed = errors.New("local target: closed")

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// New creates the target and restores the entities recorded in the state
// directory: instances whose processes still run are adopted, the others
// are started again.
func New(cfg Config, log *slog.Logger) (*Target, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Target{cfg: cfg, log: log, entities: map[key]*entity{}, ports: map[int]bool{}}
	if err := os.MkdirAll(t.appsDir(), 0o700); err != nil {
		return nil, fmt.Errorf("local target: %w", err)
	}
	if err := t.restore(); err != nil {
		return nil, err
	}
	return t, nil
}

// Name returns "local".
func (t *Target) Name() string { return "local" }

// Run blocks until ctx ends, then stops every process.
func (t *Target) Run(ctx context.Context) error {
	<-ctx.Done()
	t.Close()
	return nil
}

// Close stops every instance (SIGTERM, then SIGKILL after the grace
// period) and waits for them. Specs stay in the state directory so a new
// target resumes them.
func (t *Target) Close() {
	t.mu.Lock()
	t.closed = true
	var all []*instance
	for _, e := range t.entities {
		for _, in := range e.instances {
			all = append(all, in)
		}
	}
	t.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range all {
		wg.Go(func() { in.stop(false) })
	}
	wg.Wait()
	t.wg.Wait()
}

func (t *Target) appsDir() string { return filepath.Join(t.cfg.StateDir, "apps") }

func (t *Target) entityDir(k key) string { return filepath.Join(t.appsDir(), k.app, k.entity) }

func (t *Target) validate(spec target.Spec) error {
	var errs []error
	if !namePattern.MatchString(spec.App) {
		errs = append(errs, fmt.Errorf("app name %q: use letters, digits, '-', '_' or '.'", spec.App))
	}
	if !namePattern.MatchString(spec.Entity) {
		errs = append(errs, fmt.Errorf("entity id %q: use letters, digits, '-', '_' or '.'", spec.Entity))
	}
	if spec.Count < 0 {
		errs = append(errs, fmt.Errorf("count %d: must not be negative", spec.Count))
	}
	if len(spec.Command) == 0 {
		errs = append(errs, fmt.Errorf("entity %q (type %s) has no command to run on the local target", spec.Entity, spec.Type))
	} else if _, err := t.lookPath(spec.Command[0]); err != nil {
		errs = append(errs, err)
	}
	names := map[string]bool{}
	for _, p := range spec.Ports {
		if p.Name == "" || names[p.Name] {
			errs = append(errs, fmt.Errorf("port name %q: empty or duplicate", p.Name))
		}
		names[p.Name] = true
		if p.Static < 0 || p.Static > 65535 {
			errs = append(errs, fmt.Errorf("port %s: static %d out of range", p.Name, p.Static))
		}
	}
	if (spec.Health.HTTPPath != "" || spec.Health.TCP) && !names[spec.Health.Port] {
		errs = append(errs, fmt.Errorf("health check port %q is not a port of the entity", spec.Health.Port))
	}
	check := func(s string) {
		for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
			if name, ok := strings.CutPrefix(m[1], "port."); ok {
				if !names[name] {
					errs = append(errs, fmt.Errorf("%s: unknown port %q", m[0], name))
				}
			} else if !slices.Contains([]string{"instance", "app", "entity", "registry"}, m[1]) {
				errs = append(errs, fmt.Errorf("unknown placeholder %s", m[0]))
			}
		}
	}
	for _, a := range spec.Command {
		check(a)
	}
	for _, v := range spec.Env {
		check(v)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("entity %s/%s: %w", spec.App, spec.Entity, err)
	}
	return nil
}

func (t *Target) lookPath(name string) (string, error) {
	if name == "elk" {
		return t.cfg.ElkBinary, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("command %q is not installed on this machine (not found in PATH)", name)
	}
	return p, nil
}

var placeholder = regexp.MustCompile(`\$\{([a-zA-Z0-9_.-]+)\}`)

// expand substitutes the per-instance placeholders.
func (t *Target) expand(s string, spec target.Spec, index int, ports map[string]int) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		switch name {
		case "instance":
			return strconv.Itoa(index)
		case "app":
			return spec.App
		case "entity":
			return spec.Entity
		case "registry":
			return t.cfg.RegistryURL
		}
		if p, ok := strings.CutPrefix(name, "port."); ok {
			if n, ok := ports[p]; ok {
				return strconv.Itoa(n)
			}
		}
		return m
	})
}

// Apply creates or updates the entity. A changed spec replaces the
// instances; a changed count only scales.
func (t *Target) Apply(ctx context.Context, spec target.Spec) error {
	if err := t.validate(spec); err != nil {
		return err
	}
	spec = cloneSpec(spec)
	k := key{spec.App, spec.Entity}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return errClosed
	}
	e, ok := t.entities[k]
	if !ok {
		e = &entity{key: k, dir: t.entityDir(k), instances: map[int]*instance{}}
		t.entities[k] = e
	}
	t.mu.Unlock()

	e.ops.Lock()
	defer e.ops.Unlock()
	hash := spec.Hash()
	t.mu.Lock()
	if t.entities[k] != e { // removed meanwhile
		t.mu.Unlock()
		return t.Apply(ctx, spec)
	}
	changed := e.hash != hash
	var old []*instance
	if changed {
		for _, in := range e.instances {
			old = append(old, in)
		}
	}
	e.spec, e.hash = spec, hash
	t.mu.Unlock()

	if err := os.MkdirAll(e.dir, 0o700); err != nil {
		return fmt.Errorf("apply %s/%s: %w", k.app, k.entity, err)
	}
	if err := t.saveSpec(e); err != nil {
		return err
	}
	if len(old) > 0 {
		t.log.Info("replacing instances for a changed spec", "app", k.app, "entity", k.entity, "instances", len(old))
		if err := t.roll(ctx, e, old); err != nil {
			return err
		}
	}
	return t.reconcile(e)
}

// rollWait bounds the wait for a replaced instance to become healthy
// before the next one is replaced.
const rollWait = 30 * time.Second

// roll replaces old instances one at a time, lowest index first: stop
// one, start its replacement on the same ports, wait (boundedly) for it to
// be healthy, go on. Entities sharing a static port (collectors) keep
// serving meanwhile. e.ops must be held.
func (t *Target) roll(ctx context.Context, e *entity, old []*instance) error {
	sort.Slice(old, func(i, j int) bool { return old[i].index < old[j].index })
	for i, oi := range old {
		oi.stop(true)
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return errClosed
		}
		if oi.index >= e.spec.Count {
			delete(e.instances, oi.index)
			t.mu.Unlock()
			continue
		}
		in, err := t.newInstance(e, oi.index, oi.ports)
		if err != nil {
			t.mu.Unlock()
			return err
		}
		e.instances[oi.index] = in
		t.mu.Unlock()
		t.wg.Go(func() { in.supervise(nil) })
		if i == len(old)-1 {
			break
		}
		deadline := time.Now().Add(rollWait)
		for {
			t.mu.Lock()
			ok := in.healthy && in.state == "running"
			crashed := in.restarts > 0
			t.mu.Unlock()
			if ok || crashed || time.Now().After(deadline) {
				break
			}
			select {
			case <-ctx.Done():
				// Stop rolling; reconcile starts the remaining replacements.
				for _, rest := range old[i+1:] {
					rest.stop(true)
					t.mu.Lock()
					delete(e.instances, rest.index)
					t.mu.Unlock()
				}
				return nil
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// reconcile starts missing instances and stops extra ones (highest index
// first); e.ops must be held.
func (t *Target) reconcile(e *entity) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return errClosed
	}
	want := e.spec.Count
	var extra []*instance
	for idx, in := range e.instances {
		if idx >= want {
			extra = append(extra, in)
			delete(e.instances, idx)
		}
	}
	var start []*instance
	for idx := range want {
		if _, ok := e.instances[idx]; ok {
			continue
		}
		in, err := t.newInstance(e, idx, nil)
		if err != nil {
			t.mu.Unlock()
			return err
		}
		e.instances[idx] = in
		start = append(start, in)
	}
	t.mu.Unlock()
	sort.Slice(extra, func(i, j int) bool { return extra[i].index > extra[j].index })
	for _, in := range extra {
		in.stop(true)
	}
	for _, in := range start {
		t.wg.Go(func() { in.supervise(nil) })
	}
	return nil
}

// Scale changes the entity's count.
func (t *Target) Scale(ctx context.Context, app, entity string, req target.ScaleRequest) error {
	if req.Count < 0 {
		return fmt.Errorf("scale %s/%s: count %d must not be negative", app, entity, req.Count)
	}
	e, err := t.lookup(app, entity)
	if err != nil {
		return fmt.Errorf("scale %s/%s: %w", app, entity, err)
	}
	e.ops.Lock()
	defer e.ops.Unlock()
	t.mu.Lock()
	e.spec.Count = req.Count
	t.mu.Unlock()
	t.log.Info("scaling", "app", app, "entity", entity, "count", req.Count, "reason", req.Message)
	if err := t.saveSpec(e); err != nil {
		return err
	}
	return t.reconcile(e)
}

func (t *Target) lookup(app, entity string) (*entity, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entities[key{app, entity}]
	if !ok {
		return nil, target.ErrNotFound
	}
	return e, nil
}

// Remove stops the entity's processes and forgets it.
func (t *Target) Remove(ctx context.Context, app, entity string) error {
	e, err := t.lookup(app, entity)
	if errors.Is(err, target.ErrNotFound) {
		// Clean up a leftover directory, e.g. of a failed restore.
		_ = os.RemoveAll(t.entityDir(key{app, entity}))
		return nil
	}
	e.ops.Lock()
	defer e.ops.Unlock()
	t.mu.Lock()
	var all []*instance
	for _, in := range e.instances {
		all = append(all, in)
	}
	e.instances = map[int]*instance{}
	if t.entities[e.key] == e {
		delete(t.entities, e.key)
	}
	t.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range all {
		wg.Go(func() { in.stop(true) })
	}
	wg.Wait()
	if err := os.RemoveAll(e.dir); err != nil {
		return fmt.Errorf("remove %s/%s: %w", app, entity, err)
	}
	_ = os.Remove(filepath.Dir(e.dir)) // the app directory, once empty
	t.log.Info("removed", "app", app, "entity", entity)
	return nil
}

// List returns the entities of app, sorted.
func (t *Target) List(ctx context.Context, app string) ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []string{}
	for k := range t.entities {
		if k.app == app {
			out = append(out, k.entity)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Apps lists the applications the target runs entities of, sorted.
func (t *Target) Apps() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for k := range t.entities {
		if !slices.Contains(out, k.app) {
			out = append(out, k.app)
		}
	}
	slices.Sort(out)
	return out
}

// Status reports the entity's instances.
func (t *Target) Status(ctx context.Context, app, entity string) (target.Status, error) {
	e, err := t.lookup(app, entity)
	if err != nil {
		return target.Status{}, fmt.Errorf("status %s/%s: %w", app, entity, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st := target.Status{Desired: e.spec.Count, Instances: []target.Instance{}}
	for _, in := range e.instances {
		ti := in.snapshot(t.cfg.Host)
		if ti.State == "running" {
			st.Running++
			if ti.Healthy {
				st.Healthy++
			}
		}
		st.Instances = append(st.Instances, ti)
	}
	sort.Slice(st.Instances, func(i, j int) bool { return st.Instances[i].Index < st.Instances[j].Index })
	st.Deploying = st.Healthy != st.Desired || len(st.Instances) != st.Desired
	return st, nil
}

// Wait blocks until every instance of the entity runs and is healthy. It
// fails early when an instance keeps crashing, with the reason and the end
// of its log.
func (t *Target) Wait(ctx context.Context, app, entity string) error {
	base := map[string]int{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := t.Status(ctx, app, entity)
		if err != nil {
			return fmt.Errorf("wait %s/%s: %w", app, entity, err)
		}
		if st.Healthy == st.Desired && st.Running == st.Desired && len(st.Instances) == st.Desired {
			return nil
		}
		for _, in := range st.Instances {
			if _, ok := base[in.ID]; !ok {
				base[in.ID] = in.Restarts
			}
			if in.Restarts-base[in.ID] >= t.cfg.FailAfterRestarts {
				return fmt.Errorf("%s/%s instance %d keeps failing (%d restarts): %s%s", app, entity, in.Index, in.Restarts, in.Message, t.logTail(app, entity, in.Index))
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s/%s: %d/%d instances healthy when the wait ended (%w)%s", app, entity, st.Healthy, st.Desired, context.Cause(ctx), describe(st))
		case <-tick.C:
		}
	}
}

func describe(st target.Status) string {
	var b strings.Builder
	for _, in := range st.Instances {
		if in.Healthy {
			continue
		}
		fmt.Fprintf(&b, "; instance %d %s", in.Index, in.State)
		if in.Message != "" {
			fmt.Fprintf(&b, ": %s", in.Message)
		}
	}
	return b.String()
}

// logTail returns the last lines of an instance's log, for error messages;
// they may reach back across a rotation.
func (t *Target) logTail(app, entity string, index int) string {
	b := readLogTail(logPath(t.entityDir(key{app, entity}), index), 2048, t.cfg.LogBackups)
	if len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var keep []string
	for _, l := range lines {
		// Skip elk's own markers and the repeats of a crash loop.
		if !strings.HasPrefix(l, "--- elk:") && !slices.Contains(keep, l) {
			keep = append(keep, l)
		}
	}
	if len(keep) > 3 {
		keep = keep[len(keep)-3:]
	}
	if len(keep) == 0 {
		return ""
	}
	return "; log: " + strings.Join(keep, " | ")
}

func logPath(dir string, index int) string { return filepath.Join(dir, fmt.Sprintf("%d.log", index)) }
func pidPath(dir string, index int) string {
	return filepath.Join(dir, fmt.Sprintf("%d.pid.json", index))
}

func cloneSpec(s target.Spec) target.Spec {
	s.Command = slices.Clone(s.Command)
	s.Env = maps.Clone(s.Env)
	s.Secrets = maps.Clone(s.Secrets)
	s.Ports = slices.Clone(s.Ports)
	s.Tags = slices.Clone(s.Tags)
	s.Meta = maps.Clone(s.Meta)
	return s
}

func (t *Target) saveSpec(e *entity) error {
	t.mu.Lock()
	spec := e.spec
	t.mu.Unlock()
	sealed, err := t.cfg.Keyring.SealMap(spec.Secrets)
	if err != nil {
		return fmt.Errorf("save spec of %s/%s: %w", e.key.app, e.key.entity, err)
	}
	spec.Secrets = sealed
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(e.dir, "spec.json"), b); err != nil {
		return fmt.Errorf("save spec of %s/%s: %w", e.key.app, e.key.entity, err)
	}
	return nil
}

func writeAtomic(path string, b []byte) error {
	return statedir.WriteFile(path, b)
}
