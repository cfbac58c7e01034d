package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator"
)

// TestUpWithOnlyTheBinary copies the binary into an empty directory and runs
// it there, as someone who downloaded only elk would: the stock blueprints
// come from inside the binary (elk blueprint list/show, and elk up with no
// argument deploys the embedded demo), and from another "terminal" (plain
// CLI invocations with no token in the environment) elk status, elk scale
// and elk policy edit reach the authenticated server; the policy edit is
// recorded under the server's generated token's name.
func TestUpWithOnlyTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "elk")
	src, err := os.ReadFile(elkBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ELK_") {
			env = append(env, kv)
		}
	}
	run := func(extra []string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(append([]string{}, env...), extra...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run(nil, "blueprint", "list")
	if err != nil {
		t.Fatalf("elk blueprint list: %v\n%s", err, out)
	}
	for _, name := range []string{"local-demo", "sflow-stack", "tenant-stack"} {
		if !strings.Contains(out, name) {
			t.Errorf("elk blueprint list lacks %s:\n%s", name, out)
		}
	}
	show, err := run(nil, "blueprint", "show", "local-demo")
	if err != nil || !strings.Contains(show, "name: demo") {
		t.Fatalf("elk blueprint show local-demo: %v\n%s", err, show)
	}
	if out, err := run(nil, "blueprint", "validate", "sflow-stack"); err != nil {
		t.Fatalf("elk blueprint validate sflow-stack: %v\n%s", err, out)
	}

	// A file named like the demo does not replace it for a bare elk up.
	if err := os.WriteFile(filepath.Join(dir, "local-demo"), []byte("not a blueprint\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeTCPPort(t)
	state := filepath.Join(dir, "state")
	up := exec.Command(bin, "up", "--listen", addr, "--state-dir", state, "--no-services", "--refresh", "1s")
	up.Dir = dir
	up.Env = env
	_, exited := startUp(t, up, state)

	other := []string{"ELK_ADDR=http://" + addr}
	status := func() (*orchestrator.AppStatus, error) {
		out, err := run(other, "status", "--output", "json", "demo")
		if err != nil {
			return nil, err
		}
		var st orchestrator.AppStatus
		return &st, json.Unmarshal([]byte(out), &st)
	}
	st := waitUpReady(t, exited, 90*time.Second, status)
	pids := instancePIDs(st)

	if out, err := run(other, "scale", "demo/collector", "2"); err != nil {
		t.Fatalf("elk scale with no token typed: %v\n%s", err, out)
	}
	if st, err = status(); err != nil || entity(st, "collector").Desired != 2 {
		t.Fatalf("after elk scale demo/collector 2: %+v, %v", st, err)
	}
	edit := append([]string{"EDITOR=sed -i 's/max: 4/max: 3/'"}, other...)
	if out, err := run(edit, "policy", "edit", "demo/collector"); err != nil {
		t.Fatalf("elk policy edit with no token typed: %v\n%s", err, out)
	}
	out, err = run(other, "policy", "history", "demo/collector", "--output", "json")
	if err != nil {
		t.Fatalf("elk policy history: %v\n%s", err, out)
	}
	var hist []struct {
		Author string `json:"author"`
		Diff   string `json:"diff"`
	}
	if err := json.Unmarshal([]byte(out), &hist); err != nil || len(hist) < 2 {
		t.Fatalf("policy history: %v: %s", err, out)
	}
	last := hist[len(hist)-1]
	if last.Author != "local" || !strings.Contains(last.Diff, "max: 3") {
		t.Errorf("last policy version by %q with diff %q; want author local (the generated token) and max: 3", last.Author, last.Diff)
	}
	// A tenant recorded from another terminal reaches the running
	// collectors: its flows (the demo's traffic is in 10.0.0.0/8) are
	// copied with its organization.id.
	if out, err := run(other, "tenant", "add", "acme", "--cidr", "10.0.0.0/8"); err != nil || !strings.Contains(out, "tenant acme recorded") {
		t.Fatalf("elk tenant add: %v\n%s", err, out)
	}
	tagged := func() bool {
		found := false
		filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && strings.HasSuffix(p, ".ndjson") {
				if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(`"organization":{"id":"acme"}`)) {
					found = true
				}
			}
			return nil
		})
		return found
	}
	for deadline := time.Now().Add(30 * time.Second); !tagged(); time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no flow document with organization.id acme within 30s of elk tenant add")
		}
	}
	if out, err := run(other, "tenant", "list"); err != nil || !strings.Contains(out, "acme") {
		t.Errorf("elk tenant list: %v\n%s", err, out)
	}

	// Without the local token index (another user, say) the API refuses.
	if out, err := run(append([]string{"HOME=" + t.TempDir(), "XDG_RUNTIME_DIR=" + t.TempDir()}, other...), "status", "demo"); err == nil {
		t.Errorf("elk status without any token succeeded:\n%s", out)
	}

	if p, err := os.ReadFile(filepath.Join(state, "token")); err != nil || len(bytes.TrimSpace(p)) < 32 {
		t.Errorf("generated token file: %v", err)
	} else if fi, _ := os.Stat(filepath.Join(state, "token")); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	interruptUp(t, up, exited, state, pids)
}

func entity(st *orchestrator.AppStatus, id string) orchestrator.EntityStatus {
	for _, e := range st.Entities {
		if e.ID == id {
			return e
		}
	}
	return orchestrator.EntityStatus{}
}
