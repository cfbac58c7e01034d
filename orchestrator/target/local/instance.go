package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/target"
)

// instance is one supervised process of an entity. Its mutable fields are
// guarded by Target.mu.
type instance struct {
	t     *Target
	spec  target.Spec
	hash  string
	index int
	id    string
	dir   string
	ports map[string]int

	state    string
	healthy  bool
	restarts int
	message  string
	pid      int

	stopCh   chan struct{}
	stopOnce sync.Once
	remove   bool
	done     chan struct{}

	// logw is the instance's rotating log, opened by the first start or
	// adoption that feeds it and closed by finish. Only the supervise
	// goroutine sets it; logFile serializes the writes.
	logw *logFile
}

// pidFile records a running process so a later server can adopt it.
type pidFile struct {
	PID       int            `json:"pid"`
	StartTime uint64         `json:"start_time"` // from /proc/PID/stat, guards against pid reuse
	Hash      string         `json:"spec_hash"`
	Ports     map[string]int `json:"ports"`
	Restarts  int            `json:"restarts"`
	Started   time.Time      `json:"started"`
	// LogPipe names the FIFO in the entity directory the process writes
	// its output to. Empty for a process started by a server before logs
	// rotated: it writes straight to <index>.log (see watchAdopted).
	LogPipe string `json:"log_pipe,omitempty"`
}

// newInstance builds an instance with its ports; t.mu must be held.
func (t *Target) newInstance(e *entity, index int, prev map[string]int) (*instance, error) {
	in := &instance{
		t: t, spec: cloneSpec(e.spec), hash: e.hash, index: index,
		id:  discovery.InstanceID(e.key.app, e.key.entity, index),
		dir: e.dir, ports: map[string]int{}, state: "pending",
		stopCh: make(chan struct{}), done: make(chan struct{}),
	}
	for _, p := range e.spec.Ports {
		if p.Static > 0 {
			in.ports[p.Name] = p.Static
			continue
		}
		if n, ok := prev[p.Name]; ok && n > 0 && !t.ports[n] {
			t.ports[n] = true
			in.ports[p.Name] = n
			continue
		}
		n, err := t.allocPort(p.Proto)
		if err != nil {
			in.releasePorts()
			return nil, fmt.Errorf("allocate port %s for %s: %w", p.Name, in.id, err)
		}
		in.ports[p.Name] = n
	}
	return in, nil
}

