package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/elk-project/elk/blueprints/library"
	"github.com/elk-project/elk/orchestrator"
)

var (
	elkBinOnce sync.Once
	elkBinPath string
	elkBinErr  error
)

// elkBinary builds the elk binary once for the tests that run it.
func elkBinary(t *testing.T) string {
	t.Helper()
	elkBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "elk-bin-")
		if err != nil {
			elkBinErr = err
			return
		}
		elkBinPath = filepath.Join(dir, "elk")
		out, err := exec.Command("go", "build", "-o", elkBinPath, ".").CombinedOutput()
		if err != nil {
			elkBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if elkBinErr != nil {
		t.Fatal(elkBinErr)
	}
	return elkBinPath
}

// freeUDPPortNumber returns a UDP port nobody listens on.
func freeUDPPortNumber(t *testing.T) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(freeUDPPort(t))
	n, _ := strconv.Atoi(p)
	return n
}

// elkStatus runs `elk status --output json APP` against addr.
func elkStatus(t *testing.T, bin, addr, app string) (*orchestrator.AppStatus, error) {
	cmd := exec.Command(bin, "status", "--output", "json", app)
	cmd.Env = append(os.Environ(), "ELK_ADDR=http://"+addr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("elk status: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var st orchestrator.AppStatus
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("decode elk status: %v: %s", err, out)
	}
	return &st, nil
}

func instancePIDs(st *orchestrator.AppStatus) []int {
	var pids []int
	for _, e := range st.Entities {
		for _, in := range e.Instances {
			if p, err := strconv.Atoi(in.Meta["pid"]); err == nil {
				pids = append(pids, p)
			}
		}
	}
	return pids
}

func processGone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z' // a zombie nobody reaped is gone too
}

// processesUnder lists live processes whose working directory is in dir:
// the local target runs every instance in its entity's directory.
func processesUnder(dir string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err == nil && strings.HasPrefix(cwd, dir) && !processGone(pid) {
			out = append(out, pid)
		}
	}
	return out
}

