package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator"
	"github.com/elk-project/elk/orchestrator/client"
	"github.com/elk-project/elk/orchestrator/server"
)

const blueprint = `name: t
entities:
  - id: a
    type: generic
    command: [sleep, "3600"]
  - id: b
    type: generic
    command: [sleep, "3600"]
    depends_on: [a]
`

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// runLocal runs a local stack on a free port and a fresh state directory
// (unless cfg names them) until the test ends, and returns it with a client.
func runLocal(t *testing.T, cfg server.LocalConfig) (*server.Stack, *client.Client) {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.WaitTimeout == 0 {
		cfg.WaitTimeout = 5 * time.Second
	}
	stack, err := server.NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- stack.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	c, err := client.New(stack.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	return stack, c
}

func TestAPI(t *testing.T) {
	stack, c := runLocal(t, server.LocalConfig{})
	bg := context.Background()
	if err := c.Healthy(bg); err != nil {
		t.Fatal(err)
	}

	res, err := c.Deploy(bg, "t.yaml", []byte(blueprint), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Plan.Changes) != 2 || res.Plan.Changes[0].Action != "add" || !res.DryRun {
		t.Errorf("dry run plan: %+v", res)
	}
	if apps, err := c.Apps(bg); err != nil || len(apps) != 0 {
		t.Errorf("apps after a dry run: %v, %v", apps, err)
	}

	var events []orchestrator.Event
	if _, err := c.Deploy(bg, "t.yaml", []byte(blueprint), false, func(ev orchestrator.Event) { events = append(events, ev) }); err != nil {
		t.Fatal(err)
	}
	var healthy []string
	for _, ev := range events {
		if ev.Action == "healthy" {
			healthy = append(healthy, ev.Entity)
		}
	}
	if !slices.Equal(healthy, []string{"a", "b"}) {
		t.Errorf("healthy events %v, want a then b", healthy)
	}
	st, err := c.App(bg, "t")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Entities) != 2 || st.Entities[0].Healthy != 1 || st.Entities[1].Healthy != 1 {
		t.Errorf("status: %+v", st)
	}
	pids := []int{}
	for _, e := range st.Entities {
		for _, in := range e.Instances {
			p, _ := strconv.Atoi(in.Meta["pid"])
			pids = append(pids, p)
		}
	}

	res, err = c.Deploy(bg, "t.yaml", []byte(blueprint), false, nil)
	if err != nil || !res.Plan.Empty() {
		t.Errorf("redeploy: %+v, %v; want an empty plan", res, err)
	}

	if err := c.Scale(bg, "t", "a", 2, "test"); err != nil {
		t.Fatal(err)
	}
	st, _ = c.App(bg, "t")
	if st.Entities[0].Desired != 2 || st.Entities[0].CountSource != "operator" {
		t.Errorf("after scale: %+v", st.Entities[0])
	}
	var ce *client.Error
	if err := c.Scale(bg, "t", "nope", 2, ""); !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Errorf("scale of an unknown entity: %v, want 404", err)
	}

	bad := strings.Replace(blueprint, "command:", "comand:", 1)
	_, err = c.Deploy(bg, "bad.yaml", []byte(bad), false, nil)
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "bad.yaml:5:") {
		t.Errorf("bad blueprint: %v, want 400 with bad.yaml:5:col", err)
	}

	failing := "name: f\nentities:\n  - id: x\n    type: generic\n    command: [sh, -c, 'echo no luck; exit 4']\n"
	_, err = c.Deploy(bg, "f.yaml", []byte(failing), false, nil)
	if !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), "exit status 4") || !strings.Contains(err.Error(), "rolled back: removed x") {
		t.Errorf("failing deploy: %v, want the exit status and the rollback", err)
	}
	if _, err := c.App(bg, "f"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("status of a rolled back app: %v, want not found", err)
	}

	code, body := get(t, stack.Addr+"/metrics")
	if code != 200 || !strings.Contains(body, `elk_orchestrator_operations_total{operation="deploy",outcome="success"}`) {
		t.Errorf("/metrics: %d, lacks the deploy counter", code)
	}
	code, body = get(t, stack.Addr+"/v1/registry/services")
	if code != 200 || !strings.Contains(body, `"t-a-0"`) {
		t.Errorf("/v1/registry/services: %d %s", code, body)
	}
	if code, _ = get(t, stack.Addr+"/v1/policies"); code != 200 {
		t.Errorf("/v1/policies: %d", code)
	}

	removed, err := c.Undeploy(bg, "t")
	if err != nil || !slices.Equal(removed, []string{"b", "a"}) {
		t.Errorf("undeploy: %v, %v; want b then a", removed, err)
	}
	if _, err := c.Undeploy(bg, "t"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("second undeploy: %v, want not found", err)
	}
	for _, p := range pids {
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Kill(p, 0) == nil && !zombie(p) {
			if time.Now().After(deadline) {
				t.Fatalf("pid %d still running after undeploy", p)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// zombie reports a dead process that nobody reaped yet.
func zombie(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
