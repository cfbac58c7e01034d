package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator"
	"github.com/elk-project/elk/orchestrator/client"
	"github.com/elk-project/elk/orchestrator/discovery"
	"github.com/elk-project/elk/orchestrator/server"
	"github.com/elk-project/elk/orchestrator/target/nomad"
)

// nomadGet decodes GET NOMAD_ADDR+path into out and returns the status.
func nomadGet(t *testing.T, path string, out any) int {
	t.Helper()
	resp, err := http.Get(strings.TrimRight(os.Getenv("NOMAD_ADDR"), "/") + path)
	if err != nil {
		t.Fatalf("nomad %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("nomad %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// runningAllocs counts the allocations of job Nomad runs.
func runningAllocs(t *testing.T, job string) int {
	var allocs []struct{ ClientStatus, DesiredStatus string }
	nomadGet(t, "/v1/job/"+job+"/allocations", &allocs)
	n := 0
	for _, a := range allocs {
		if a.DesiredStatus == "run" && a.ClientStatus == "running" {
			n++
		}
	}
	return n
}

func entity(st *orchestrator.AppStatus, id string) orchestrator.EntityStatus {
	for _, e := range st.Entities {
		if e.ID == id {
			return e
		}
	}
	return orchestrator.EntityStatus{}
}

// TestIntegrationNomadWithoutConsul deploys a collector and an sFlow agent
// sending to it onto a real Nomad agent with no Consul (services in
// Nomad's registry, state in a directory), scales the collectors to 3 and
// undeploys, through the server's API.
func TestIntegrationNomadWithoutConsul(t *testing.T) {
	if os.Getenv("NOMAD_ADDR") == "" {
		t.Skip("NOMAD_ADDR unset: no Nomad agent to deploy onto (e.g. `nomad agent -dev` with raw_exec enabled)")
	}
	t.Setenv("CONSUL_HTTP_ADDR", "")
	dir := t.TempDir()
	elk := filepath.Join(dir, "elk")
	if out, err := exec.Command("go", "build", "-o", elk, "github.com/elk-project/elk/cmd/elk").CombinedOutput(); err != nil {
		t.Fatalf("building elk: %v\n%s", err, out)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()

	st, err := server.NewNomad(server.NomadConfig{
		Listen: "127.0.0.1:0", ElkBinary: elk, StateDir: filepath.Join(dir, "state"), WaitTimeout: time.Minute,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	c, err := client.New(st.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("nsc%d", time.Now().UnixNano()%100000)
	bp := fmt.Sprintf(`name: %s
target: nomad
entities:
  - id: collector
    type: sflow-collector
    config:
      port: %d
      output: [stdout]
  - id: agent
    type: sflow-agent
    config:
      collector: collector
      rate: 500
    depends_on: [collector]
`, app, port)
	bg := context.Background()
	defer func() { _, _ = c.Undeploy(bg, app) }()
	start := time.Now()
	if _, err := c.Deploy(bg, app+".yaml", []byte(bp), false, nil); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	t.Logf("%s deployed in %.1fs (collector on UDP %d)", app, time.Since(start).Seconds(), port)

	// The agent reaches the collector at its node's address: the
	// collector's sample rate, read from its metrics port found in
	// Nomad's service registry, becomes non-zero.
	var svcs []struct{ ServiceName, Address string }
	if code := nomadGet(t, "/v1/service/"+discovery.ServiceName(app, "collector"), &svcs); code != http.StatusOK || len(svcs) != 1 {
		t.Fatalf("collector service in Nomad's registry: status %d, %d instance(s)", code, len(svcs))
	}
	deadline := time.Now().Add(45 * time.Second)
	for {
		s, err := c.App(bg, app)
		if err != nil {
			t.Fatal(err)
		}
		if r := entity(s, "collector").Rates["samples_per_second"]; r > 0 {
			t.Logf("collector receives %.0f samples/s from the agent", r)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector received no samples: %+v", entity(s, "collector"))
		}
		time.Sleep(time.Second)
	}

	if err := c.Scale(bg, app, "collector", 3, "integration test"); err != nil {
		t.Fatalf("scale: %v", err)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		s, err := c.App(bg, app)
		if err != nil {
			t.Fatal(err)
		}
		e := entity(s, "collector")
		n := runningAllocs(t, nomad.JobID(app, "collector"))
		if e.Desired == 3 && e.Healthy == 3 && n == 3 {
			t.Logf("collector scaled to 3: %d running allocations in Nomad", n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after scale to 3: desired %d healthy %d, %d running allocations", e.Desired, e.Healthy, n)
		}
		time.Sleep(time.Second)
	}

	removed, err := c.Undeploy(bg, app)
	if err != nil {
		t.Fatalf("undeploy: %v", err)
	}
	t.Logf("undeployed: %v", removed)
	for _, ent := range []string{"collector", "agent"} {
		var job struct{ Stop bool }
		if code := nomadGet(t, "/v1/job/"+nomad.JobID(app, ent), &job); code != http.StatusNotFound && !job.Stop {
			t.Errorf("job %s still registered after undeploy (status %d)", nomad.JobID(app, ent), code)
		}
	}
	if _, err := c.App(bg, app); err == nil {
		t.Errorf("%s still known to the server after undeploy", app)
	}
}
