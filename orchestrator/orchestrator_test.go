package orchestrator_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/elk-project/elk/orchestrator"
	"github.com/elk-project/elk/orchestrator/discovery/embedded"
	"github.com/elk-project/elk/orchestrator/target"
)

// fakeTarget runs entities in memory; every instance is healthy unless
// its entity is listed in fail, and Wait blocks while hold is set.
type fakeTarget struct {
	mu       sync.Mutex
	entities map[string]target.Spec
	calls    []string
	fail     map[string]error
	hold     map[string]chan struct{}
}

func newFake() *fakeTarget {
	return &fakeTarget{entities: map[string]target.Spec{}, fail: map[string]error{}, hold: map[string]chan struct{}{}}
}

func (f *fakeTarget) Name() string { return "fake" }

func (f *fakeTarget) Apply(ctx context.Context, s target.Spec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "apply "+s.Entity)
	f.entities[s.App+"/"+s.Entity] = s
	return nil
}

func (f *fakeTarget) Wait(ctx context.Context, app, entity string) error {
	f.mu.Lock()
	_, ok := f.entities[app+"/"+entity]
	err := f.fail[entity]
	hold := f.hold[entity]
	f.calls = append(f.calls, "wait "+entity)
	f.mu.Unlock()
	if !ok {
		return target.ErrNotFound
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return err
}

func (f *fakeTarget) Scale(ctx context.Context, app, entity string, r target.ScaleRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.entities[app+"/"+entity]
	if !ok {
		return target.ErrNotFound
	}
	s.Count = r.Count
	f.entities[app+"/"+entity] = s
	f.calls = append(f.calls, fmt.Sprintf("scale %s %d", entity, r.Count))
	return nil
}

func (f *fakeTarget) Status(ctx context.Context, app, entity string) (target.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.entities[app+"/"+entity]
	if !ok {
		return target.Status{}, target.ErrNotFound
	}
	st := target.Status{Desired: s.Count, Running: s.Count, Healthy: s.Count}
	if f.fail[entity] != nil {
		st.Healthy = 0
	}
	for i := range s.Count {
		st.Instances = append(st.Instances, target.Instance{ID: fmt.Sprintf("%s-%d", entity, i), Index: i, State: "running", Healthy: st.Healthy > 0})
	}
	return st, nil
}

func (f *fakeTarget) List(ctx context.Context, app string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.entities {
		if a, e, _ := strings.Cut(k, "/"); a == app {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (f *fakeTarget) Remove(ctx context.Context, app, entity string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.entities[app+"/"+entity]; ok {
		f.calls = append(f.calls, "remove "+entity)
	}
	delete(f.entities, app+"/"+entity)
	return nil
}

func (f *fakeTarget) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func entity(app, id string, count int, deps ...string) orchestrator.Entity {
	return orchestrator.Entity{
		Spec:      target.Spec{App: app, Entity: id, Type: "generic", Count: count, Command: []string{"run", id}},
		DependsOn: deps,
	}
}

// demo is c -> b -> a, declared dependents first.
func demo() orchestrator.App {
	return orchestrator.App{Name: "demo", Entities: []orchestrator.Entity{
		entity("demo", "c", 1, "b"), entity("demo", "b", 2, "a"), entity("demo", "a", 1),
	}}
}

func newEngine(t *testing.T, tg target.Target, dir string) (*orchestrator.Engine, *prometheus.Registry) {
	t.Helper()
	kv, err := embedded.NewDirKV(dir)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e, err := orchestrator.New(orchestrator.Config{WaitTimeout: 2 * time.Second}, orchestrator.Deps{Target: tg, KV: kv, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	return e, reg
}

func TestTopologicalOrder(t *testing.T) {
	tg := newFake()
	e, _ := newEngine(t, tg, t.TempDir())
	if _, err := e.Deploy(context.Background(), demo(), orchestrator.DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"apply a", "wait a", "wait a", "apply b", "wait b", "wait b", "apply c", "wait c"}
	if got := tg.takeCalls(); !slices.Equal(got, want) {
		t.Errorf("calls:\n got %v\nwant %v", got, want)
	}
}

func TestValidation(t *testing.T) {
	cases := []struct {
		name string
		app  orchestrator.App
		want []string
	}{
		{"cycle", orchestrator.App{Name: "x", Entities: []orchestrator.Entity{entity("x", "a", 1, "b"), entity("x", "b", 1, "a")}}, []string{"cycle"}},
		{"dangling", orchestrator.App{Name: "x", Entities: []orchestrator.Entity{entity("x", "a", 1, "zzz")}}, []string{`unknown entity "zzz"`}},
		{"negative and duplicate", orchestrator.App{Name: "x", Entities: []orchestrator.Entity{entity("x", "a", -1), entity("x", "a", 1)}}, []string{"negative count", "defined twice"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := newFake()
			e, _ := newEngine(t, tg, t.TempDir())
			_, err := e.Deploy(context.Background(), tc.app, orchestrator.DeployOptions{})
			if !errors.Is(err, orchestrator.ErrInvalid) {
				t.Fatalf("deploy: %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if c := tg.takeCalls(); len(c) != 0 {
				t.Errorf("an invalid app reached the target: %v", c)
			}
		})
	}
}

func TestRollbackOnFailure(t *testing.T) {
	tg := newFake()
	tg.fail["c"] = errors.New("instance 0 keeps failing: exited: exit status 2")
	e, _ := newEngine(t, tg, t.TempDir())
	var events []orchestrator.Event
	_, err := e.Deploy(context.Background(), demo(), orchestrator.DeployOptions{Progress: func(ev orchestrator.Event) { events = append(events, ev) }})
	if !errors.Is(err, orchestrator.ErrDeployFailed) {
		t.Fatalf("deploy: %v, want ErrDeployFailed", err)
	}
	for _, w := range []string{"failed at entity c", "exit status 2", "rolled back: removed c, b, a"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	if l, _ := tg.List(context.Background(), "demo"); len(l) != 0 {
		t.Errorf("entities left after rollback: %v", l)
	}
	if _, err := e.Status(context.Background(), "demo"); !errors.Is(err, orchestrator.ErrNotFound) {
		t.Errorf("status after a rolled back first deploy: %v, want ErrNotFound", err)
	}
	if !slices.ContainsFunc(events, func(ev orchestrator.Event) bool { return ev.Action == "rollback" && ev.Entity == "a" }) {
		t.Errorf("no rollback event for a: %v", events)
	}

	// A failing change of an existing app restores the previous spec and
	// removes only what the deploy added.
	delete(tg.fail, "c")
	if _, err := e.Deploy(context.Background(), demo(), orchestrator.DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	app := demo()
	app.Entities[1].Spec.Command = []string{"run", "b", "--new"}
	app.Entities = append(app.Entities, entity("demo", "d", 1, "b"))
	tg.fail["d"] = errors.New("boom")
	_, err = e.Deploy(context.Background(), app, orchestrator.DeployOptions{})
	if err == nil || !strings.Contains(err.Error(), "removed d") || !strings.Contains(err.Error(), "restored b") {
		t.Fatalf("deploy: %v, want d removed and b restored", err)
	}
	if l, _ := tg.List(context.Background(), "demo"); !slices.Equal(l, []string{"a", "b", "c"}) {
		t.Errorf("entities after rollback: %v, want a b c", l)
	}
	if s := tg.entities["demo/b"]; slices.Contains(s.Command, "--new") || s.Count != 2 {
		t.Errorf("b after rollback: %+v, want the old command and count 2", s)
	}
}

func TestIdempotentRedeployAndPlan(t *testing.T) {
	tg := newFake()
	e, _ := newEngine(t, tg, t.TempDir())
	ctx := context.Background()
	if _, err := e.Deploy(ctx, demo(), orchestrator.DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	tg.takeCalls()
	res, err := e.Deploy(ctx, demo(), orchestrator.DeployOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Plan.Empty() {
		t.Errorf("plan of an unchanged redeploy: %+v", res.Plan)
	}
	for _, c := range tg.takeCalls() {
		if !strings.HasPrefix(c, "wait ") {
			t.Errorf("unchanged redeploy changed the target: %s", c)
		}
	}

	app := demo()
	app.Entities = slices.DeleteFunc(app.Entities, func(en orchestrator.Entity) bool { return en.ID() == "c" })
	app.Entities[0].Spec.Command = []string{"run", "b", "--v2"}
	app.Entities[0].Spec.Count = 3
	app.Entities = append(app.Entities, entity("demo", "d", 1, "a"))
	res, err = e.Deploy(ctx, app, orchestrator.DeployOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range res.Plan.Changes {
		got = append(got, fmt.Sprintf("%s:%s:%d:%s", c.Entity, c.Action, c.Count, strings.Join(c.Diff, ",")))
	}
	want := []string{"a:unchanged:1:", "b:change:3:command,count 2 -> 3", "d:add:1:", "c:remove:0:"}
	if !slices.Equal(got, want) {
		t.Errorf("plan:\n got %v\nwant %v", got, want)
	}
	if c := tg.takeCalls(); len(c) != 0 {
		t.Errorf("dry run touched the target: %v", c)
	}
	if _, err := e.Deploy(ctx, app, orchestrator.DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	if l, _ := tg.List(ctx, "demo"); !slices.Equal(l, []string{"a", "b", "d"}) {
		t.Errorf("entities after the changed deploy: %v", l)
	}
}

func TestCountsOwnedByOrchestratorAndDrift(t *testing.T) {
	tg := newFake()
	e, reg := newEngine(t, tg, t.TempDir())
	ctx := context.Background()
	if _, err := e.Deploy(ctx, demo(), orchestrator.DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.Scale(ctx, "demo", "b", 5, orchestrator.ScaleOptions{Source: orchestrator.SourcePolicy, Reason: "cpu high"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Deploy(ctx, demo(), orchestrator.DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := e.Status(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	b := st.Entities[1]
	if b.ID != "b" || b.Desired != 5 || b.Running != 5 || b.CountSource != "policy" || b.Drift != "" {
		t.Errorf("b after redeploy: %+v, want the policy's count 5 kept without drift", b)
	}
	// Someone scales behind the orchestrator's back.
	tg.Scale(ctx, "demo", "b", target.ScaleRequest{Count: 1})
	tg.Remove(ctx, "demo", "c")
	tg.Apply(ctx, target.Spec{App: "demo", Entity: "stray", Count: 1})
	st, _ = e.Status(ctx, "demo")
	drift := map[string]string{}
	for _, es := range st.Entities {
		drift[es.ID] = es.Drift
	}
	if !strings.Contains(drift["b"], "count 1, orchestrator wants 5") || !strings.Contains(drift["c"], "missing") || !strings.Contains(drift["stray"], "unmanaged") {
		t.Errorf("drift: %v", drift)
	}
	// A redeploy recreates the missing entity; counts in the blueprint
	// that change override the stored count.
	app := demo()
	app.Entities[1].Spec.Count = 4
	res, err := e.Deploy(ctx, app, orchestrator.DeployOptions{})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{}
	for _, c := range res.Plan.Changes {
		actions[c.Entity] = c.Action
	}
	if actions["c"] != orchestrator.ActionRecreate || actions["b"] != orchestrator.ActionScale {
		t.Errorf("plan actions %v: want c recreate, b scale", actions)
	}
	if n, _, _ := e.Current(ctx, "demo", "b"); n != 4 {
		t.Errorf("count of b after the blueprint changed it: %d, want 4", n)
	}
	// Metrics pass promlint.
	go e.Run(ctx)
	time.Sleep(100 * time.Millisecond)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"elk_orchestrator_entity_desired_instances", "elk_orchestrator_entity_healthy_instances", "elk_orchestrator_operations_total", "elk_orchestrator_leader"} {
		if !names[n] {
			t.Errorf("metric %s missing", n)
		}
	}
}

func TestInterruptedDeployResumes(t *testing.T) {
	tg := newFake()
	dir := t.TempDir()
	e, _ := newEngine(t, tg, dir)
	tg.hold["b"] = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := e.Deploy(ctx, demo(), orchestrator.DeployOptions{})
		done <- err
	}()
	for !slices.Contains(tg.takeCalls(), "wait b") {
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // the server stops in the middle of the deploy
	if err := <-done; err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("deploy: %v, want interrupted", err)
	}
	if l, _ := tg.List(context.Background(), "demo"); !slices.Equal(l, []string{"a", "b"}) {
		t.Fatalf("entities after the interruption: %v (no rollback expected)", l)
	}
	close(tg.hold["b"])
	e2, _ := newEngine(t, tg, dir)
	if _, err := e2.Deploy(context.Background(), demo(), orchestrator.DeployOptions{}); !errors.Is(err, orchestrator.ErrBusy) {
		t.Errorf("deploy while a journal is pending: %v, want ErrBusy", err)
	}
	if err := e2.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l, _ := tg.List(context.Background(), "demo"); !slices.Equal(l, []string{"a", "b", "c"}) {
		t.Fatalf("entities after resume: %v", l)
	}
	st, err := e2.Status(context.Background(), "demo")
	if err != nil || st.Deploying != nil {
		t.Fatalf("status after resume: %+v, %v", st, err)
	}
	for _, es := range st.Entities {
		if es.Healthy != es.Desired || es.Drift != "" {
			t.Errorf("entity %+v not converged", es)
		}
	}
	if err := e2.Undeploy(context.Background(), "demo", nil); err != nil {
		t.Fatal(err)
	}
	// Entities the target runs for an app the orchestrator forgot show up
	// as unmanaged, and undeploy removes them.
	tg.Apply(context.Background(), target.Spec{App: "ghost", Entity: "x", Count: 1})
	if st, err := e2.Status(context.Background(), "ghost"); err != nil || len(st.Entities) != 1 || !strings.Contains(st.Entities[0].Drift, "unmanaged") {
		t.Errorf("status of an unknown app with entities: %+v, %v", st, err)
	}
	if err := e2.Undeploy(context.Background(), "ghost", nil); err != nil {
		t.Errorf("undeploy of an unknown app with entities: %v", err)
	}
	if l, _ := tg.List(context.Background(), "demo"); len(l) != 0 {
		t.Errorf("entities after undeploy: %v", l)
	}
	if err := e2.Undeploy(context.Background(), "demo", nil); !errors.Is(err, orchestrator.ErrNotFound) {
		t.Errorf("second undeploy: %v, want ErrNotFound", err)
	}
}

func TestUndeployStopsADeployInFlight(t *testing.T) {
	tg := newFake()
	e, _ := newEngine(t, tg, t.TempDir())
	tg.hold["b"] = make(chan struct{}) // b never becomes healthy
	done := make(chan error)
	go func() {
		_, err := e.Deploy(context.Background(), demo(), orchestrator.DeployOptions{})
		done <- err
	}()
	for !slices.Contains(tg.takeCalls(), "wait b") {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := e.Undeploy(context.Background(), "demo", nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("undeploy waited %v for the deploy", d)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "being undeployed") {
		t.Errorf("deploy: %v, want it stopped by the undeploy", err)
	}
	if l, _ := tg.List(context.Background(), "demo"); len(l) != 0 {
		t.Errorf("entities after undeploy: %v", l)
	}
	if _, err := e.Status(context.Background(), "demo"); !errors.Is(err, orchestrator.ErrNotFound) {
		t.Errorf("status after undeploy: %v, want ErrNotFound", err)
	}
	// Nothing left to resume.
	if err := e.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l, _ := tg.List(context.Background(), "demo"); len(l) != 0 {
		t.Errorf("resume brought entities back: %v", l)
	}
}

// TestIndependentEntitiesStartTogether: entities whose dependencies are
// met start concurrently, and a failure stops its siblings.
func TestIndependentEntitiesStartTogether(t *testing.T) {
	tg := newFake()
	e, _ := newEngine(t, tg, t.TempDir())
	app := orchestrator.App{Name: "par", Entities: []orchestrator.Entity{
		entity("par", "es", 1), entity("par", "kafka", 1), entity("par", "ingest", 1, "es", "kafka"),
	}}
	tg.hold["es"], tg.hold["kafka"] = make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := e.Deploy(context.Background(), app, orchestrator.DeployOptions{})
		done <- err
	}()
	var calls []string
	deadline := time.Now().Add(5 * time.Second)
	for !(slices.Contains(calls, "wait es") && slices.Contains(calls, "wait kafka")) {
		if time.Now().After(deadline) {
			t.Fatalf("es and kafka not waited on together: %v", calls)
		}
		calls = append(calls, tg.takeCalls()...)
		time.Sleep(10 * time.Millisecond)
	}
	if slices.Contains(calls, "apply ingest") {
		t.Fatalf("ingest applied before its dependencies were healthy: %v", calls)
	}
	close(tg.hold["es"])
	close(tg.hold["kafka"])
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// kafka fails while es hangs: the deploy fails at once with kafka's
	// reason instead of waiting for es's timeout.
	tg2 := newFake()
	e2, _ := newEngine(t, tg2, t.TempDir())
	tg2.hold["es"] = make(chan struct{})
	tg2.fail["kafka"] = errors.New("broker exited")
	start := time.Now()
	_, err := e2.Deploy(context.Background(), app, orchestrator.DeployOptions{})
	if err == nil || !strings.Contains(err.Error(), "failed at entity kafka: broker exited") {
		t.Fatalf("deploy: %v, want kafka's failure", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the failing wave took %v: siblings were not stopped", d)
	}
	if l, _ := tg2.List(context.Background(), "par"); len(l) != 0 {
		t.Errorf("entities after rollback: %v", l)
	}
}
