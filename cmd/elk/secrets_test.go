package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator"
)

// TestCredentialsNeverInTheClear deploys a collector whose Elasticsearch
// output URL carries a password and looks for the password everywhere elk
// writes or shows things: every process's command line, every file in the
// state directory (specs, KV, logs, the server log), the output of status,
// a dry-run plan and the Nomad rendering of the same blueprint (job
// arguments and environment).
func TestCredentialsNeverInTheClear(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	const secret = "Pw-9c1e2fd0b7"
	bin := elkBinary(t)
	dir := t.TempDir()
	port := freeUDPPortNumber(t)
	es := freeTCPPort(t) // nothing listens there: the collector spools
	bp := fmt.Sprintf(`name: sec
target: local
entities:
  - id: collector
    type: sflow-collector
    config:
      port: %d
      output: [file:flows.ndjson, "elasticsearch:http://elk:%s@%s?spool=spool"]
  - id: agent
    type: sflow-agent
    config:
      collector: collector
      rate: 200
    depends_on: [collector]
`, port, secret, es)
	bpPath := filepath.Join(dir, "sec.yaml")
	if err := os.WriteFile(bpPath, []byte(bp), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	addr := freeTCPPort(t)
	up := exec.Command(bin, "up", bpPath, "--listen", addr, "--state-dir", state, "--no-services", "--refresh", "1s")
	out, exited := startUp(t, up, state)
	waitUpReady(t, exited, 60*time.Second, func() (*orchestrator.AppStatus, error) { return elkStatus(t, bin, addr, "sec") })

	var leaks []string
	look := func(where string, b []byte) {
		if bytes.Contains(b, []byte(secret)) {
			leaks = append(leaks, where)
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		look("command line of pid "+e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "), b)
	}
	filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() { // not the instances' output pipes
			if b, err := os.ReadFile(p); err == nil {
				look("file "+p, b)
			}
		}
		return nil
	})
	env := append(os.Environ(), "ELK_ADDR=http://"+addr)
	for _, args := range [][]string{
		{"status", "sec"},
		{"status", "--output", "json", "sec"},
		{"deploy", "--dry-run", bpPath},
		{"deploy", "--dry-run", "--output", "json", bpPath},
		{"blueprint", "render", bpPath},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("elk %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		look("output of elk "+strings.Join(args, " "), b)
	}
	look("output of elk up", out.Bytes())
	for _, l := range leaks {
		t.Errorf("password found in %s", l)
	}
}
