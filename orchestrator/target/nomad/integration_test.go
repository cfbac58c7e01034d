package nomad

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/elk-project/elk/blueprints"
	"github.com/elk-project/elk/orchestrator/catalog"
	"github.com/elk-project/elk/orchestrator/target"
)

func realNomad(t *testing.T) *api.Client {
	t.Helper()
	if os.Getenv("NOMAD_ADDR") == "" {
		t.Skip("NOMAD_ADDR is not set: skipping the Nomad integration test (run a `nomad agent -dev` and set NOMAD_ADDR)")
	}
	c, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIntegrationLibraryJobsPlan has the real Nomad agent validate (plan,
// without running) the job of every entity of every stock blueprint.
func TestIntegrationLibraryJobsPlan(t *testing.T) {
	c := realNomad(t)
	files, _ := filepath.Glob("../../../blueprints/library/*.yaml")
	if len(files) == 0 {
		t.Fatal("no stock blueprints")
	}
	for _, f := range files {
		app, err := blueprints.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		specs, err := catalog.Specs(app, catalog.Options{Target: blueprints.TargetNomad, ElkBinary: "/usr/local/bin/elk"})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range specs {
			job, err := Job(s, JobOptions{})
			if err != nil {
				t.Fatal(err)
			}
			resp, _, err := c.Jobs().Plan(job, true, nil)
			if err != nil {
				t.Errorf("%s: plan of job %s rejected: %v", filepath.Base(f), *job.ID, err)
				continue
			}
			var failed []string
			for g, m := range resp.FailedTGAllocs {
				failed = append(failed, g+": "+metricSummary(m))
			}
			t.Logf("%s: job %s valid; placement here: %s", filepath.Base(f), *job.ID, strings.Join(append(failed, "ok")[:max(1, len(failed))], "; "))
		}
	}
}

// TestIntegrationDemoOnNomad runs the local demo blueprint (an sFlow agent
// and collectors from the elk binary at ELK_BINARY) on the real agent: start
// in dependency order, wait healthy, scale the collectors, remove.
func TestIntegrationDemoOnNomad(t *testing.T) {
	c := realNomad(t)
	bin := os.Getenv("ELK_BINARY")
	if bin == "" {
		t.Skip("ELK_BINARY is not set: skipping the demo deploy (go build -o /tmp/elk ./cmd/elk; ELK_BINARY=/tmp/elk)")
	}
	app, err := blueprints.Load("../../../blueprints/library/local-demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	app.Name = "nomaddemo"
	dir := t.TempDir()
	specs, err := catalog.Specs(app, catalog.Options{Target: blueprints.TargetNomad, ElkBinary: bin,
		ServiceHost: func(string, string) string { return "127.0.0.1" }})
	if err != nil {
		t.Fatal(err)
	}
	provider := "nomad"
	if os.Getenv("CONSUL_HTTP_ADDR") != "" {
		provider = "consul"
	}
	tg, err := New(Config{Client: c, PollInterval: 250 * time.Millisecond, Jobs: JobOptions{ServiceProvider: provider}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, s := range specs {
		for i, a := range s.Command {
			if strings.HasPrefix(a, "file:") {
				s.Command[i] = "file:" + filepath.Join(dir, "flows-${instance}.ndjson")
			}
		}
		t.Cleanup(func() { tg.Remove(context.Background(), s.App, s.Entity) })
		if err := tg.Apply(ctx, s); err != nil {
			t.Fatalf("apply %s: %v", s.Entity, err)
		}
		if err := tg.Wait(ctx, s.App, s.Entity); err != nil {
			t.Fatalf("wait %s: %v", s.Entity, err)
		}
		t.Logf("%s healthy", s.Entity)
	}
	// Scale the collectors: the instances share the static UDP port
	// (SO_REUSEPORT, ignore_collision) on this one node.
	if err := tg.Scale(ctx, app.Name, "collector", target.ScaleRequest{Count: 2, Message: "integration: scale up", Meta: map[string]string{"reason": "test"}}); err != nil {
		t.Fatal(err)
	}
	if err := tg.Wait(ctx, app.Name, "collector"); err != nil {
		t.Fatal(err)
	}
	st, err := tg.Status(ctx, app.Name, "collector")
	if err != nil || st.Healthy != 2 || st.Running != 2 {
		t.Fatalf("collector after scale: %+v %v", st, err)
	}
	for _, in := range st.Instances {
		t.Logf("collector instance %d %s %s addr %s ports %v", in.Index, in.ID[:8], in.State, in.Addr, in.Ports)
		if in.Ports["sflow"] != 6343 {
			t.Errorf("instance %d: sflow port %d, want the shared 6343", in.Index, in.Ports["sflow"])
		}
	}
	ss, _, err := c.Jobs().ScaleStatus(JobID(app.Name, "collector"), nil)
	if err == nil {
		ev := ss.TaskGroups["collector"].Events
		if len(ev) == 0 || ev[0].Message != "integration: scale up" {
			t.Errorf("scaling events %+v lack the message", ev)
		}
	}
	// The collectors received the agent's datagrams and wrote flow documents.
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "flows-*.ndjson*"))
		var size int64
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil {
				size += fi.Size()
			}
		}
		if size > 0 {
			t.Logf("flow documents written: %d bytes in %v", size, files)
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("no flow documents written in %s", dir)
			break
		}
		time.Sleep(time.Second)
	}
	for _, e := range []string{"agent", "collector"} {
		if err := tg.Remove(ctx, app.Name, e); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := tg.List(ctx, app.Name); len(got) != 0 {
		t.Errorf("jobs left after remove: %v", got)
	}
}