func waitNoProcesses(t *testing.T, dir string, pids []int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		left := processesUnder(dir)
		for _, p := range pids {
			if !processGone(p) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				syscall.Kill(p, syscall.SIGKILL)
			}
			t.Fatalf("processes left behind: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUpEndToEnd runs the real `elk up` on the stock demo blueprint (with
// its UDP port moved to a free one): collectors and agent become healthy
// with a non-zero ingest rate as `elk status` shows, and SIGINT leaves no
// process behind.
func TestUpEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	bin := elkBinary(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	demo, err := library.Read(defaultUpBlueprint)
	if err != nil {
		t.Fatal(err)
	}
	port := freeUDPPortNumber(t)
	bp := strings.ReplaceAll(string(demo), "port: 6343", fmt.Sprintf("port: %d", port))
	if bp == string(demo) {
		t.Fatalf("%s no longer sets port: 6343; update this test", defaultUpBlueprint)
	}
	dir := t.TempDir()
	bpPath := filepath.Join(dir, "demo.yaml")
	if err := os.WriteFile(bpPath, []byte(bp), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	addr := freeTCPPort(t)
	up := exec.Command(bin, "up", bpPath, "--listen", addr, "--state-dir", state, "--no-services", "--refresh", "1s")
	up.Dir = root
	out, exited := startUp(t, up, state)

	st := waitUpReady(t, exited, 90*time.Second, func() (*orchestrator.AppStatus, error) { return elkStatus(t, bin, addr, "demo") })
	pids := instancePIDs(st)
	if len(pids) < 2 {
		t.Fatalf("want collector and agent pids, got %v", pids)
	}
	t.Logf("ready: %s", summarize(st))

	interruptUp(t, up, exited, state, pids)
	if !strings.Contains(out.String(), "all processes stopped") {
		t.Errorf("elk up output lacks the teardown message:\n%s", out.String())
	}
}

// startUp starts an `elk up` command; it is killed at the end of the test
// if still running, and its output and server log are shown if the test
// failed. The channel receives Wait's result.
func startUp(t *testing.T, up *exec.Cmd, state string) (*bytes.Buffer, <-chan error) {
	t.Helper()
	out := new(bytes.Buffer)
	up.Stdout, up.Stderr = out, out
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	t.Cleanup(func() {
		if up.ProcessState == nil {
			up.Process.Kill()
		}
		if t.Failed() {
			t.Logf("elk up output:\n%s", out.String())
			if b, err := os.ReadFile(filepath.Join(state, "server.log")); err == nil {
				t.Logf("server log (tail):\n%s", tail(string(b), 40))
			}
		}
	})
	return out, exited
}

// interruptUp sends elk up SIGINT and checks it exits 0 within a minute,
// leaving none of pids running.
func interruptUp(t *testing.T, up *exec.Cmd, exited <-chan error, state string, pids []int) {
	t.Helper()
	up.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("elk up after SIGINT: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("elk up did not stop within 60s of SIGINT")
	}
	waitNoProcesses(t, state, pids)
}

// waitUpReady polls status until the app is up (upReady) and returns its
// status; it fails the test when elk up exits or the app is not up within
// timeout.
func waitUpReady(t *testing.T, exited <-chan error, timeout time.Duration, status func() (*orchestrator.AppStatus, error)) *orchestrator.AppStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		select {
		case err := <-exited:
			t.Fatalf("elk up exited early: %v", err)
		default:
		}
		st, err := status()
		if err == nil && upReady(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("not healthy with a non-zero ingest rate in %s: %+v, %v", timeout, st, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func upReady(st *orchestrator.AppStatus) bool {
	var coll, agent bool
	for _, e := range st.Entities {
		ok := e.Desired > 0 && e.Healthy == e.Desired
		switch e.Type {
		case "sflow-collector":
			coll = ok && e.Rates["samples_per_second"] > 0
		case "sflow-agent":
			agent = ok
		}
	}
	return coll && agent
}

func summarize(st *orchestrator.AppStatus) string {
	var parts []string
	for _, e := range st.Entities {
		parts = append(parts, fmt.Sprintf("%s %d/%d healthy %v", e.ID, e.Healthy, e.Desired, e.Rates))
	}
	return strings.Join(parts, "; ")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestServerKilledMidDeployResumes kills `elk server` with SIGKILL while a
// deploy waits for its second entity; a new server on the same state
// directory adopts the processes, finishes the deploy, and no process is
// duplicated.
func TestServerKilledMidDeployResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	bin := elkBinary(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	bp := fmt.Sprintf(`name: resume
entities:
  - id: base
    type: generic
    command: [sleep, "3600"]
  - id: slow
    type: generic
    command: [sh, -c, 'sleep 3; exec "$0" server --listen 127.0.0.1:${port.http} --state-dir ./nested', %q]
    ports:
      - name: http
    health:
      http: /healthz
      port: http
      interval: 500ms
    depends_on: [base]
`, bin)
	bpPath := filepath.Join(dir, "resume.yaml")
	if err := os.WriteFile(bpPath, []byte(bp), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeTCPPort(t)
	startServer := func() (*exec.Cmd, *bytes.Buffer) {
		var log bytes.Buffer
		srv := exec.Command(bin, "server", "--listen", addr, "--state-dir", state, "--wait-timeout", "30s")
		srv.Stdout, srv.Stderr = &log, &log
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !probeTCP(addr, 200*time.Millisecond) {
			if time.Now().After(deadline) {
				srv.Process.Kill()
				t.Fatalf("server did not listen: %s", log.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		return srv, &log
	}
	srv, _ := startServer()
	t.Cleanup(func() {
		if srv.ProcessState == nil {
			srv.Process.Kill()
			srv.Wait()
		}
		for _, p := range processesUnder(state) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})

	deploy := exec.Command(bin, "deploy", bpPath)
	deploy.Env = append(os.Environ(), "ELK_ADDR=http://"+addr)
	pipe, _ := deploy.StdoutPipe()
	if err := deploy.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "slow") && strings.Contains(line, "waiting for 1 healthy") {
			break
		}
	}
	time.Sleep(time.Second) // slow's process runs, not yet healthy
	srv.Process.Kill()      // SIGKILL: no cleanup at all
	srv.Wait()
	if err := deploy.Wait(); err == nil {
		t.Errorf("elk deploy succeeded although its server was killed")
	}
	var orphans []int
	for _, e := range []string{"base", "slow"} {
		b, err := os.ReadFile(filepath.Join(state, "local", "apps", "resume", e, "0.pid.json"))
		if err != nil {
			t.Fatalf("pid file of %s: %v", e, err)
		}
		var pf struct{ PID int }
		json.Unmarshal(b, &pf)
		if processGone(pf.PID) {
			t.Fatalf("%s (pid %d) died with the server", e, pf.PID)
		}
		orphans = append(orphans, pf.PID)
	}

	srv, _ = startServer()
	var st *orchestrator.AppStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		st, err = elkStatus(t, bin, addr, "resume")
		if err == nil && st.Deploying == nil && len(st.Entities) == 2 &&
			st.Entities[0].Healthy == 1 && st.Entities[1].Healthy == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deploy did not converge after the restart: %+v, %v", st, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	pids := instancePIDs(st)
	now := processesUnder(state)
	if len(now) != 2 {
		t.Errorf("processes after resume: %v, want exactly 2 (no duplicates)", now)
	}
	for _, p := range orphans {
		if processGone(p) {
			t.Errorf("orphan %d was replaced instead of adopted (pids now %v)", p, pids)
		}
	}
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	waitNoProcesses(t, state, pids)
}