// allocPort finds a free port by binding to port 0; t.mu must be held.
func (t *Target) allocPort(proto string) (int, error) {
	for range 100 {
		var port int
		if proto == "udp" {
			c, err := net.ListenPacket("udp", net.JoinHostPort(t.cfg.Host, "0"))
			if err != nil {
				return 0, err
			}
			port = c.LocalAddr().(*net.UDPAddr).Port
			c.Close()
		} else {
			l, err := net.Listen("tcp", net.JoinHostPort(t.cfg.Host, "0"))
			if err != nil {
				return 0, err
			}
			port = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		if !t.ports[port] {
			t.ports[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free port found")
}

// releasePorts returns the per-instance ports; t.mu must be held.
func (in *instance) releasePorts() {
	for _, p := range in.spec.Ports {
		if p.Static == 0 {
			delete(in.t.ports, in.ports[p.Name])
		}
	}
}

func (in *instance) set(f func()) {
	in.t.mu.Lock()
	f()
	in.t.mu.Unlock()
}

// snapshot returns the instance as the target reports it; t.mu must be held.
func (in *instance) snapshot(host string) target.Instance {
	ti := target.Instance{
		ID: in.id, Index: in.index, State: in.state, Healthy: in.healthy && in.state == "running",
		Addr: host, Ports: maps.Clone(in.ports), Restarts: in.restarts, Message: in.message,
	}
	ti.Meta = map[string]string{"log": logPath(in.dir, in.index)}
	if in.pid > 0 {
		ti.Meta["pid"] = strconv.Itoa(in.pid)
	}
	return ti
}

// stop ends the supervisor and waits for the process to be gone. remove
// also deletes the instance's pid file and returns its ports.
func (in *instance) stop(remove bool) {
	in.stopOnce.Do(func() {
		in.set(func() { in.remove = remove })
		close(in.stopCh)
	})
	<-in.done
}

func (in *instance) stopping() bool {
	select {
	case <-in.stopCh:
		return true
	default:
		return false
	}
}

// supervise runs the process, restarting it with backoff, until stop.
func (in *instance) supervise(adopt *pidFile) {
	defer in.finish()
	cfg := in.t.cfg
	backoff := cfg.BackoffMin
	if adopt != nil {
		if in.watchAdopted(adopt) {
			return
		}
		in.set(func() {
			in.restarts++
			in.state, in.healthy, in.pid = "failed", false, 0
			in.message = "adopted process exited"
		})
	}
	for !in.stopping() {
		started := time.Now()
		cmd, exited, err := in.start()
		if err != nil {
			in.set(func() {
				in.state, in.healthy, in.message = "failed", false, err.Error()
				in.restarts++
			})
			in.t.log.Warn("instance failed to start", "instance", in.id, "error", err)
		} else {
			hctx, hcancel := context.WithCancel(context.Background())
			var hwg sync.WaitGroup
			hwg.Go(func() { in.healthLoop(hctx) })
			in.register()
			select {
			case <-in.stopCh:
				in.kill(cmd.Process.Pid, exited)
				hcancel()
				hwg.Wait()
				return
			case werr := <-exited:
				hcancel()
				hwg.Wait()
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers of the group
				in.deregister()
				msg := "exited"
				if werr != nil {
					msg = "exited: " + werr.Error()
				}
				in.set(func() {
					in.state, in.healthy, in.pid, in.message = "failed", false, 0, msg
					in.restarts++
				})
				in.t.log.Warn("instance exited", "instance", in.id, "error", werr, "uptime", time.Since(started).Round(time.Millisecond))
			}
		}
		if time.Since(started) >= cfg.StableAfter {
			backoff = cfg.BackoffMin
		}
		select {
		case <-in.stopCh:
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, cfg.BackoffMax)
	}
}

// finish records the stop and cleans the instance's files. Every drain has
// ended by now (start's wait goroutine and watchAdopted wait for theirs),
// so the log is closed after the last of the child's output.
func (in *instance) finish() {
	in.deregister()
	in.t.mu.Lock()
	in.state, in.healthy, in.pid = "stopped", false, 0
	remove := in.remove
	if remove {
		in.releasePorts()
	}
	in.t.mu.Unlock()
	_ = os.Remove(pidPath(in.dir, in.index))
	_ = os.Remove(pipePath(in.dir, in.index))
	if in.logw != nil {
		if err := in.logw.Close(); err != nil {
			in.t.log.Warn("close instance log", "instance", in.id, "error", err)
		}
	}
	close(in.done)
}

// inheritedEnv are the server's variables every child starts with; nothing
// else of the server's environment (NOMAD_TOKEN, CONSUL_HTTP_TOKEN, cloud
// credentials, ELK_TOKEN) reaches a child. What an entity needs beyond
// these comes from its spec's Env.
var inheritedEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "JAVA_HOME", "ES_JAVA_HOME"}

// elkEnv are the server's variables that children running elk itself
// also get: the Elasticsearch credentials its outputs read.
var elkEnv = []string{"ELASTICSEARCH_USERNAME", "ELASTICSEARCH_PASSWORD", "ELASTICSEARCH_API_KEY"}

// childEnv filters the server's environment for a child; elk says whether
// the child runs the elk binary.
func childEnv(environ []string, elk bool) []string {
	var out []string
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if slices.Contains(inheritedEnv, k) || strings.HasPrefix(k, "LC_") || elk && slices.Contains(elkEnv, k) {
			out = append(out, kv)
		}
	}
	return out
}

// start launches the process in its own process group.
func (in *instance) start() (*exec.Cmd, <-chan error, error) {
	t := in.t
	args := make([]string, len(in.spec.Command))
	for i, a := range in.spec.Command {
		args[i] = t.expand(a, in.spec, in.index, in.ports)
	}
	path, err := t.lookPath(args[0])
	if err != nil {
		return nil, nil, err
	}
	env := childEnv(os.Environ(), path == t.cfg.ElkBinary)
	env = append(env,
		"ELK_APP="+in.spec.App, "ELK_ENTITY="+in.spec.Entity, "ELK_INSTANCE="+strconv.Itoa(in.index))
	if t.cfg.RegistryURL != "" {
		env = append(env, "ELK_REGISTRY="+t.cfg.RegistryURL)
	}
	for _, k := range slices.Sorted(maps.Keys(in.spec.Env)) {
		env = append(env, k+"="+t.expand(in.spec.Env[k], in.spec, in.index, in.ports))
	}
	for _, k := range slices.Sorted(maps.Keys(in.spec.Secrets)) {
		env = append(env, k+"="+in.spec.Secrets[k])
	}
	if err := os.MkdirAll(in.dir, 0o700); err != nil {
		return nil, nil, err
	}
	lw, err := in.logFile()
	if err != nil {
		return nil, nil, err
	}
	// stdout and stderr are the same pipe, as they were the same file:
	// the kernel keeps each write of up to 4 KiB whole, the one reader
	// keeps their order.
	pp := pipePath(in.dir, in.index)
	r, child, err := makePipe(pp)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(lw, "--- elk: starting %s at %s: %s\n", in.id, time.Now().UTC().Format(time.RFC3339), commandLine(args))
	cmd := exec.Command(path, args[1:]...)
	cmd.Args[0] = args[0]
	cmd.Dir = in.dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = child, child
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	child.Close() // the child has its copy; ours would keep the pipe from ending
	if err != nil {
		r.Close()
		_ = os.Remove(pp)
		return nil, nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	out := startDrain(r, lw, t.log, in.id)
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		// Leftovers of the group hold the pipe open: once they are gone
		// the pipe ends, and exited reports the exit only after the
		// child's last words are in the log.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		out.wait(drainWait)
		exited <- err
	}()
	in.t.mu.Lock()
	in.state, in.healthy, in.pid, in.message = "running", false, pid, ""
	pf := pidFile{PID: pid, StartTime: procStartTime(pid), Hash: in.hash, Ports: maps.Clone(in.ports),
		Restarts: in.restarts, Started: time.Now().UTC(), LogPipe: filepath.Base(pp)}
	in.t.mu.Unlock()
	if b, err := json.Marshal(pf); err == nil {
		if err := writeAtomic(pidPath(in.dir, in.index), b); err != nil {
			t.log.Warn("write pid file", "instance", in.id, "error", err)
		}
	}
	t.log.Info("instance started", "instance", in.id, "pid", pid)
	return cmd, exited, nil
}

// kill stops a process group: SIGTERM, then SIGKILL after the grace period.
func (in *instance) kill(pid int, exited <-chan error) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(in.t.cfg.GracePeriod):
		in.t.log.Warn("instance ignored SIGTERM; killing it", "instance", in.id, "pid", pid)
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	in.t.log.Info("instance stopped", "instance", in.id, "pid", pid)
}

// commandLine renders args for the start marker on one line: an argument
// with spaces, quotes or control characters (a multi-line sh -c script) is
// quoted, so the marker stays one line that log readers can skip.
func commandLine(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r == '"' || r == '\'' || r == '\\' || r == 0x7f }) {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// logFile returns the instance's rotating log, opening it on first use.
func (in *instance) logFile() (*logFile, error) {
	if in.logw == nil {
		lw, err := openLogFile(logPath(in.dir, in.index), in.t.cfg.LogMaxBytes, in.t.cfg.LogBackups)
		if err != nil {
			return nil, err
		}
		in.logw = lw
	}
	return in.logw, nil
}

// watchAdopted follows a process started by an earlier server until it
// exits (false) or the instance is stopped (true, after killing it).
//
// A process with a LogPipe in its pid file writes to that FIFO: its output
// is drained into the rotating log again, from where the earlier server
// stopped reading. One without (started by a server before logs rotated)
// writes straight to <index>.log through the descriptor it inherited; that
// file is left alone, not rotated, while the process lives (renaming it
// would only move the growing file out of sight) and is rotated by the
// first write after the process's next start.
func (in *instance) watchAdopted(pf *pidFile) bool {
	if pf.LogPipe != "" {
		out, err := in.adoptOutput(pf)
		if err != nil {
			// Its output has nowhere to go: once the pipe buffer is full
			// it would block for good. Restart it with a new pipe.
			in.t.log.Warn("adopted instance's output pipe cannot be read; restarting it", "instance", in.id, "pid", pf.PID, "error", err)
			stopPID(pf.PID, pf.StartTime, in.t.cfg.GracePeriod)
			return false
		}
		defer out.wait(drainWait)
	}
	in.set(func() { in.state, in.pid = "running", pf.PID })
	hctx, hcancel := context.WithCancel(context.Background())
	var hwg sync.WaitGroup
	defer func() {
		hcancel()
		hwg.Wait()
	}()
	hwg.Go(func() { in.healthLoop(hctx) })
	in.register()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-in.stopCh:
			_ = syscall.Kill(-pf.PID, syscall.SIGTERM)
			deadline := time.Now().Add(in.t.cfg.GracePeriod)
			for alive(pf.PID, pf.StartTime) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			_ = syscall.Kill(-pf.PID, syscall.SIGKILL)
			for i := 0; alive(pf.PID, pf.StartTime) && i < 100; i++ {
				time.Sleep(50 * time.Millisecond)
			}
			return true
		case <-tick.C:
			if !alive(pf.PID, pf.StartTime) {
				_ = syscall.Kill(-pf.PID, syscall.SIGKILL)
				in.deregister()
				return false
			}
		}
	}
}

