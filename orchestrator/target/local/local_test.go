package local_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/discovery/embedded"
	"github.com/elk-project/elk/orchestrator/target"
	"github.com/elk-project/elk/orchestrator/target/local"
	"github.com/elk-project/elk/orchestrator/target/targettest"
)

// TestMain lets the test binary act as the entity processes the tests run:
// ELK_LOCAL_HELPER=http serves /health on the port given as argument,
// "exit" exits at once with status 3.
func TestMain(m *testing.M) {
	switch os.Getenv("ELK_LOCAL_HELPER") {
	case "http":
		helperHTTP()
		return
	case "server":
		helperServer()
		return
	case "exit":
		fmt.Println("helper: giving up")
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func helperHTTP() {
	port := os.Args[len(os.Args)-1]
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: "127.0.0.1:" + port, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "instance=%s app=%s entity=%s\n", os.Getenv("ELK_INSTANCE"), os.Getenv("ELK_APP"), os.Getenv("ELK_ENTITY"))
	})}
	go func() { <-ctx.Done(); srv.Close() }()
	fmt.Println("helper: listening on", port)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Println("helper:", err)
		os.Exit(1)
	}
}

func helperSpec(app, entity string, count int) target.Spec {
	return target.Spec{
		App: app, Entity: entity, Type: "generic", Count: count,
		Command: []string{os.Args[0], "-test.run=^$", "${port.http}"},
		Env:     map[string]string{"ELK_LOCAL_HELPER": "http"},
		Ports:   []target.Port{{Name: "http", Proto: "tcp"}},
		Health:  target.Health{HTTPPath: "/health", Port: "http", Interval: 200 * time.Millisecond},
	}
}

func failingSpec(app, entity string) target.Spec {
	s := helperSpec(app, entity, 1)
	s.Env = map[string]string{"ELK_LOCAL_HELPER": "exit"}
	return s
}

