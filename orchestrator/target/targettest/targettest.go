// Package targettest is the conformance suite every target.Target
// implementation runs: the same behaviour is asserted against the local
// process target and the Nomad target.
package targettest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/elk-project/elk/orchestrator/target"
)

// Harness is what an implementation hands the suite.
type Harness struct {
	// Target is the implementation under test.
	Target target.Target
	// Spec returns a runnable, long-lived entity for app/entity with the
	// given count whose instances become healthy (ideally through an HTTP
	// or TCP health check on a per-instance port).
	Spec func(app, entity string, count int) target.Spec
	// Failing, if set, returns an entity whose instances never become
	// healthy (e.g. a command that exits at once); Wait must fail for it.
	Failing func(app, entity string) target.Spec
	// Timeout bounds each Wait; zero means one minute.
	Timeout time.Duration
}

// Run runs the conformance suite. newHarness is called once per subtest
// and may register cleanups on t.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"ApplyWaitStatus", testApplyWaitStatus},
		{"ApplyIsIdempotent", testApplyIdempotent},
		{"ScaleUpAndDown", testScale},
		{"ListPerApp", testList},
		{"UnknownEntity", testUnknown},
		{"Remove", testRemove},
		{"WaitFailsForBrokenEntity", testWaitFails},
		{"ConcurrentEntities", testConcurrent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if h.Timeout == 0 {
				h.Timeout = time.Minute
			}
			tc.fn(t, h)
		})
	}
}

func appName(t *testing.T) string {
	return fmt.Sprintf("conf%04d", rand.IntN(10000))
}

func ctxFor(t *testing.T, h Harness) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func cleanupEntity(t *testing.T, h Harness, app, entity string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
		defer cancel()
		if err := h.Target.Remove(ctx, app, entity); err != nil {
			t.Errorf("cleanup: remove %s/%s: %v", app, entity, err)
		}
	})
}

func deploy(t *testing.T, h Harness, spec target.Spec) {
	t.Helper()
	ctx := ctxFor(t, h)
	cleanupEntity(t, h, spec.App, spec.Entity)
	if err := h.Target.Apply(ctx, spec); err != nil {
		t.Fatalf("apply %s/%s: %v", spec.App, spec.Entity, err)
	}
	if err := h.Target.Wait(ctx, spec.App, spec.Entity); err != nil {
		t.Fatalf("wait %s/%s: %v", spec.App, spec.Entity, err)
	}
}

