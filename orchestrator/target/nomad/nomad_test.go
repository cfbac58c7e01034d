package nomad

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/internal/replay"

	"github.com/hashicorp/nomad/api"

	"github.com/elk-project/elk/orchestrator/target"
)

func newTarget(t *testing.T, r *replay.Server) *Target { return newTargetAt(t, r.URL()) }

// newTargetAt returns a target talking to the Nomad at url.
func newTargetAt(t *testing.T, url string) *Target {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := New(Config{Client: c, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func demoSpec() target.Spec {
	return target.Spec{
		App: "demo", Entity: "collector", Type: "sflow-collector", Count: 1,
		Command:  []string{"/usr/local/bin/elk", "collector", "--listen", ":${port.sflow}", "--metrics-listen", ":${port.metrics}", "--id", "${app}-${entity}-${instance}"},
		Env:      map[string]string{"ELK_REGISTRY": "${registry}", "NODE_IP": "${attr.unique.network.ip-address}"},
		Ports:    []target.Port{{Name: "sflow", Static: 6343, Proto: "udp"}, {Name: "metrics", Proto: "tcp"}},
		CPUMHz:   500,
		MemoryMB: 256,
		Health:   target.Health{HTTPPath: "/healthz", Port: "metrics", Interval: 5 * time.Second, Timeout: 2 * time.Second},
		Tags:     []string{"app=demo", "entity=collector"},
		Meta:     map[string]string{"app": "demo", "entity": "collector", SpecScaleMin: "1", SpecScaleMax: "5"},
	}
}

func TestJobRendering(t *testing.T) {
	job, err := Job(demoSpec(), JobOptions{RegistryURL: "http://127.0.0.1:8500"})
	if err != nil {
		t.Fatal(err)
	}
	if *job.ID != "demo-collector" || *job.Type != "service" || job.Meta[MetaApp] != "demo" || job.Meta[MetaEntity] != "collector" || job.Meta[MetaSpec] == "" {
		t.Errorf("job id/type/meta: %s %s %v", *job.ID, *job.Type, job.Meta)
	}
	if job.Region != nil || job.Namespace != nil {
		t.Errorf("region/namespace must come from the client's environment, got %v %v", job.Region, job.Namespace)
	}
	g := job.TaskGroups[0]
	if *g.Name != "collector" || *g.Count != 1 || *g.Scaling.Min != 1 || *g.Scaling.Max != 5 {
		t.Errorf("group: %s count %d scaling %d..%d", *g.Name, *g.Count, *g.Scaling.Min, *g.Scaling.Max)
	}
	task := g.Tasks[0]
	wantArgs := []string{"collector", "--listen", ":${NOMAD_PORT_sflow}", "--metrics-listen", ":${NOMAD_PORT_metrics}", "--id", "demo-collector-${NOMAD_ALLOC_INDEX}"}
	if task.Driver != "raw_exec" || task.Config["command"] != "/usr/local/bin/elk" || !slices.Equal(task.Config["args"].([]string), wantArgs) {
		t.Errorf("task: %s %v", task.Driver, task.Config)
	}
	if task.Env["ELK_REGISTRY"] != "http://127.0.0.1:8500" || task.Env["NODE_IP"] != "${attr.unique.network.ip-address}" {
		t.Errorf("env: %v", task.Env)
	}
	if *task.Resources.CPU != 500 || *task.Resources.MemoryMB != 256 {
		t.Errorf("resources: %d %d", *task.Resources.CPU, *task.Resources.MemoryMB)
	}
	nw := g.Networks[0]
	if len(nw.ReservedPorts) != 1 || nw.ReservedPorts[0] != (api.Port{Label: "sflow", Value: 6343, IgnoreCollision: true}) ||
		len(nw.DynamicPorts) != 1 || nw.DynamicPorts[0].Label != "metrics" {
		t.Errorf("network: %+v", nw)
	}
	svc := g.Services[0]
	if svc.Name != "demo-collector" || svc.PortLabel != "metrics" || svc.Provider != "consul" || !slices.Equal(svc.Tags, []string{"app=demo", "entity=collector"}) {
		t.Errorf("service: %+v", svc)
	}
	if len(svc.Checks) != 1 || svc.Checks[0].Type != "http" || svc.Checks[0].Path != "/healthz" || svc.Checks[0].Interval != 5*time.Second {
		t.Errorf("checks: %+v", svc.Checks)
	}
	if *g.Update.HealthCheck != "checks" || *g.Update.AutoRevert {
		t.Errorf("update: %+v", g.Update)
	}

	// Images run with docker; the command becomes the container's.
	spec := demoSpec()
	spec.Image = "docker.elastic.co/elasticsearch/elasticsearch:8.15.3"
	spec.Command = nil
	job, err = Job(spec, JobOptions{ServiceProvider: "nomad"})
	if err != nil {
		t.Fatal(err)
	}
	task = job.TaskGroups[0].Tasks[0]
	if task.Driver != "docker" || task.Config["image"] != spec.Image || !slices.Equal(task.Config["ports"].([]string), []string{"sflow", "metrics"}) {
		t.Errorf("docker task: %+v", task.Config)
	}
	if job.TaskGroups[0].Networks[0].ReservedPorts[0].IgnoreCollision {
		t.Errorf("docker ports must not ignore collisions")
	}
	if job.TaskGroups[0].Services[0].Provider != "nomad" {
		t.Errorf("provider not applied")
	}

	// The hash ignores the count.
	a, b := demoSpec(), demoSpec()
	b.Count = 7
	if a.Hash() != b.Hash() {
		t.Errorf("spec hash depends on count")
	}
	b.Command = append(b.Command, "--x")
	if a.Hash() == b.Hash() {
		t.Errorf("spec hash ignores the command")
	}
}

func TestJobRejectsBadSpecs(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*target.Spec)
		want string
	}{
		{"no command", func(s *target.Spec) { s.Command = nil }, "a command or an image is required"},
		{"negative count", func(s *target.Spec) { s.Count = -1 }, "count -1 is negative"},
		{"check on unknown port", func(s *target.Spec) { s.Health.Port = "web" }, `health check port "web"`},
		{"unknown port placeholder", func(s *target.Spec) { s.Command = append(s.Command, "${port.web}") }, "${port.web} names no port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := demoSpec()
			tc.edit(&s)
			if _, err := Job(s, JobOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestApplyRegistersNewJob(t *testing.T) {
	r := newReplay(t).On("PUT /v1/jobs", "job-register")
	tg := newTarget(t, r)
	if err := tg.Apply(context.Background(), demoSpec()); err != nil {
		t.Fatal(err)
	}
	reqs := r.Requests("PUT /v1/jobs")
	if len(reqs) != 1 {
		t.Fatalf("%d register requests, want 1", len(reqs))
	}
	var body struct{ Job api.Job }
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if *body.Job.ID != "demo-collector" || *body.Job.TaskGroups[0].Count != 1 || body.Job.TaskGroups[0].Tasks[0].Driver != "raw_exec" {
		t.Errorf("registered %s", reqs[0].Body)
	}
}

// jobInfoWithSpec is the recorded job, marked as running spec.
func jobInfoWithSpec(t *testing.T, spec target.Spec) map[string]any {
	var job map[string]any
	if err := json.Unmarshal(loadFixture(t, "job-info").Body, &job); err != nil {
		t.Fatal(err)
	}
	job["Meta"].(map[string]any)[MetaSpec] = spec.Hash()
	return job
}

func TestApplyIsIdempotent(t *testing.T) {
	spec := demoSpec()
	r := newReplay(t).OnJSON("GET /v1/job/demo-collector", jobInfoWithSpec(t, spec))
	tg := newTarget(t, r)
	if err := tg.Apply(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Requests("PUT /v1/jobs")); n != 0 {
		t.Errorf("unchanged spec registered %d times", n)
	}
	// A changed spec is planned (for the log) and registered.
	spec.Command = append(spec.Command, "--verbose")
	r.On("PUT /v1/job/demo-collector/plan", "job-register-plan").On("PUT /v1/jobs", "job-register")
	if err := tg.Apply(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if len(r.Requests("PUT /v1/job/demo-collector/plan")) != 1 || len(r.Requests("PUT /v1/jobs")) != 1 {
		t.Errorf("changed spec: want one plan and one register, got %+v", r.All())
	}
}

func TestPlanDiff(t *testing.T) {
	r := newReplay(t).On("PUT /v1/job/demo-collector/plan", "job-register-plan")
	tg := newTarget(t, r)
	diff, err := tg.Plan(context.Background(), demoSpec())
	if err != nil {
		t.Fatal(err)
	}
	if diff != "group collector: place 1" {
		t.Errorf("plan of a new job:\n%s", diff)
	}
	var body struct{ Diff bool }
	json.Unmarshal(r.Requests("PUT /v1/job/demo-collector/plan")[0].Body, &body)
	if !body.Diff {
		t.Errorf("plan did not ask for a diff")
	}
}

func TestRegisterRejected(t *testing.T) {
	r := newReplay(t).On("PUT /v1/jobs", "job-register-invalid")
	err := newTarget(t, r).Apply(context.Background(), demoSpec())
	if err == nil || !strings.Contains(err.Error(), "job rejected") || !strings.Contains(err.Error(), "Task group count can't be negative") {
		t.Errorf("got %v, want Nomad's validation error", err)
	}
}

func TestStatus(t *testing.T) {
	r := newReplay(t).
		On("GET /v1/job/demo-collector", "job-info").
		On("GET /v1/allocations", "job-allocations").
		On("GET /v1/job/demo-collector/deployment", "job-deployment-latest")
	st, err := newTarget(t, r).Status(context.Background(), "demo", "collector")
	if err != nil {
		t.Fatal(err)
	}
	if st.Desired != 1 || st.Running != 1 || st.Healthy != 1 || st.Deploying || len(st.Instances) != 1 {
		t.Fatalf("status %+v", st)
	}
	in := st.Instances[0]
	if in.ID != "36964f0d-1884-2464-1a66-a3455f2870fa" || in.Index != 0 || in.State != "running" || !in.Healthy || in.Meta["node"] != "vm" {
		t.Errorf("instance %+v", in)
	}
	if q := r.Requests("GET /v1/allocations")[0].Query; q.Get("resources") != "true" || q.Get("filter") != `JobID == "demo-collector"` {
		t.Errorf("allocations query %v lacks resources=true or the job filter", q)
	}
}

func TestStatusAddressesAndPorts(t *testing.T) {
	r := newReplay(t).
		On("GET /v1/job/demo-collector", "job-info").
		On("GET /v1/allocations", "allocations-resources").
		On("GET /v1/job/demo-collector/deployment", "job-deployment-latest")
	st, err := newTarget(t, r).Status(context.Background(), "demo", "collector")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Instances) != 1 {
		t.Fatalf("status %+v", st)
	}
	if in := st.Instances[0]; in.Addr != "127.0.0.1" || in.Ports["http"] != 20280 || !in.Healthy {
		t.Errorf("instance %+v: want 127.0.0.1 with port http 20280", in)
	}
}

func TestStatusUnknownAndStopped(t *testing.T) {
	r := newReplay(t).On("GET /v1/job/demo-collector", "job-info-stopped")
	tg := newTarget(t, r)
	if _, err := tg.Status(context.Background(), "demo", "collector"); !errors.Is(err, target.ErrNotFound) {
		t.Errorf("stopped job: got %v, want ErrNotFound", err)
	}
	if _, err := tg.Status(context.Background(), "demo", "nope"); !errors.Is(err, target.ErrNotFound) {
		t.Errorf("unknown job: got %v, want ErrNotFound", err)
	}
	if err := tg.Scale(context.Background(), "demo", "nope", target.ScaleRequest{Count: 2}); !errors.Is(err, target.ErrNotFound) {
		t.Errorf("scale unknown job: got %v, want ErrNotFound", err)
	}
}

func TestScaleSendsReason(t *testing.T) {
	r := newReplay(t).
		On("GET /v1/job/demo-collector", "job-info").
		On("PUT /v1/job/demo-collector/scale", "job-scale")
	tg := newTarget(t, r)
	err := tg.Scale(context.Background(), "demo", "collector", target.ScaleRequest{
		Count: 3, Message: "elk policy: ingest 61234 samples/s > target", Meta: map[string]string{"elk.reason": "target-value"}})
	if err != nil {
		t.Fatal(err)
	}
	reqs := r.Requests("PUT /v1/job/demo-collector/scale")
	if len(reqs) != 1 {
		t.Fatalf("%d scale requests", len(reqs))
	}
	var got, want map[string]any
	json.Unmarshal(reqs[0].Body, &got)
	data, _ := readRequest("scale.json")
	json.Unmarshal(data, &want)
	for _, k := range []string{"Count", "Message", "Meta"} {
		if g, w := jsonOf(got[k]), jsonOf(want[k]); g != w {
			t.Errorf("scale request %s = %s, want %s (as recorded)", k, g, w)
		}
	}
	if g := got["Target"].(map[string]any); g["Group"] != "collector" || g["Job"] != "demo-collector" {
		t.Errorf("scale target %v", g)
	}
	// The recorded job's scaling block allows 1..5.
	if err := tg.Scale(context.Background(), "demo", "collector", target.ScaleRequest{Count: 9}); err == nil || !strings.Contains(err.Error(), "above the scaling maximum 5") {
		t.Errorf("scale above max: got %v", err)
	}
}

func readRequest(name string) ([]byte, error) {
	return readFile(fixtures + "/requests/" + name)
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestWaitHealthy(t *testing.T) {
	r := newReplay(t).
		On("GET /v1/job/demo-collector", "job-info").
		On("GET /v1/allocations", "job-allocations").
		On("GET /v1/job/demo-collector/deployment", "job-deployment-latest").
		OnJSON("GET /v1/job/demo-collector/evaluations", []any{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := newTarget(t, r).Wait(ctx, "demo", "collector"); err != nil {
		t.Fatal(err)
	}
}

func TestWaitAfterScale(t *testing.T) {
	var job map[string]any
	json.Unmarshal(loadFixture(t, "job-info").Body, &job)
	job["Version"] = 1
	tgs := job["TaskGroups"].([]any)
	tgs[0].(map[string]any)["Count"] = 3
	r := newReplay(t).
		OnJSON("GET /v1/job/demo-collector", job).
		On("GET /v1/allocations", "job-allocations", "job-allocations-after-scale").
		On("GET /v1/job/demo-collector/deployment", "job-deployment-latest").
		OnJSON("GET /v1/job/demo-collector/evaluations", []any{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := newTarget(t, r).Wait(ctx, "demo", "collector"); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Requests("GET /v1/allocations")); n < 2 {
		t.Errorf("wait returned after %d allocation reads; the first shows 1 of 3", n)
	}
}

func TestWaitFailsWithReason(t *testing.T) {
	var job map[string]any
	json.Unmarshal(loadFixture(t, "job-info").Body, &job)
	job["ID"], job["Name"] = "demo-failing", "demo-failing"
	job["Meta"] = map[string]string{"elk.app": "demo", "elk.entity": "failing"}
	for _, alloc := range []bool{true, false} {
		r := newReplay(t).
			OnJSON("GET /v1/job/demo-failing", job).
			On("GET /v1/job/demo-failing/deployment", "job-failing-deployment").
			OnJSON("GET /v1/job/demo-failing/evaluations", []any{})
		want := "allocation demo-failing.collector[0] failed: task collector: Exit Code: 1, Policy allows no restarts"
		if alloc {
			r.On("GET /v1/allocations", "job-failing-allocations")
		} else {
			// Without the allocations the deployment's own status says why.
			r.OnJSON("GET /v1/allocations", []any{})
			want = "deployment"
		}
		err := newTarget(t, r).Wait(context.Background(), "demo", "failing")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error containing %q", err, want)
		}
		if !alloc && !strings.Contains(err.Error(), "failed: Failed due to unhealthy allocations") {
			t.Errorf("deployment failure: %v", err)
		}
	}
}

func TestWaitPlacementFailure(t *testing.T) {
	r := newReplay(t).
		On("GET /v1/job/demo-collector", "job-info").
		OnJSON("GET /v1/allocations", []any{}).
		OnJSON("GET /v1/job/demo-collector/deployment", nil).
		OnJSON("GET /v1/job/demo-collector/evaluations", []map[string]any{{
			"ID": "e1", "JobModifyIndex": 26, "CreateIndex": 27, "Status": "complete",
			"FailedTGAllocs": map[string]any{"collector": map[string]any{"NodesEvaluated": 1, "NodesFiltered": 1,
				"ConstraintFiltered": map[string]int{"missing drivers": 1}}}}})
	err := newTarget(t, r).Wait(context.Background(), "demo", "collector")
	if err == nil || !strings.Contains(err.Error(), `cannot place collector: constraint "missing drivers" filtered 1 node(s)`) {
		t.Errorf("got %v", err)
	}
}

func TestWaitResourcesExhausted(t *testing.T) {
	r := newReplay(t).
		On("GET /v1/job/demo-collector", "job-info").
		OnJSON("GET /v1/allocations", []any{}).
		OnJSON("GET /v1/job/demo-collector/deployment", nil).
		OnJSON("GET /v1/job/demo-collector/evaluations", []map[string]any{{
			"ID": "e1", "JobModifyIndex": 26, "CreateIndex": 27, "Status": "blocked",
			"FailedTGAllocs": map[string]any{"collector": map[string]any{"NodesEvaluated": 1, "NodesExhausted": 1,
				"DimensionExhausted": map[string]int{"memory": 1}}}}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := newTarget(t, r).Wait(ctx, "demo", "collector")
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") || !strings.Contains(err.Error(), "cannot place collector: 1 node(s) exhausted (memory on 1)") {
		t.Errorf("got %v, want a timeout that says resources are exhausted", err)
	}
}

func TestList(t *testing.T) {
	r := newReplay(t).On("GET /v1/jobs", "jobs-list")
	tg := newTarget(t, r)
	got, err := tg.List(context.Background(), "demo")
	if err != nil || !slices.Equal(got, []string{"collector"}) {
		t.Errorf("list demo: %v %v", got, err)
	}
	q := r.Requests("GET /v1/jobs")[0].Query
	if q.Get("prefix") != "demo-" || q.Get("meta") != "true" {
		t.Errorf("list query %v", q)
	}
	// The prefix also matches app "demo-x"'s jobs; meta tells them apart.
	got, err = tg.List(context.Background(), "dem")
	if err != nil || len(got) != 0 {
		t.Errorf("list dem: %v %v", got, err)
	}
}

func TestRemove(t *testing.T) {
	r := newReplay(t).On("GET /v1/job/demo-collector", "job-info").On("DELETE /v1/job/demo-collector", "job-deregister-purge")
	tg := newTarget(t, r)
	if err := tg.Remove(context.Background(), "demo", "collector"); err != nil {
		t.Fatal(err)
	}
	if q := r.Requests("DELETE /v1/job/demo-collector")[0].Query; q.Get("purge") != "true" {
		t.Errorf("deregister query %v lacks purge=true", q)
	}
	if err := tg.Remove(context.Background(), "demo", "nope"); err != nil {
		t.Errorf("remove unknown: %v", err)
	}
}

// TestForeignJobIsNeverTouched: a job with the entity's ID whose elk.app /
// elk.entity meta names another owner (or none: a job elk did not make) is
// refused by Apply, Scale and Remove, and no write reaches Nomad.
func TestForeignJobIsNeverTouched(t *testing.T) {
	var recorded map[string]any
	if err := json.Unmarshal(loadFixture(t, "job-info").Body, &recorded); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		meta map[string]string
	}{
		{name: "another app's entity", meta: map[string]string{"elk.app": "demo-x", "elk.entity": "collector"}},
		{name: "same app, other entity", meta: map[string]string{"elk.app": "demo", "elk.entity": "other"}},
		{name: "not an elk job", meta: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := maps.Clone(recorded)
			job["Meta"] = tc.meta
			r := newReplay(t)
			for range 3 {
				r.OnJSON("GET /v1/job/demo-collector", job)
			}
			tg := newTarget(t, r)
			ctx := context.Background()
			if err := tg.Apply(ctx, demoSpec()); !errors.Is(err, ErrForeignJob) {
				t.Errorf("Apply over a foreign job: %v, want ErrForeignJob", err)
			}
			if err := tg.Scale(ctx, "demo", "collector", target.ScaleRequest{Count: 2}); !errors.Is(err, ErrForeignJob) {
				t.Errorf("Scale of a foreign job: %v, want ErrForeignJob", err)
			}
			if err := tg.Remove(ctx, "demo", "collector"); !errors.Is(err, ErrForeignJob) {
				t.Errorf("Remove of a foreign job: %v, want ErrForeignJob", err)
			}
			for _, q := range r.All() {
				if q.Method != http.MethodGet {
					t.Errorf("a write reached Nomad: %s %s", q.Method, q.Path)
				}
			}
		})
	}
}

// TestRemoveLeavesAJobItCannotRead: when Nomad fails to answer whose job
// it is, Remove reports it and deregisters nothing.
func TestRemoveLeavesAJobItCannotRead(t *testing.T) {
	r := newReplay(t)
	r.OnStatus("GET /v1/job/demo-collector", http.StatusInternalServerError, "rpc error: no leader")
	tg := newTarget(t, r)
	if err := tg.Remove(context.Background(), "demo", "collector"); err == nil {
		t.Error("Remove with the job unreadable: no error")
	}
	for _, q := range r.All() {
		if q.Method != http.MethodGet {
			t.Errorf("a write reached Nomad: %s %s", q.Method, q.Path)
		}
	}
}

// TestDashedNamesGetTheirOwnJobs: app "web" entity "api-db" and app
// "web-api" entity "db", which both used to be job "web-api-db" (so one's
// deploy overwrote the other and one's undeploy purged the other), get
// different jobs and services, and removing either leaves the other.
func TestDashedNamesGetTheirOwnJobs(t *testing.T) {
	spec := func(app, entity string) target.Spec {
		s := demoSpec()
		s.App, s.Entity = app, entity
		s.Tags = []string{"app=" + app, "entity=" + entity}
		s.Meta = map[string]string{"app": app, "entity": entity}
		return s
	}
	type pair struct{ app, entity, job string }
	web := pair{"web", "api-db", "web-api-db"} // no dash in the app: the name is unchanged
	webAPI := pair{"web-api", "db", "web--api-db"}
	for _, tc := range []struct {
		name          string
		remove, stays pair
	}{
		{"remove web-api/db", webAPI, web},
		{"remove web/api-db", web, webAPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, tg := newFakeTarget(t)
			ctx := context.Background()
			for _, p := range []pair{web, webAPI} {
				if err := tg.Apply(ctx, spec(p.app, p.entity)); err != nil {
					t.Fatalf("apply %s/%s: %v", p.app, p.entity, err)
				}
			}
			if got, want := f.ids(), []string{webAPI.job, web.job}; !slices.Equal(got, want) {
				t.Fatalf("jobs after deploying both: %v, want %v", got, want)
			}
			for _, p := range []pair{web, webAPI} {
				if m := f.meta(p.job); m[MetaApp] != p.app || m[MetaEntity] != p.entity {
					t.Errorf("job %s meta %v, want %s/%s", p.job, m, p.app, p.entity)
				}
				job, err := tg.Job(spec(p.app, p.entity))
				if err != nil {
					t.Fatal(err)
				}
				if *job.ID != p.job || job.TaskGroups[0].Services[0].Name != p.job {
					t.Errorf("%s/%s: job %s service %s, want both %s", p.app, p.entity, *job.ID, job.TaskGroups[0].Services[0].Name, p.job)
				}
				if got, err := tg.List(ctx, p.app); err != nil || !slices.Equal(got, []string{p.entity}) {
					t.Errorf("list %s: %v %v, want [%s]", p.app, got, err, p.entity)
				}
			}

			if err := tg.Remove(ctx, tc.remove.app, tc.remove.entity); err != nil {
				t.Fatalf("remove %s/%s: %v", tc.remove.app, tc.remove.entity, err)
			}
			if got := f.ids(); !slices.Equal(got, []string{tc.stays.job}) {
				t.Errorf("jobs after removing %s/%s: %v, want only %s", tc.remove.app, tc.remove.entity, got, tc.stays.job)
			}
			if !slices.Equal(f.deletes, []string{tc.remove.job}) {
				t.Errorf("purged %v, want only %s", f.deletes, tc.remove.job)
			}
			if got, err := tg.List(ctx, tc.stays.app); err != nil || !slices.Equal(got, []string{tc.stays.entity}) {
				t.Errorf("list %s after the removal: %v %v, want [%s]", tc.stays.app, got, err, tc.stays.entity)
			}
			if got, err := tg.List(ctx, tc.remove.app); err != nil || len(got) != 0 {
				t.Errorf("list %s after the removal: %v %v, want none", tc.remove.app, got, err)
			}
			// Removing again is a no-op and still leaves the other job.
			if err := tg.Remove(ctx, tc.remove.app, tc.remove.entity); err != nil {
				t.Errorf("second remove: %v", err)
			}
			if got := f.ids(); !slices.Equal(got, []string{tc.stays.job}) {
				t.Errorf("jobs after removing twice: %v", got)
			}
		})
	}
}

// TestOldJobIDs: a job an earlier elk registered under the plain
// "<app>-<entity>" of an app with a '-' is listed, removed, and replaced by
// the new job on the next Apply; a job under that ID whose meta names
// another entity (web/api-db's "web-api-db") is never touched.
func TestOldJobIDs(t *testing.T) {
	spec := demoSpec()
	spec.App, spec.Entity = "web-api", "db"
	ctx := context.Background()

	t.Run("listed, not found, replaced on apply", func(t *testing.T) {
		f, tg := newFakeTarget(t)
		f.put("web-api-db", "web-api", "db")
		if got, err := tg.List(ctx, "web-api"); err != nil || !slices.Equal(got, []string{"db"}) {
			t.Errorf("list web-api: %v %v, want [db] from the old job", got, err)
		}
		// Not found under its name, so a deploy recreates it.
		if _, err := tg.Status(ctx, "web-api", "db"); !errors.Is(err, target.ErrNotFound) {
			t.Errorf("status: %v, want ErrNotFound", err)
		}
		if err := tg.Apply(ctx, spec); err != nil {
			t.Fatal(err)
		}
		if got := f.ids(); !slices.Equal(got, []string{"web--api-db"}) {
			t.Errorf("jobs after apply: %v, want only web--api-db", got)
		}
		if !slices.Equal(f.deletes, []string{"web-api-db"}) {
			t.Errorf("purged %v, want the old web-api-db", f.deletes)
		}
		if got, err := tg.List(ctx, "web-api"); err != nil || !slices.Equal(got, []string{"db"}) {
			t.Errorf("list web-api after apply: %v %v, want [db] once", got, err)
		}
	})

	t.Run("removed", func(t *testing.T) {
		f, tg := newFakeTarget(t)
		f.put("web-api-db", "web-api", "db")
		if err := tg.Remove(ctx, "web-api", "db"); err != nil {
			t.Fatal(err)
		}
		if got := f.ids(); len(got) != 0 {
			t.Errorf("jobs after remove: %v, want none", got)
		}
		// Both names at once (an old and a new elk side by side): both go.
		f.put("web-api-db", "web-api", "db")
		if err := tg.Apply(ctx, spec); err != nil {
			t.Fatal(err)
		}
		f.put("web-api-db", "web-api", "db")
		if err := tg.Remove(ctx, "web-api", "db"); err != nil {
			t.Fatal(err)
		}
		if got := f.ids(); len(got) != 0 {
			t.Errorf("jobs after removing both: %v, want none", got)
		}
	})

	t.Run("another entity's job under the old ID", func(t *testing.T) {
		f, tg := newFakeTarget(t)
		f.put("web-api-db", "web", "api-db")
		if got, err := tg.List(ctx, "web-api"); err != nil || len(got) != 0 {
			t.Errorf("list web-api: %v %v, want none", got, err)
		}
		if err := tg.Apply(ctx, spec); err != nil {
			t.Fatal(err)
		}
		if err := tg.Remove(ctx, "web-api", "db"); err != nil {
			t.Fatal(err)
		}
		if got := f.ids(); !slices.Equal(got, []string{"web-api-db"}) || f.meta("web-api-db")[MetaApp] != "web" {
			t.Errorf("jobs: %v (web-api-db meta %v), want web/api-db's job untouched", got, f.meta("web-api-db"))
		}
		if !slices.Equal(f.deletes, []string{"web--api-db"}) {
			t.Errorf("purged %v, want only web-api/db's own web--api-db", f.deletes)
		}
	})
}

func TestJobRejectsEntityStartingWithDash(t *testing.T) {
	s := demoSpec()
	s.Entity = "-x"
	if _, err := Job(s, JobOptions{}); err == nil || !strings.Contains(err.Error(), `entity "-x" must not start with '-'`) {
		t.Errorf("got %v, want a refusal of the entity name", err)
	}
}