func newTarget(t *testing.T, dir string) *local.Target {
	t.Helper()
	tg, err := local.New(local.Config{
		StateDir: dir, BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		GracePeriod: 2 * time.Second,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestConformance(t *testing.T) {
	targettest.Run(t, func(t *testing.T) targettest.Harness {
		tg := newTarget(t, t.TempDir())
		t.Cleanup(tg.Close)
		return targettest.Harness{Target: tg, Spec: helperSpec, Failing: failingSpec, Timeout: 20 * time.Second}
	})
}

func pids(t *testing.T, tg target.Target, app, entity string) []int {
	t.Helper()
	st, err := tg.Status(context.Background(), app, entity)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, in := range st.Instances {
		p, err := strconv.Atoi(in.Meta["pid"])
		if err != nil {
			t.Fatalf("instance %s has no pid: %+v", in.ID, in)
		}
		out = append(out, p)
	}
	return out
}

func gone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

func waitGone(t *testing.T, ps []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range ps {
		for !gone(p) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still running", p)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func deploy(t *testing.T, tg target.Target, spec target.Spec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tg.Apply(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := tg.Wait(ctx, spec.App, spec.Entity); err != nil {
		t.Fatal(err)
	}
}

func TestCloseLeavesNoProcess(t *testing.T) {
	tg := newTarget(t, t.TempDir())
	t.Cleanup(tg.Close)
	deploy(t, tg, helperSpec("demo", "web", 3))
	ps := pids(t, tg, "demo", "web")
	if len(ps) != 3 {
		t.Fatalf("pids %v, want 3", ps)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tg.Run(ctx) }()
	cancel()
	<-done
	waitGone(t, ps)
}

func TestCrashRestartsWithBackoff(t *testing.T) {
	tg := newTarget(t, t.TempDir())
	t.Cleanup(tg.Close)
	deploy(t, tg, helperSpec("demo", "web", 1))
	p := pids(t, tg, "demo", "web")[0]
	syscall.Kill(p, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := tg.Status(context.Background(), "demo", "web")
		if len(st.Instances) == 1 && st.Instances[0].Restarts == 1 && st.Healthy == 1 {
			if np := pids(t, tg, "demo", "web")[0]; np == p {
				t.Fatalf("restarted instance has the old pid %d", p)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed instance not restarted healthy: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestScaleRemovesHighestIndexFirst(t *testing.T) {
	tg := newTarget(t, t.TempDir())
	t.Cleanup(tg.Close)
	deploy(t, tg, helperSpec("demo", "web", 3))
	ps := pids(t, tg, "demo", "web")
	if err := tg.Scale(context.Background(), "demo", "web", target.ScaleRequest{Count: 1}); err != nil {
		t.Fatal(err)
	}
	st, _ := tg.Status(context.Background(), "demo", "web")
	if len(st.Instances) != 1 || st.Instances[0].Index != 0 {
		t.Fatalf("after scale to 1: %+v, want only instance 0", st.Instances)
	}
	waitGone(t, ps[1:])
	if gone(ps[0]) {
		t.Fatalf("instance 0 (pid %d) was stopped", ps[0])
	}
}

func TestPortsAndPlaceholders(t *testing.T) {
	tg := newTarget(t, t.TempDir())
	t.Cleanup(tg.Close)
	spec := helperSpec("demo", "web", 3)
	spec.Ports = append(spec.Ports, target.Port{Name: "sflow", Static: 16343, Proto: "udp"})
	spec.Env["ELK_TEST_ARGS"] = "${app}/${entity}/${instance}/${port.sflow}"
	deploy(t, tg, spec)
	st, _ := tg.Status(context.Background(), "demo", "web")
	seen := map[int]bool{}
	for _, in := range st.Instances {
		if in.Ports["sflow"] != 16343 {
			t.Errorf("instance %d: static port %d, want 16343 shared", in.Index, in.Ports["sflow"])
		}
		p := in.Ports["http"]
		if p == 0 || seen[p] {
			t.Errorf("instance %d: http port %d is zero or shared", in.Index, p)
		}
		seen[p] = true
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", p))
		if err != nil {
			t.Fatal(err)
		}
		var body [128]byte
		n, _ := resp.Body.Read(body[:])
		resp.Body.Close()
		if want := fmt.Sprintf("instance=%d app=demo entity=web", in.Index); !strings.Contains(string(body[:n]), want) {
			t.Errorf("instance %d answered %q, want %q", in.Index, body[:n], want)
		}
	}
	if err := tg.Apply(context.Background(), target.Spec{App: "demo", Entity: "bad", Count: 1,
		Command: []string{"no-such-command-elk"}}); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("apply with a missing command: %v, want a 'not installed' error", err)
	}
	bad := helperSpec("demo", "bad", 1)
	bad.Command = append(bad.Command, "${port.nope}", "${bogus}")
	if err := tg.Apply(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "nope") || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("apply with unknown placeholders: %v, want both reported", err)
	}
}

func TestWaitReportsWhy(t *testing.T) {
	tg := newTarget(t, t.TempDir())
	t.Cleanup(tg.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tg.Apply(ctx, failingSpec("demo", "broken")); err != nil {
		t.Fatal(err)
	}
	err := tg.Wait(ctx, "demo", "broken")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "helper: giving up") {
		t.Fatalf("wait: %v; want the exit status and the log tail", err)
	}
}

// helperServer runs a target that deploys two instances (with
// ELK_LOCAL_CHATTY=1 one chatty shell) and then waits to be killed, like
// an elk server dying without stopping its children.
func helperServer() {
	tg, err := local.New(local.Config{StateDir: os.Getenv("ELK_LOCAL_STATE")}, nil)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	spec := helperSpec("demo", "web", 2)
	if os.Getenv("ELK_LOCAL_CHATTY") == "1" {
		spec = shSpec("demo", "chatty", chattyScript)
	}
	if err := tg.Apply(ctx, spec); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	if err := tg.Wait(ctx, spec.App, spec.Entity); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ready")
	<-ctx.Done()
}

// startHelperServer runs this test binary as a server (a local target on
// dir, see TestMain) and returns once it says ready; extra are more
// variables for it.
func startHelperServer(t *testing.T, dir string, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "ELK_LOCAL_HELPER=server", "ELK_LOCAL_STATE="+dir), extra...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		t.Fatalf("helper server: %q", line)
	}
	return cmd
}

// TestRestartAdoptsProcesses kills a server process with SIGKILL: a new
// target adopts its children instead of starting duplicates, restarts them
// when they die, and stops them on Close.
func TestRestartAdoptsProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd := startHelperServer(t, dir)
	cmd.Process.Kill()
	cmd.Wait()

	tg := newTarget(t, dir)
	t.Cleanup(tg.Close)
	before := pids(t, tg, "demo", "web")
	t.Cleanup(func() {
		for _, p := range before {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tg.Wait(ctx, "demo", "web"); err != nil {
		t.Fatalf("adopted instances not healthy: %v", err)
	}
	for _, p := range before {
		if gone(p) {
			t.Fatalf("adopted pid %d is not running", p)
		}
	}
	if got := pids(t, tg, "demo", "web"); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("pids changed from %v to %v right after adoption", before, got)
	}
	// Killing an adopted process makes the new target restart it.
	syscall.Kill(before[0], syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := tg.Status(context.Background(), "demo", "web")
		if st.Healthy == 2 && st.Instances[0].Restarts == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("adopted instance not restarted: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	after := pids(t, tg, "demo", "web")
	if after[0] == before[0] || after[1] != before[1] {
		t.Errorf("pids after restart %v, before %v: want only instance 0 replaced", after, before)
	}
	tg.Close()
	waitGone(t, append(before, after...))

	// A clean shutdown keeps the spec: the next target starts the entity again.
	tg3 := newTarget(t, dir)
	t.Cleanup(tg3.Close)
	if err := tg3.Wait(ctx, "demo", "web"); err != nil {
		t.Fatalf("entity not resumed after a clean restart: %v", err)
	}
	if err := tg3.Remove(ctx, "demo", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "apps", "demo", "web")); !os.IsNotExist(err) {
		t.Errorf("entity directory left after remove: %v", err)
	}
}

// newRegisteringTarget returns a target registering its instances in an
// embedded registry that checks them every 100ms.
func newRegisteringTarget(t *testing.T) (*embedded.Registry, *local.Target) {
	t.Helper()
	reg := embedded.New(embedded.Config{CheckInterval: 100 * time.Millisecond}, nil)
	t.Cleanup(reg.Close)
	tg, err := local.New(local.Config{StateDir: t.TempDir(), Discovery: reg, RegistryURL: "http://127.0.0.1:1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	return reg, tg
}

func TestRegistersInstances(t *testing.T) {
	reg, tg := newRegisteringTarget(t)
	deploy(t, tg, helperSpec("demo", "web", 2))
	deadline := time.Now().Add(10 * time.Second)
	for {
		ss, _ := reg.Resolve(context.Background(), "demo-web")
		if len(ss) == 2 {
			if ss[0].Meta["instance"] != "0" || ss[0].Port == 0 {
				t.Errorf("registration %+v: want instance meta and the health port", ss[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("resolved %v, want 2 healthy instances", ss)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := tg.Remove(context.Background(), "demo", "web"); err != nil {
		t.Fatal(err)
	}
	if ss := reg.All(); len(ss) != 0 {
		t.Errorf("registrations left after remove: %v", ss)
	}
}

// TestDashedNamesRegisterApart: app "web" entity "api-db" and app
// "web-api" entity "db" used to register instances under the same IDs
// ("web-api-db-0"), so one's registration replaced the other's and one's
// removal deregistered the other. They now have their own service names
// and instance IDs, and removing one leaves the other registered.
func TestDashedNamesRegisterApart(t *testing.T) {
	reg, tg := newRegisteringTarget(t)
	deploy(t, tg, helperSpec("web", "api-db", 1))
	deploy(t, tg, helperSpec("web-api", "db", 1))
	want := map[string]string{"web-api-db-0": "web-api-db", "web--api-db-0": "web--api-db"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]string{}
		for _, s := range reg.All() {
			got[s.ID] = s.Name
		}
		if maps.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registrations (id: name) %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := tg.Remove(context.Background(), "web-api", "db"); err != nil {
		t.Fatal(err)
	}
	ss := reg.All()
	if len(ss) != 1 || ss[0].ID != "web-api-db-0" || ss[0].Name != discovery.ServiceName("web", "api-db") {
		t.Errorf("registrations after removing web-api/db: %+v, want only web/api-db's", ss)
	}
	if st, err := tg.Status(context.Background(), "web", "api-db"); err != nil || st.Running != 1 {
		t.Errorf("web/api-db after removing web-api/db: %+v %v, want 1 running", st, err)
	}
}

// TestChangedSpecRollsInstances: a changed spec replaces the instances one
// at a time on their ports, so the entity never stops serving.
func TestChangedSpecRollsInstances(t *testing.T) {
	tg := newTarget(t, t.TempDir())
	t.Cleanup(tg.Close)
	spec := helperSpec("demo", "web", 3)
	deploy(t, tg, spec)
	before, _ := tg.Status(context.Background(), "demo", "web")
	oldPIDs := pids(t, tg, "demo", "web")

	minHealthy := 3
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			st, _ := tg.Status(context.Background(), "demo", "web")
			minHealthy = min(minHealthy, st.Healthy)
		}
	}()
	spec.Env["ELK_VERSION"] = "2"
	deploy(t, tg, spec)
	close(stop)
	<-sampled
	if minHealthy < 2 {
		t.Errorf("healthy instances fell to %d during the rollout, want at least 2 of 3", minHealthy)
	}
	after, _ := tg.Status(context.Background(), "demo", "web")
	for i := range after.Instances {
		if after.Instances[i].Ports["http"] != before.Instances[i].Ports["http"] {
			t.Errorf("instance %d moved from port %d to %d", i, before.Instances[i].Ports["http"], after.Instances[i].Ports["http"])
		}
	}
	waitGone(t, oldPIDs)
}