// eventually polls the entity's status until ok accepts it.
func eventually(t *testing.T, h Harness, app, entity string, what string, ok func(target.Status) bool) target.Status {
	t.Helper()
	deadline := time.Now().Add(h.Timeout)
	var st target.Status
	var err error
	for time.Now().Before(deadline) {
		st, err = h.Target.Status(context.Background(), app, entity)
		if err == nil && ok(st) {
			return st
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s/%s: %s not reached within %v: status %+v, err %v", app, entity, what, h.Timeout, st, err)
	return st
}

func counts(n int) func(target.Status) bool {
	return func(st target.Status) bool {
		return st.Desired == n && st.Running == n && st.Healthy == n && len(st.Instances) == n
	}
}

func instanceIDs(st target.Status) []string {
	var ids []string
	for _, in := range st.Instances {
		ids = append(ids, in.ID)
	}
	slices.Sort(ids)
	return ids
}

func testApplyWaitStatus(t *testing.T, h Harness) {
	app := appName(t)
	deploy(t, h, h.Spec(app, "web", 2))
	st := eventually(t, h, app, "web", "2 healthy instances", counts(2))
	seen := map[string]bool{}
	for _, in := range st.Instances {
		if in.ID == "" {
			t.Errorf("instance %d has no id", in.Index)
		}
		if seen[in.ID] {
			t.Errorf("duplicate instance id %q", in.ID)
		}
		seen[in.ID] = true
		if !in.Healthy || in.State != "running" {
			t.Errorf("instance %s: state %q healthy %v, want running and healthy", in.ID, in.State, in.Healthy)
		}
	}
}

func testApplyIdempotent(t *testing.T, h Harness) {
	app := appName(t)
	spec := h.Spec(app, "web", 1)
	deploy(t, h, spec)
	before := eventually(t, h, app, "web", "1 healthy instance", counts(1))
	if err := h.Target.Apply(ctxFor(t, h), spec); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if err := h.Target.Wait(ctxFor(t, h), app, "web"); err != nil {
		t.Fatalf("wait after second apply: %v", err)
	}
	after := eventually(t, h, app, "web", "1 healthy instance", counts(1))
	if !slices.Equal(instanceIDs(before), instanceIDs(after)) {
		t.Errorf("applying the same spec replaced instances: before %v, after %v", instanceIDs(before), instanceIDs(after))
	}
}

func testScale(t *testing.T, h Harness) {
	app := appName(t)
	deploy(t, h, h.Spec(app, "web", 1))
	ctx := ctxFor(t, h)
	if err := h.Target.Scale(ctx, app, "web", target.ScaleRequest{Count: 3, Message: "conformance: up"}); err != nil {
		t.Fatalf("scale to 3: %v", err)
	}
	if err := h.Target.Wait(ctx, app, "web"); err != nil {
		t.Fatalf("wait after scale to 3: %v", err)
	}
	eventually(t, h, app, "web", "3 healthy instances", counts(3))
	if err := h.Target.Scale(ctx, app, "web", target.ScaleRequest{Count: 1, Message: "conformance: down"}); err != nil {
		t.Fatalf("scale to 1: %v", err)
	}
	eventually(t, h, app, "web", "1 healthy instance", counts(1))
	if err := h.Target.Scale(ctx, app, "missing", target.ScaleRequest{Count: 1}); !errors.Is(err, target.ErrNotFound) {
		t.Errorf("scale of an unknown entity: got %v, want target.ErrNotFound", err)
	}
}

func testList(t *testing.T, h Harness) {
	app, other := appName(t), appName(t)+"x"
	deploy(t, h, h.Spec(app, "a", 1))
	deploy(t, h, h.Spec(app, "b", 1))
	deploy(t, h, h.Spec(other, "c", 1))
	got, err := h.Target.List(context.Background(), app)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("list %s: got %v, want [a b]", app, got)
	}
	got, err = h.Target.List(context.Background(), "nosuchapp")
	if err != nil || len(got) != 0 {
		t.Errorf("list of an unknown app: got %v, %v; want empty, nil", got, err)
	}
}

func testUnknown(t *testing.T, h Harness) {
	if _, err := h.Target.Status(context.Background(), "nosuchapp", "nosuchentity"); !errors.Is(err, target.ErrNotFound) {
		t.Errorf("status of an unknown entity: got %v, want target.ErrNotFound", err)
	}
	if err := h.Target.Remove(context.Background(), "nosuchapp", "nosuchentity"); err != nil {
		t.Errorf("remove of an unknown entity: got %v, want nil", err)
	}
}

func testRemove(t *testing.T, h Harness) {
	app := appName(t)
	deploy(t, h, h.Spec(app, "web", 2))
	if err := h.Target.Remove(ctxFor(t, h), app, "web"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	deadline := time.Now().Add(h.Timeout)
	for {
		_, err := h.Target.Status(context.Background(), app, "web")
		if errors.Is(err, target.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after remove: got %v, want target.ErrNotFound", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	got, err := h.Target.List(context.Background(), app)
	if err != nil || len(got) != 0 {
		t.Errorf("list after remove: got %v, %v; want empty", got, err)
	}
}

func testWaitFails(t *testing.T, h Harness) {
	if h.Failing == nil {
		t.Skip("harness has no failing spec")
	}
	app := appName(t)
	spec := h.Failing(app, "broken")
	ctx := ctxFor(t, h)
	cleanupEntity(t, h, app, "broken")
	if err := h.Target.Apply(ctx, spec); err != nil {
		t.Fatalf("apply: %v", err)
	}
	start := time.Now()
	err := h.Target.Wait(ctx, app, "broken")
	if err == nil {
		t.Fatalf("wait for an entity that cannot become healthy returned nil")
	}
	t.Logf("wait failed as expected after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

func testConcurrent(t *testing.T, h Harness) {
	app := appName(t)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := range 3 {
		spec := h.Spec(app, fmt.Sprintf("e%d", i), 1)
		cleanupEntity(t, h, spec.App, spec.Entity)
		wg.Go(func() {
			ctx := ctxFor(t, h)
			if err := h.Target.Apply(ctx, spec); err != nil {
				errs <- err
				return
			}
			if err := h.Target.Wait(ctx, spec.App, spec.Entity); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent apply/wait: %v", err)
	}
	got, err := h.Target.List(context.Background(), app)
	if err != nil || len(got) != 3 {
		t.Errorf("list after concurrent applies: got %v, %v; want 3 entities", got, err)
	}
}
