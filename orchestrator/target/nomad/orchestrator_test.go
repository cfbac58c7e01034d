package nomad_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/orchestrator"
	"github.com/elk-project/elk/orchestrator/catalog"
	"github.com/elk-project/elk/orchestrator/discovery/embedded"
	"github.com/elk-project/elk/orchestrator/server"
	"github.com/elk-project/elk/orchestrator/target"
	"github.com/elk-project/elk/orchestrator/target/nomad"
)

// recording wraps a target and records the order of Apply calls.
type recording struct {
	target.Target
	mu      sync.Mutex
	applied []string
}

func (r *recording) Apply(ctx context.Context, s target.Spec) error {
	r.mu.Lock()
	r.applied = append(r.applied, s.Entity)
	r.mu.Unlock()
	return r.Target.Apply(ctx, s)
}

// TestIntegrationOrchestratorDeploy drives the orchestrator engine with the
// Nomad target on the real agent: the demo blueprint (retargeted to nomad)
// deploys in dependency order, a second deploy changes nothing, a scale
// changes the allocation count, and undeploy removes every job.
func TestIntegrationOrchestratorDeploy(t *testing.T) {
	if os.Getenv("NOMAD_ADDR") == "" {
		t.Skip("NOMAD_ADDR is not set: skipping the Nomad integration test (run a `nomad agent -dev` and set NOMAD_ADDR)")
	}
	c, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("ELK_BINARY")
	if bin == "" {
		t.Skip("ELK_BINARY is not set: skipping the orchestrator deploy (go build -o /tmp/elk ./cmd/elk; ELK_BINARY=/tmp/elk)")
	}
	data, err := os.ReadFile("../../../blueprints/library/local-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := strings.NewReplacer("name: demo", "name: orchdemo", "target: local", "target: nomad",
		"file:flows.ndjson", `"file:`+filepath.Join(dir, "flows-${instance}.ndjson")+`"`).Replace(string(data))
	provider := "nomad"
	if os.Getenv("CONSUL_HTTP_ADDR") != "" {
		provider = "consul"
	}
	comp := server.BlueprintCompiler{Options: catalog.Options{Target: blueprints.TargetNomad, ElkBinary: bin,
		ServiceHost: func(string, string) string { return "127.0.0.1" }}}
	compiled, err := comp.Compile("orchdemo.yaml", []byte(src))
	app := compiled.App
	if err != nil {
		t.Fatal(err)
	}
	nt, err := nomad.New(nomad.Config{Client: c, PollInterval: 250 * time.Millisecond, Jobs: nomad.JobOptions{ServiceProvider: provider}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recording{Target: nt}
	kv, err := embedded.NewDirKV(filepath.Join(dir, "kv"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := orchestrator.New(orchestrator.Config{WaitTimeout: time.Minute}, orchestrator.Deps{Target: rec, KV: kv})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		for _, e := range []string{"agent", "collector"} {
			nt.Remove(context.Background(), "orchdemo", e)
		}
	})

	res, err := eng.Deploy(ctx, app, orchestrator.DeployOptions{Progress: func(ev orchestrator.Event) { t.Logf("deploy: %+v", ev) }})
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	t.Logf("deployed in %v", res.Duration)
	if got := strings.Join(rec.applied, ","); got != "collector,agent" {
		t.Errorf("apply order %s, want collector,agent", got)
	}
	if jobs, _ := nt.List(ctx, "orchdemo"); strings.Join(jobs, ",") != "agent,collector" {
		t.Errorf("jobs %v", jobs)
	}

	res, err = eng.Deploy(ctx, app, orchestrator.DeployOptions{})
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if !res.Plan.Empty() {
		t.Errorf("second deploy planned changes: %+v", res.Plan)
	}

	if err := eng.Scale(ctx, "orchdemo", "collector", 2, orchestrator.ScaleOptions{Reason: "integration test"}); err != nil {
		t.Fatalf("scale: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := nt.Status(ctx, "orchdemo", "collector")
		if err == nil && st.Healthy == 2 && len(st.Instances) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector not at 2 healthy allocations: %+v %v", st, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if st, err := eng.Status(ctx, "orchdemo"); err == nil {
		for _, e := range st.Entities {
			t.Logf("status: %s desired %d running %d healthy %d drift %q", e.ID, e.Desired, e.Running, e.Healthy, e.Drift)
		}
	}

	if err := eng.Undeploy(ctx, "orchdemo", nil); err != nil {
		t.Fatalf("undeploy: %v", err)
	}
	if jobs, err := nt.List(ctx, "orchdemo"); err != nil || len(jobs) != 0 {
		t.Errorf("jobs after undeploy: %v %v", jobs, err)
	}
}
