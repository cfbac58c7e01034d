package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/target"
	"github.com/elk-project/elk/orchestrator/target/local"
)

// shSpec runs a shell script as the entity (no ports, no health check).
func shSpec(app, entity, script string) target.Spec {
	return target.Spec{App: app, Entity: entity, Type: "generic", Count: 1, Command: []string{"sh", "-c", script}}
}

// logFiles returns the instance's log files oldest first: name.K … name.
func logFiles(dir string, keep int) []string {
	var out []string
	for i := keep; i >= 1; i-- {
		out = append(out, dir+"/0.log."+strconv.Itoa(i))
	}
	return append(out, dir+"/0.log")
}

// readLog concatenates the instance's log files, oldest first.
func readLog(t *testing.T, dir string, keep int) string {
	t.Helper()
	var b strings.Builder
	for _, name := range logFiles(dir, keep) {
		data, err := os.ReadFile(name)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// openFilesUnder lists this process's descriptors open on files under dir.
func openFilesUnder(dir string) []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		if p, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(p, dir) {
			out = append(out, p)
		}
	}
	return out
}

// waitLog polls the instance's newest log file until it contains want.
func waitLog(t *testing.T, dir, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if b, _ := os.ReadFile(filepath.Join(dir, "0.log")); strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "0.log"))
			t.Fatalf("log never showed %q; 0.log ends %q", want, tail(string(b)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func tail(s string) string {
	if len(s) > 300 {
		return s[len(s)-300:]
	}
	return s
}

// TestLogsRotateWhileRunning: a child writing 4 MB on stdout and stderr at
// once, with a 64 KiB cap and 3 kept files, never has more than
// 4 x 64 KiB on disk, its log rotates while it keeps running, every line
// arrives whole, the newest are in 0.log, and nothing inside the kept
// window is missing.
func TestLogsRotateWhileRunning(t *testing.T) {
	const capBytes, keep, lines = 64 << 10, 3, 20000
	state := t.TempDir()
	tg, err := local.New(local.Config{StateDir: state, LogMaxBytes: capBytes, LogBackups: keep,
		BackoffMin: 50 * time.Millisecond, GracePeriod: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	pad := strings.Repeat("x", 90)
	script := fmt.Sprintf(`
(i=0; while [ $i -lt %[1]d ]; do echo "err $i %[2]s" >&2; i=$((i+1)); done) &
i=0; while [ $i -lt %[1]d ]; do echo "out $i %[2]s"; i=$((i+1)); done
wait
echo done-writing
exec sleep 60`, lines, pad)
	if err := tg.Apply(context.Background(), shSpec("demo", "chatty", script)); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(state, "apps", "demo", "chatty")

	// Sample the disk while the child writes. Files are statted oldest
	// first: a rotation only moves a file to an older name, so no file is
	// counted twice.
	var maxTotal, samples int64
	deadline := time.Now().Add(30 * time.Second)
	for {
		var total int64
		for _, name := range logFiles(dir, keep+1) {
			if st, err := os.Stat(name); err == nil {
				if strings.HasSuffix(name, "."+strconv.Itoa(keep+1)) {
					t.Fatalf("%s exists: want at most %d rotated files", name, keep)
				}
				if st.Size() > capBytes {
					t.Fatalf("%s: %d bytes, cap %d", name, st.Size(), capBytes)
				}
				if st.Mode().Perm() != 0o600 {
					t.Fatalf("%s: mode %v, want 0600", name, st.Mode().Perm())
				}
				total += st.Size()
			}
		}
		maxTotal = max(maxTotal, total)
		samples++
		if total > capBytes*(keep+1) {
			t.Fatalf("%d bytes of log on disk, bound %d", total, capBytes*(keep+1))
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "0.log")); strings.Contains(string(b), "\ndone-writing\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child did not finish writing in 30s")
		}
		time.Sleep(2 * time.Millisecond)
	}

	// Still the first process: the rotations happened while it ran.
	st, err := tg.Status(context.Background(), "demo", "chatty")
	if err != nil || len(st.Instances) != 1 || st.Instances[0].State != "running" || st.Instances[0].Restarts != 0 {
		t.Fatalf("status %+v, %v: want the one process still running, never restarted", st, err)
	}
	if st.Instances[0].Meta["log"] != filepath.Join(dir, "0.log") {
		t.Errorf("status names log %q", st.Instances[0].Meta["log"])
	}
	if _, err := os.Stat(filepath.Join(dir, "0.log."+strconv.Itoa(keep))); err != nil {
		t.Fatalf("no 0.log.%d after writing %d bytes: %v", keep, 2*lines*len("out 12345 "+pad), err)
	}

	all := readLog(t, dir, keep)
	last := map[string]int{}
	var lineCount int
	for _, ln := range strings.Split(strings.TrimSuffix(all, "\n"), "\n") {
		lineCount++
		if ln == "done-writing" || strings.HasPrefix(ln, "--- elk:") {
			continue
		}
		var stream, p string
		var i int
		if n, _ := fmt.Sscanf(ln, "%s %d %s", &stream, &i, &p); n != 3 || p != pad || (stream != "out" && stream != "err") {
			t.Fatalf("torn or foreign line %q", ln)
		}
		if prev, ok := last[stream]; ok && i != prev+1 {
			t.Fatalf("%s: line %d follows %d: lost inside the kept window", stream, i, prev)
		}
		last[stream] = i
	}
	if !strings.HasSuffix(all, "done-writing\n") {
		t.Errorf("the log does not end with the child's last line: %q", tail(all))
	}
	if last["out"] != lines-1 && last["err"] != lines-1 {
		t.Errorf("newest kept lines %v, want line %d of a stream", last, lines-1)
	}
	written := 2 * lines * len("out 12345 "+pad+"\n") // about
	t.Logf("child wrote about %d bytes; at most %d on disk over %d samples (bound %d), %d lines kept",
		written, maxTotal, samples, capBytes*(keep+1), lineCount)

	tg.Close()
	if open := openFilesUnder(dir); len(open) > 0 {
		t.Errorf("still open after Close: %v", open)
	}
	if _, err := os.Stat(filepath.Join(dir, "0.pipe")); !os.IsNotExist(err) {
		t.Errorf("output pipe left after the instance stopped: %v", err)
	}
}

// TestLogsKeepEveryRunOfARestartedChild: a child that prints 3000 lines and
// exits is restarted by the target; each finished run's output is in the
// log whole, before the next run's start marker.
func TestLogsKeepEveryRunOfARestartedChild(t *testing.T) {
	state := t.TempDir()
	tg := newTarget(t, state)
	t.Cleanup(tg.Close)
	const n = 3000
	if err := tg.Apply(context.Background(), shSpec("demo", "crashy",
		fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "n $i"; i=$((i+1)); done; exit 1`, n))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := tg.Status(context.Background(), "demo", "crashy")
		if len(st.Instances) == 1 && st.Instances[0].Restarts >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not restarted 3 times: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tg.Close()
	b, err := os.ReadFile(filepath.Join(state, "apps", "demo", "crashy", "0.log"))
	if err != nil {
		t.Fatal(err)
	}
	runs := strings.Split(string(b), "--- elk: starting")[1:]
	if len(runs) < 3 {
		t.Fatalf("%d runs in the log, want at least 3", len(runs))
	}
	for r, run := range runs[:len(runs)-1] { // the last may have been stopped midway
		got := strings.Split(strings.TrimSuffix(run, "\n"), "\n")[1:]
		if len(got) != n || got[0] != "n 0" || got[n-1] != fmt.Sprintf("n %d", n-1) {
			t.Errorf("run %d: %d lines (%q … %q), want n 0 … n %d", r, len(got), got[0], got[len(got)-1], n-1)
		}
	}
}

// chattyScript writes 20000 numbered lines in bursts (about 1 MB/s), then
// idles; after line 999 it pauses for a second (the test kills the server
// then). The bursts outrun the pipe buffer while no server reads it.
const chattyScript = `i=0
while [ $i -lt 20000 ]; do
  echo "seq $i ................................................"
  i=$((i+1))
  case $i in 1000) sleep 1;; *00) sleep 0.01;; esac
done
echo chatty-done
exec sleep 60`

// TestLogsSurviveServerRestart: the server dies (SIGKILL) while its child
// writes; the child blocks on the full pipe instead of dying of SIGPIPE,
// the next server adopts it and drains the same pipe, and the log holds
// every line the child printed, in order.
func TestLogsSurviveServerRestart(t *testing.T) {
	dir := t.TempDir()
	cmd := startHelperServer(t, dir, "ELK_LOCAL_CHATTY=1")
	edir := filepath.Join(dir, "apps", "demo", "chatty")
	var pf struct {
		PID     int    `json:"pid"`
		LogPipe string `json:"log_pipe"`
	}
	b, err := os.ReadFile(filepath.Join(edir, "0.pid.json"))
	if err != nil || json.Unmarshal(b, &pf) != nil || pf.PID == 0 || pf.LogPipe != "0.pipe" {
		cmd.Process.Kill()
		t.Fatalf("pid file %s, %v: want a pid and log_pipe 0.pipe", b, err)
	}
	t.Cleanup(func() { syscall.Kill(-pf.PID, syscall.SIGKILL) })
	// Kill the server in the child's pause after line 999, once that line
	// is in the log: the server then has no read in hand (the one thing a
	// dying server loses).
	waitLog(t, edir, "seq 999 ", 10*time.Second)
	cmd.Process.Kill()
	cmd.Wait()
	// The pause ends; the child writes on with nobody reading, 64 KiB
	// fill the pipe and its next write blocks.
	time.Sleep(1500 * time.Millisecond)
	if gone(pf.PID) {
		t.Fatal("the child died when its server did")
	}
	if wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pf.PID)); true {
		t.Logf("child waits in %q while no server reads", wchan)
	}

	tg := newTarget(t, dir)
	t.Cleanup(tg.Close)
	if got := pids(t, tg, "demo", "chatty"); len(got) != 1 || got[0] != pf.PID {
		t.Fatalf("pids %v after restart, want the adopted %d", got, pf.PID)
	}
	waitLog(t, edir, "\nchatty-done\n", 30*time.Second)
	st, _ := tg.Status(context.Background(), "demo", "chatty")
	if len(st.Instances) != 1 || st.Instances[0].Restarts != 0 || pids(t, tg, "demo", "chatty")[0] != pf.PID {
		t.Fatalf("status %+v: want the adopted child still running", st)
	}
	log := readLog(t, edir, 3)
	next := 0
	for _, ln := range strings.Split(log, "\n") {
		var i int
		if _, err := fmt.Sscanf(ln, "seq %d ", &i); err != nil {
			continue
		}
		if i != next {
			t.Fatalf("line seq %d where %d was due: output lost across the server restart", i, next)
		}
		next++
	}
	if next != 20000 {
		t.Fatalf("%d lines in the log, want 20000", next)
	}
	if !strings.Contains(log, "--- elk: adopted demo-chatty-0") {
		t.Error("no adoption marker in the log")
	}
	tg.Close()
	if !gone(pf.PID) {
		t.Errorf("adopted child %d still running after Close", pf.PID)
	}
}

// TestLegacyAdoptedProcessKeepsItsFile: a process left by a server from
// before rotating logs writes straight to 0.log (its pid file has no
// log_pipe). It is adopted as it is and its file not rotated under it;
// once it dies its replacement writes through the pipe into the same log.
func TestLegacyAdoptedProcessKeepsItsFile(t *testing.T) {
	state := t.TempDir()
	spec := shSpec("demo", "legacy", `while :; do echo legacy process line; sleep 0.05; done`)
	edir := filepath.Join(state, "apps", "demo", "legacy")
	if err := os.MkdirAll(edir, 0o700); err != nil {
		t.Fatal(err)
	}
	sb, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(edir, "spec.json"), sb, 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(edir, "0.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	old := exec.Command("sh", "-c", spec.Command[2])
	old.Stdout, old.Stderr = logf, logf
	old.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	oldPID := old.Process.Pid
	reaped := make(chan struct{})
	go func() { old.Wait(); close(reaped) }()
	t.Cleanup(func() { syscall.Kill(-oldPID, syscall.SIGKILL) })
	pb, _ := json.Marshal(map[string]any{"pid": oldPID, "spec_hash": spec.Hash(), "ports": map[string]int{}, "restarts": 0})
	if err := os.WriteFile(filepath.Join(edir, "0.pid.json"), pb, 0o600); err != nil {
		t.Fatal(err)
	}

	tg, err := local.New(local.Config{StateDir: state, LogMaxBytes: 100, BackoffMin: 50 * time.Millisecond, GracePeriod: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	if got := pids(t, tg, "demo", "legacy"); len(got) != 1 || got[0] != oldPID {
		t.Fatalf("pids %v, want the legacy process %d adopted", got, oldPID)
	}
	time.Sleep(600 * time.Millisecond) // > 100 bytes written meanwhile
	st, err := os.Stat(filepath.Join(edir, "0.log"))
	if err != nil || st.Size() <= 100 {
		t.Fatalf("0.log %v, %v: want the legacy process writing to it past the cap, unrotated", st, err)
	}
	if _, err := os.Stat(filepath.Join(edir, "0.log.1")); !os.IsNotExist(err) {
		t.Fatalf("0.log rotated under the legacy process: %v", err)
	}
	if _, err := os.Stat(filepath.Join(edir, "0.pipe")); !os.IsNotExist(err) {
		t.Errorf("a pipe was made for the legacy process: %v", err)
	}

	syscall.Kill(-oldPID, syscall.SIGKILL)
	<-reaped // the test started it, so the test reaps it
	deadline := time.Now().Add(10 * time.Second)
	var newPID int
	for {
		// Between the exit and the restart the instance has no pid.
		if st, err := tg.Status(context.Background(), "demo", "legacy"); err == nil && len(st.Instances) == 1 {
			if p, err := strconv.Atoi(st.Instances[0].Meta["pid"]); err == nil && p != oldPID {
				newPID = p
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead legacy process was not replaced")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var pf struct {
		PID     int    `json:"pid"`
		LogPipe string `json:"log_pipe"`
	}
	deadline = time.Now().Add(5 * time.Second)
	for pf.PID != newPID && time.Now().Before(deadline) {
		b, _ := os.ReadFile(filepath.Join(edir, "0.pid.json"))
		_ = json.Unmarshal(b, &pf)
		time.Sleep(20 * time.Millisecond)
	}
	if pf.PID != newPID || pf.LogPipe != "0.pipe" {
		t.Fatalf("pid file of the replacement %+v: want pid %d writing through 0.pipe", pf, newPID)
	}
	// The old file was rotated away by the first write (the start
	// marker); the new 0.log stays within the cap.
	time.Sleep(300 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(edir, "0.log.1")); err != nil {
		t.Errorf("0.log.1 after the replacement started: %v", err)
	}
	if st, err := os.Stat(filepath.Join(edir, "0.log")); err != nil || st.Size() > 100 {
		t.Errorf("0.log %v, %v: want it within the cap of 100 bytes", st, err)
	}
}