// adoptOutput drains an adopted process's output pipe into the log.
func (in *instance) adoptOutput(pf *pidFile) (*drain, error) {
	r, err := openPipeReader(filepath.Join(in.dir, filepath.Base(pf.LogPipe)))
	if err != nil {
		return nil, err
	}
	var w io.Writer = io.Discard // never let the child block on a full pipe
	if lw, err := in.logFile(); err != nil {
		in.t.log.Warn("adopted instance's output is dropped: its log cannot be opened", "instance", in.id, "error", err)
	} else {
		fmt.Fprintf(lw, "--- elk: adopted %s (pid %d) at %s\n", in.id, pf.PID, time.Now().UTC().Format(time.RFC3339))
		w = lw
	}
	return startDrain(r, w, in.t.log, in.id), nil
}

// healthLoop probes the instance until ctx ends: quickly until it first
// passes, then at the check interval.
func (in *instance) healthLoop(ctx context.Context) {
	h := in.spec.Health
	if h.HTTPPath == "" && !h.TCP {
		in.set(func() { in.healthy = true })
		return
	}
	interval := h.Interval
	if interval <= 0 {
		interval = in.t.cfg.HealthInterval
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	addr := net.JoinHostPort(in.t.cfg.Host, strconv.Itoa(in.ports[h.Port]))
	client := &http.Client{Timeout: timeout}
	wait := 100 * time.Millisecond
	for {
		ok := probe(ctx, client, addr, h, timeout)
		in.set(func() {
			if in.state == "running" {
				in.healthy = ok
			}
		})
		if ok {
			wait = interval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func probe(ctx context.Context, client *http.Client, addr string, h target.Health, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if h.HTTPPath != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+h.HTTPPath, nil)
		if err != nil {
			return false
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 300
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// service is the discovery registration of the instance.
func (in *instance) service() discovery.Service {
	host := in.t.cfg.Host
	s := discovery.Service{
		ID:      in.id,
		Name:    discovery.ServiceName(in.spec.App, in.spec.Entity),
		Address: host,
		Tags:    slices.Clone(in.spec.Tags),
		Meta:    maps.Clone(in.spec.Meta),
	}
	for _, tag := range []string{"app=" + in.spec.App, "entity=" + in.spec.Entity} {
		if !slices.Contains(s.Tags, tag) {
			s.Tags = append(s.Tags, tag)
		}
	}
	if s.Meta == nil {
		s.Meta = map[string]string{}
	}
	s.Meta["instance"] = strconv.Itoa(in.index)
	s.Meta["type"] = in.spec.Type
	for name, n := range in.ports {
		s.Meta["port_"+name] = strconv.Itoa(n)
	}
	h := in.spec.Health
	switch {
	case h.Port != "":
		s.Port = in.ports[h.Port]
	case len(in.spec.Ports) > 0:
		s.Port = in.ports[in.spec.Ports[0].Name]
	}
	switch {
	case h.HTTPPath != "":
		s.Check = "http://" + net.JoinHostPort(host, strconv.Itoa(s.Port)) + h.HTTPPath
	case h.TCP:
		s.Check = "tcp://" + net.JoinHostPort(host, strconv.Itoa(s.Port))
	}
	return s
}

func (in *instance) register() {
	if in.t.cfg.Discovery == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.t.cfg.Discovery.Register(ctx, in.service()); err != nil {
		in.t.log.Warn("register instance", "instance", in.id, "error", err)
	}
}

func (in *instance) deregister() {
	if in.t.cfg.Discovery == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.t.cfg.Discovery.Deregister(ctx, in.id); err != nil {
		in.t.log.Warn("deregister instance", "instance", in.id, "error", err)
	}
}

// procStartTime reads a process's start time (clock ticks since boot) from
// /proc; 0 when unknown.
func procStartTime(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is the state (field 3); starttime is field 22.
	if len(fields) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(fields[19], 10, 64)
	return n
}

func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+3 > len(b) {
		return ""
	}
	return string(b[i+2])
}

// alive reports whether pid still is the process that started at start.
func alive(pid int, start uint64) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	if s := procState(pid); s == "Z" || s == "X" || s == "" {
		return false
	}
	return start == 0 || procStartTime(pid) == start
}

// maxRestoreCount bounds the count of a spec read back from the state
// directory: a damaged file must not start a million processes.
const maxRestoreCount = 1000

// restore loads the entities recorded in the state directory. A spec that
// cannot be read, decoded or started is logged and skipped; the others are
// restored.
func (t *Target) restore() error {
	specs, _ := filepath.Glob(filepath.Join(t.appsDir(), "*", "*", "spec.json"))
	for _, sp := range specs {
		b, err := os.ReadFile(sp)
		if err != nil {
			t.log.Warn("restore: read spec", "path", sp, "error", err)
			continue
		}
		var spec target.Spec
		if err := json.Unmarshal(b, &spec); err != nil {
			t.log.Error("restore: entity not restored: bad spec", "path", sp, "error", err)
			continue
		}
		if spec.Secrets, err = t.cfg.Keyring.OpenMap(spec.Secrets); err != nil {
			t.log.Error("restore: entity not restored: its secrets cannot be opened with this keyring", "path", sp, "error", err)
			continue
		}
		if spec.App == "" || spec.Entity == "" || spec.Count < 0 || spec.Count > maxRestoreCount || len(spec.Command) == 0 {
			t.log.Error("restore: entity not restored: invalid spec", "path", sp, "app", spec.App, "entity", spec.Entity, "count", spec.Count)
			continue
		}
		k := key{spec.App, spec.Entity}
		e := &entity{key: k, spec: spec, hash: spec.Hash(), dir: filepath.Dir(sp), instances: map[int]*instance{}}
		t.entities[k] = e
		pids, _ := filepath.Glob(filepath.Join(e.dir, "*.pid.json"))
		recorded := map[int]*pidFile{}
		for _, pp := range pids {
			idx, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(pp), ".pid.json"))
			if err != nil {
				continue
			}
			var pf pidFile
			if b, err := os.ReadFile(pp); err == nil && json.Unmarshal(b, &pf) == nil {
				recorded[idx] = &pf
			}
		}
		adopted := 0
		for idx, pf := range recorded {
			if idx < spec.Count && pf.Hash == e.hash && alive(pf.PID, pf.StartTime) {
				continue
			}
			if alive(pf.PID, pf.StartTime) {
				t.log.Info("restore: stopping a stale process", "app", k.app, "entity", k.entity, "instance", idx, "pid", pf.PID)
				stopPID(pf.PID, pf.StartTime, t.cfg.GracePeriod)
			}
			_ = os.Remove(pidPath(e.dir, idx))
			delete(recorded, idx)
		}
		for idx := range spec.Count {
			pf := recorded[idx]
			var prev map[string]int
			if pf != nil {
				prev = pf.Ports
			}
			in, err := t.newInstance(e, idx, prev)
			if err != nil {
				// One entity that cannot start again must not keep the
				// others down: it runs short (the orchestrator reports it)
				// and the rest start.
				t.log.Error("restore: instance not started", "app", k.app, "entity", k.entity, "instance", idx, "error", err)
				continue
			}
			e.instances[idx] = in
			if pf != nil {
				// Keep the recorded ports even when static ones changed.
				maps.Copy(in.ports, pf.Ports)
				in.restarts = pf.Restarts
				in.state, in.pid = "running", pf.PID
				adopted++
				t.wg.Go(func() { in.supervise(pf) })
			} else {
				t.wg.Go(func() { in.supervise(nil) })
			}
		}
		t.log.Info("restored entity", "app", k.app, "entity", k.entity, "count", spec.Count, "adopted", adopted)
	}
	return nil
}

func stopPID(pid int, start uint64, grace time.Duration) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for alive(pid, start) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
